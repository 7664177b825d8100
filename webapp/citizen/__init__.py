"""The citizen's pages: the notice, the choice of type, the application form, submission, progress and lookup."""

from functools import wraps

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from forms.application import MAX_CHILDREN, ActionForm, ApplicationForm, NoticeForm
from forms.dynamic import DynamicForm, form_class, html_name
from forms.tracking import TrackForm
from processes import applying, casework, withdrawal
from processes.applying import ApplicationRefused
from processes.casework import CaseworkError, Forbidden
from processes.forms import decision_field
from processes.roles import CITIZEN
from processes.task_forms import task_form
from services import applications, cases, divisions, rate_limits
from services.accounts import UserModel
from services.db import db, retry_transaction
from services.filestore import store_for
from webapp.citizen import progress
from webapp.confirm import ask_confirmation, confirmed
from webapp.throttling import client_address

bp = Blueprint("citizen", __name__, template_folder="templates", static_folder="static",
               static_url_path="/citizen-static")
NOTICE_READ = "application_notice_read"


def citizen_required(view):
    """Let only signed-in citizens in; staff accounts get 403 (they do not apply)."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.account.role != CITIZEN:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _me() -> UserModel:
    return current_user.account


def _draft(token: str) -> applications.ApplicationModel:
    """Return the signed-in citizen's draft; anyone else's, or a submitted one, is 404."""
    application = applications.of_applicant(db.session, _me().id, token)
    if application is None or application.status != applications.DRAFT:
        abort(404)
    return application


def _own_case(case_number: str) -> cases.CaseModel:
    case = cases.get_case(db.session, case_number)
    if case is None or case.applicant_id != _me().id:
        abort(404)
    return case


@bp.route("/apply", methods=["GET", "POST"])
@citizen_required
def notice():
    """Show the 申报须知; confirming it opens the choice of type."""
    form = NoticeForm()
    if form.validate_on_submit():
        session[NOTICE_READ] = True
        return redirect(url_for("citizen.types"))
    return render_template("citizen/notice.html", form=form)


@bp.get("/apply/types")
@citizen_required
def types():
    """Offer the types the active diagrams accept, and the citizen's unfinished drafts."""
    if not session.get(NOTICE_READ):
        flash("请先阅读申报须知并确认", "warning")
        return redirect(url_for("citizen.notice"))
    return render_template("citizen/types.html", offered=casework.offered_types(db.session), labels=cases.CASE_TYPES,
                           drafts=applications.drafts(db.session, _me().id), form=ActionForm())


@bp.post("/apply/new/<case_type>")
@citizen_required
def new(case_type: str):
    """Open a draft of `case_type`, filled with what the system already knows."""
    if not session.get(NOTICE_READ):
        return redirect(url_for("citizen.notice"))
    if case_type not in casework.offered_types(db.session):
        flash("当前不受理该类型的申请，请重新选择", "error")
        return redirect(url_for("citizen.types"))
    application = applications.start(db.session, _me().id, case_type)
    application.answers = applying.stored(applying.prefill(db.session, _me()))
    return redirect(url_for("citizen.application", token=application.token))


def _form_page(template: str, form: ApplicationForm, case_type: str, **context):
    answers = {"woman": form.woman.data, "man": form.man.data}
    # Only the applicant's own earlier cases: two ID numbers typed into a form must not reveal anyone else's.
    known = [earlier for earlier in applying.couple_cases(db.session, answers["woman"]["id_number"] or "",
                                                          answers["man"]["id_number"] or "", context.get("case"))
             if earlier.applicant_id == _me().id]
    return render_template(template, form=form, case_type=case_type, type_label=cases.CASE_TYPES[case_type],
                           known=known, max_children=MAX_CHILDREN, **context)


def _refused(form: ApplicationForm, refused: ApplicationRefused) -> None:
    """Show each database rule's message on its field, or above the form when it concerns several fields."""
    for name, message in refused.problems.items():
        side, _, field_name = name.partition("-")
        subform = getattr(form, side, None) if field_name else None
        field = getattr(subform.form, field_name, None) if subform is not None else None
        (field.errors if field is not None else form.form_errors).append(message)


def _edited(form: ApplicationForm) -> ApplicationForm | None:
    """Apply an add/remove-child button; return the form to show again, or None for save/next."""
    action = request.form.get("action", "")
    if action == "add_child":
        if len(form.children) < MAX_CHILDREN:
            form.children.append_entry()
        return form
    if action.startswith("remove_child-") and action[13:].isdigit():
        data = form.data
        index = int(action[13:])
        if index < len(data["children"]):
            del data["children"][index]
        return ApplicationForm(formdata=None, data=data)
    return None


