"""Proof materials: the applicant's upload page, and the files themselves for those who may see them.

The applicant uploads and deletes while the application is editable. The page works as plain forms (one per kind,
several files at once); its script sends each chosen file at once to the same address and asks for JSON back, so a
file chosen is never left behind when the applicant moves on. 下一步 is a POST that refuses while anything required
is missing. A file is served to the applicant, to staff
who see a task of the case the application became (as on their task page), and to officials who read that case;
another citizen gets 404, other staff 403. Staff and officials opening a full-size file are written to the case's
audit trail.
"""

from pathlib import PurePosixPath

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.wrappers import Response

from engine.models import HumanTaskModel
from forms.application import ActionForm
from forms.base import normalized
from forms.materials import DeleteForm, UploadForm
from processes.jurisdiction import may_read_case, may_see_task
from processes.roles import STAFF_ROLES
from services import applications, audit, materials
from services.accounts import UserModel
from services.applications import DRAFT, ApplicationModel
from services.cases import CaseModel
from services.db import db
from services.filestore import FileStore, store_for
from services.materials import KINDS, MaterialModel
from services.uploads import PDF, UploadLimits, UploadRefused

bp = Blueprint("materials", __name__, template_folder="templates", static_folder="static",
               static_url_path="/materials-static")

# Served files are data, never a page: no scripts, no plugins, no same-origin rights even if a browser sniffs.
FILE_POLICY = "default-src 'none'; sandbox"


def _account() -> UserModel:
    return current_user.account


def _store() -> FileStore:
    return store_for(current_app.config)


def _limits() -> UploadLimits:
    config = current_app.config
    return UploadLimits(max_bytes=config["UPLOAD_MAX_MB"] * 1024 * 1024,
                        max_pixels=config["UPLOAD_MAX_MEGAPIXELS"] * 1_000_000)


def _own_application(token: str, *, for_update: bool = False) -> ApplicationModel:
    # Another citizen's application (and staff, who have none) gets 404: tokens are not probed here.
    application = applications.of_applicant(db.session, _account().id, token, for_update=for_update)
    if application is None:
        abort(404)
    return application


# -- the applicant's page --------------------------------------------------------------------------------------------


def _by_kind(application: ApplicationModel) -> dict[str, list[MaterialModel]]:
    uploaded: dict[str, list[MaterialModel]] = {}
    for material in materials.of_application(db.session, application):
        uploaded.setdefault(material.kind, []).append(material)
    return uploaded


def _missing(application: ApplicationModel, uploaded: dict[str, list[MaterialModel]]) -> list[str]:
    """Return what is still required, from the materials `_by_kind` has just read."""
    return materials.missing_materials(db.session, application, [m for kept in uploaded.values() for m in kept])


def _page(application: ApplicationModel, form: UploadForm, failed_kind: str | None = None,
          refused_next: list[str] | None = None):
    uploaded = _by_kind(application)
    return render_template(
        "materials/upload.html", application=application, form=form, delete_form=DeleteForm(),
        kinds=materials.shown_materials(application.answers or {}, set(uploaded)),
        uploaded=uploaded, missing=_missing(application, uploaded), failed_kind=failed_kind,
        refused_next=refused_next, editable=materials.editable(db.session, application),
        case_number=case.case_number if (case := db.session.get(CaseModel, application.case_id or 0)) else None,
        max_per_kind=current_app.config["UPLOAD_MAX_PER_KIND"], max_mb=current_app.config["UPLOAD_MAX_MB"],
    )


def _wants_json() -> bool:
    """Return whether the page's script sent the request (it asks for JSON; a plain form post never does)."""
    return request.accept_mimetypes.best == "application/json"


@bp.get("/apply/<token>/materials")
@login_required
def upload_page(token: str):
    """Show what the application needs, what is uploaded, and a form per kind."""
    return _page(_own_application(token), UploadForm())


@bp.post("/apply/<token>/materials")
@login_required
def upload(token: str):
    """Take the files chosen for one kind; a refused file is not kept and the page says why, beside its kind.

    Each file stands alone: the good ones of a pick are kept even when another is refused. The script sends one
    file per request and gets JSON: the new list item, the count of the kind and what is still missing.
    """
    application = _own_application(token, for_update=True)
    form = UploadForm()
    kind = form.kind.data if form.kind.data in KINDS else None
    if not form.validate_on_submit():
        if _wants_json():
            return jsonify(error=_first_error(form)), 400
        return _page(application, form, kind)
    kept, refusals = [], []
    files = [f for f in request.files.getlist(form.file.name) if f.filename] or [form.file.data]
    for chosen in files:
        name = _shown_name(chosen.filename)
        try:
            kept.append(materials.add_material(
                db.session, _store(), application, kind, chosen.read(), name,
                limits=_limits(), max_per_kind=current_app.config["UPLOAD_MAX_PER_KIND"]))
        except UploadRefused as exc:
            refusals.append(f"{name}：{exc.message}" if len(files) > 1 else exc.message)
    if _wants_json():
        return _json_result(application, kind, kept, refusals)
    if refusals:
        form.file.errors = refusals
        if kept:
            flash(f"已上传 {len(kept)} 个文件：{KINDS[kind].label}", "success")
        return _page(application, form, kind)
    flash(f"已上传：{KINDS[kind].label}" + (f"（{len(kept)} 个文件）" if len(kept) > 1 else ""), "success")
    return redirect(url_for("materials.upload_page", token=token, _anchor=f"kind-{kind}"))