@bp.route("/apply/<token>", methods=["GET", "POST"])
@citizen_required
def application(token: str):
    """Fill in the application; save it as a draft at any time, go on to the materials once it is complete."""
    draft = _draft(token)
    if request.method == "GET":
        form = ApplicationForm(formdata=None, data=applying.loaded(draft.answers))
        return _form_page("citizen/application.html", form, draft.case_type, draft=draft)
    form = ApplicationForm()
    shown = _edited(form)
    draft.answers = applying.stored(form.data)
    if shown is not None:
        return _form_page("citizen/application.html", shown, draft.case_type, draft=draft)
    if request.form.get("action") == "save":
        flash("草稿已保存，可随时回来继续填写", "success")
        return redirect(url_for("citizen.application", token=token))
    if form.validate():
        draft.answers = applying.stored(form.data)  # with what validation took from the ID numbers (birth dates)
        try:
            applying.check(db.session, _me(), draft.case_type, form.data)
        except ApplicationRefused as refused:
            _refused(form, refused)
        else:
            return redirect(url_for("materials.upload_page", token=token))
    flash("申请信息有误，请按提示修改（已保存为草稿）", "error")
    return _form_page("citizen/application.html", form, draft.case_type, draft=draft)


def _validated(answers: dict) -> ApplicationForm:
    """Rebuild the form from stored answers and validate it again (the answers may have been saved as a draft)."""
    form = ApplicationForm(formdata=None, data=applying.loaded(answers), meta={"csrf": False})
    form.validate()
    return form


@bp.get("/apply/<token>/review")
@citizen_required
def review(token: str):
    """Show everything once more before submission, with what is still missing."""
    draft = _draft(token)
    form = _validated(draft.answers)
    return render_template("citizen/review.html", draft=draft, answers=applying.loaded(draft.answers),
                           form_ok=not form.errors, missing=progress.missing_materials(draft),
                           uploaded=progress.uploaded_materials(draft),
                           place=progress.place, type_label=cases.CASE_TYPES[draft.case_type], action=ActionForm())


@bp.post("/apply/<token>/submit")
@citizen_required
@retry_transaction
def submit(token: str):
    """Submit once: a double click or a retried request shows the same case."""
    # Locked before anything is read from it: a second click waits for the first and then finds its case.
    application = applications.of_applicant(db.session, _me().id, token, for_update=True)
    if application is None:
        abort(404)
    if application.status == applications.SUBMITTED:
        return _already_submitted(db.session.get(cases.CaseModel, application.case_id))
    form = _validated(application.answers)
    if (unready := _unready(application, form)) is not None:
        return unready
    try:
        case, made = applying.submit_once(db.session, _me(), token, form.data)
    except ApplicationRefused as refused:
        db.session.rollback()
        flash(str(refused), "error")
        return redirect(url_for("citizen.application", token=token))
    except CaseworkError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("citizen.review", token=token))
    if not made:
        return _already_submitted(case)
    flash(f"申请已提交，受理编号 {case.case_number}。办理结果将以短信通知。", "success")
    return redirect(url_for("citizen.case", case_number=case.case_number))


def _unready(application: applications.ApplicationModel, form: ApplicationForm):
    """Return where to send a draft that cannot be submitted yet (answers or materials missing), else None."""
    if form.errors:
        flash("申请信息不完整或有误，请修改后再提交", "error")
        return redirect(url_for("citizen.application", token=application.token))
    if missing := progress.missing_materials(application):
        flash(f"请先上传：{'、'.join(missing)}", "error")
        return redirect(url_for("citizen.review", token=application.token))
    return None


def _already_submitted(case: cases.CaseModel):
    """Show the case a repeated submission (a second click, a retried request) already made."""
    flash(f"已提交，无需重复提交（受理编号 {case.case_number}）", "info")
    return redirect(url_for("citizen.case", case_number=case.case_number))


@bp.post("/apply/<token>/delete")
@citizen_required
def delete_draft(token: str):
    """Throw a draft away."""
    draft = _draft(token)
    progress.delete_draft(draft, store_for(current_app.config))
    flash("草稿已删除", "info")
    return redirect(url_for("citizen.my"))


@bp.get("/my")
@citizen_required
def my():
    """List the citizen's cases and drafts."""
    return render_template("citizen/my.html", cases=progress.cases_of(_me()),
                           drafts=applications.drafts(db.session, _me().id), labels=cases.CASE_TYPES,
                           form=ActionForm())


@bp.get("/my/cases/<case_number>")
@citizen_required
def case(case_number: str):
    """Show a case: status, what to do next, and the timeline of its steps."""
    found = _own_case(case_number)
    return render_template("citizen/case.html", case=found, **progress.case_view(found))