def _first_error(form: UploadForm) -> str:
    return next((error for errors in form.errors.values() for error in errors), "上传失败，请刷新页面后重试")


def _json_result(application: ApplicationModel, kind: str, kept: list[MaterialModel], refusals: list[str]):
    """Answer the page's script: the kept file as the list item the page shows, or why it was refused."""
    if refusals:
        # 422 rolls the request back; the refused file was never kept.
        return jsonify(error="；".join(refusals)), 422
    uploaded = _by_kind(application)
    return jsonify(
        items=[render_template("materials/_item.html", m=m, application=application, delete_form=DeleteForm(),
                               alt=KINDS[kind].label, editable=True) for m in kept],
        count=len(uploaded.get(kind, [])), missing=_missing(application, uploaded),
    )


@bp.post("/apply/<token>/materials/next")
@login_required
def next_step(token: str):
    """Go on to the review, or stay with the list of what is still required (checked here, not only in the page)."""
    application = _own_application(token)
    if application.status != DRAFT:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    if missing := materials.missing_materials(db.session, application):
        return _page(application, UploadForm(formdata=None), refused_next=missing), 422
    return redirect(url_for("citizen.review", token=token))


def _shown_name(filename: str | None) -> str:
    """Return the name of the uploaded file without any folder (kept only to show it back to its owner)."""
    return normalized(PurePosixPath((filename or "").replace("\\", "/")).name) or ""


@bp.post("/apply/<token>/materials/<material_token>/delete")
@login_required
def delete(token: str, material_token: str):
    """Delete one uploaded file of the application."""
    application = _own_application(token, for_update=True)
    if not DeleteForm().validate_on_submit():
        abort(400)
    try:
        label = materials.remove_material(db.session, _store(), application, material_token)
    except LookupError:
        abort(404)
    except UploadRefused as exc:
        flash(exc.message, "error")
    else:
        flash(f"已删除一份「{label}」", "success")
    return redirect(url_for("materials.upload_page", token=token))


# -- the files -------------------------------------------------------------------------------------------------------


def _readable(token: str) -> tuple[MaterialModel, CaseModel | None]:
    """Return a material the signed-in user may see, and the case to audit a staff view on (None for the owner)."""
    found = materials.by_token(db.session, token)
    if found is None:
        abort(404)
    material, application = found
    account = _account()
    if application.applicant_id == account.id:
        return material, None
    if account.role not in STAFF_ROLES:
        abort(404)
    case = db.session.get(CaseModel, application.case_id) if application.case_id is not None else None
    if case is None:
        abort(403)  # a draft is its applicant's alone
    tasks = db.session.scalars(select(HumanTaskModel).where(HumanTaskModel.business_key == case.case_number))
    if not (any(may_see_task(account, task) for task in tasks) or may_read_case(account, case)):
        abort(403)
    return material, case


def _send(name: str, content_type: str, download_name: str | None = None) -> Response:
    try:
        stored = _store().open(name)  # streamed from the store: disk or object store, never a public address
    except FileNotFoundError:
        abort(404)
    response = send_file(stored, mimetype=content_type, as_attachment=download_name is not None,
                         download_name=download_name, conditional=False, etag=False, max_age=None)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = FILE_POLICY
    return response


@bp.get("/materials/<token>")
@login_required
def view(token: str):
    """Serve a material at full size; a PDF always as a download. Staff views are audited."""
    material, case = _readable(token)
    if case is not None:
        audit.record(db.session, _account().actor, "material_viewed", instance_id=case.instance_id,
                     name=material.label, material=material.token)
    download_name = f"{material.label}.pdf" if material.content_type == PDF else None
    return _send(material.stored_name, material.content_type, download_name)


@bp.get("/materials/<token>/thumb")
@login_required
def thumb(token: str):
    """Serve a material's thumbnail (photos only)."""
    material, _case = _readable(token)
    if material.thumbnail_name is None:
        abort(404)
    return _send(material.thumbnail_name, "image/jpeg")