@bp.post("/my/cases/<case_number>/withdraw")
@citizen_required
def withdraw(case_number: str):
    """Withdraw an undecided case (撤回申请), once the applicant has confirmed what it does."""
    found = _own_case(case_number)
    back = url_for("citizen.case", case_number=case_number)
    refusal = withdrawal.refusal(db.session, found)
    if refusal is not None:
        flash(refusal, "error")
        return redirect(back)
    if not confirmed():
        return ask_confirmation(f"撤回申请（受理编号 {case_number}）", [
            "撤回后本申请即告结束，状态为「已撤回」，村（居）和乡镇（街道）不再办理，也不会出具登记单。",
            "撤回后不能恢复。如仍需办理，可以重新提交申请。",
        ], "确认撤回申请", back)
    try:
        withdrawal.withdraw(db.session, found, _me())
    except CaseworkError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back)
    flash("申请已撤回。如仍需办理，可以重新提交申请。", "success")
    return redirect(back)


@bp.route("/my/cases/<case_number>/correct", methods=["GET", "POST"])
@citizen_required
def correct(case_number: str):
    """Correct a case sent back as 核实有误, seeing the reason, and send it to verification again."""
    found = _own_case(case_number)
    view = progress.case_view(found)
    if not view["can_correct"]:
        flash("该申请当前无需更正", "info")
        return redirect(url_for("citizen.case", case_number=case_number))
    application = progress.application_of(found)
    correction = _correction_form(found)
    if request.method == "GET":
        form = ApplicationForm(formdata=None, data=applying.loaded(application.answers if application else {}))
    else:
        form = ApplicationForm()
        shown = _edited(form)
        if shown is not None:
            form = shown
        elif all([form.validate(), correction is None or correction.validate()]):  # both, to show every error
            try:
                applying.correct(db.session, _me(), found, form.data, note="申请人已更正",
                                 values=correction.values if correction else None)
            except ApplicationRefused as refused:
                db.session.rollback()
                _refused(form, refused)
            except Forbidden:
                abort(404)
            else:
                flash("更正已提交，将重新核实", "success")
                return redirect(url_for("citizen.case", case_number=case_number))
    return _form_page("citizen/application.html", form, found.case_type, case=found, reason=view["reason"],
                      draft=application, correction_form=correction,
                      correction_skip=_answered_by_resubmitting(correction))


def _correction_form(case: cases.CaseModel) -> DynamicForm | None:
    """Return the form of the case's correction task, as its diagram defines it (prefixed: it shares the page)."""
    task = casework.correction_task(db.session, case)
    definition = task_form(db.session, task) if task is not None else None
    if definition is None:
        return None
    found = decision_field(definition)
    only = {html_name(found.id): found.choices[0][0]} if found is not None and len(found.choices) == 1 else {}
    # The application form on the same page checks the request's CSRF token; this one would look for a prefixed one.
    return form_class(definition)(prefix="task-", meta={"csrf": False}, data=only)


def _answered_by_resubmitting(form: DynamicForm | None) -> frozenset[str]:
    """Return the fields the page does not ask: a decision of one choice is what sending the correction says."""
    found = decision_field(form.definition) if form is not None else None
    return frozenset({found.id}) if found is not None and len(found.choices) == 1 else frozenset()


@bp.route("/track", methods=["GET", "POST"])
def track():
    """Look a case up by its number and the contact phone, without signing in (the status only).

    Lookups are counted per client address, found or not, so that guessing case numbers and phones is slow.
    """
    form = TrackForm()
    found = None
    if form.validate_on_submit():
        try:
            rate_limits.hit("track:address", client_address())
        except rate_limits.RateLimited as exc:
            # The page as typed, with the wait: 429 and Retry-After as on the other refused pages.
            form.form_errors.append(exc.message)
            return render_template("citizen/track.html", form=form, case=None, view=None), 429, \
                {"Retry-After": str(exc.retry_after)}
        found = cases.get_case(db.session, form.case_number.data)
        if found is None or found.contact_phone != form.phone.data:
            found = None
            form.form_errors.append("未找到该申请，请核对受理编号和手机号码")
    return render_template("citizen/track.html", form=form, case=found,
                           view=progress.public_view(found) if found else None)


@bp.get("/divisions/<code>/children")
def division_children(code: str):
    """Return the divisions directly under `code` (`0` for the provinces) for the cascading picker."""
    if code != "0" and (not code.isascii() or not code.isdigit() or len(code) > 12):
        return jsonify(error="区划代码无效"), 400
    return jsonify([{"code": d.code, "name": d.name}
                    for d in divisions.children(db.session, None if code == "0" else code)])
