"""The staff workbench: the inbox by role and jurisdiction, claiming, and the task page with its form.

Inbox pages read the human-task rows only (processes.inbox); the task page also draws the case's diagram, which is
the one place a workflow is read, without a lock.
"""

from datetime import date
from functools import wraps

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from engine.errors import EngineError, NotFound, TaskConflict
from engine.models import HumanTaskModel
from forms.dynamic import DynamicForm, form_class
from forms.tasks import CommentForm, ReassignForm
from processes import casework, inbox
from processes.casework import CaseworkError, Forbidden, FormRejected
from processes.forms import decision_field, decision_label, facts_of
from processes.jurisdiction import may_see_task
from processes.task_forms import element_of, task_form
from services import audit, cases, comments
from services.accounts import UserModel
from services.cases import CASE_TYPES
from services.db import db, retry_transaction
from webapp import navigation, search_tokens
from webapp.casepage import case_facts

bp = Blueprint("staff", __name__, url_prefix="/staff", template_folder="templates", static_folder="static")


def staff_required(view):
    """Let only signed-in staff in; a citizen gets 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not current_user.is_staff:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _account() -> UserModel:
    return current_user.account


def _query_from(values, search: str | None) -> inbox.InboxQuery:
    """Build the inbox query from filter values; the search term never comes from a URL (see inbox_search)."""
    due_before = values.get("due_before") or None
    return inbox.InboxQuery(
        view=values.get("view", "todo"), case_type=values.get("case_type") or None,
        case_status=values.get("case_status") or None, division=values.get("division") or None,
        due_before=_date(due_before) if due_before else None, search=search,
        page=_int(values.get("page"), 1),
    )


def _search_from_token() -> str | None:
    token = request.args.get("q")
    if not token:
        return None
    sealed = search_tokens.open_token(token, _account().id)
    if sealed is None:
        flash(search_tokens.EXPIRED, "warning")
        return None
    return sealed.get("search") or None


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 7 else default


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CaseworkError("期限日期格式应为 YYYY-MM-DD") from exc


@bp.get("/")
@staff_required
def inbox_page():
    """Show the inbox: views with counts, filters, a page of tasks."""
    try:
        query = _query_from(request.args, _search_from_token())
        page = inbox.inbox(db.session, _account(), query)
    except (CaseworkError, Forbidden) as exc:
        flash(str(exc), "error")
        query = inbox.InboxQuery()
        page = inbox.inbox(db.session, _account(), query)
    return render_template("staff/inbox.html", page=page, query=query, views=inbox.VIEWS, case_types=CASE_TYPES,
                           me=_account().actor, token=request.args.get("q") if query.search else None,
                           divisions=inbox.division_picker(db.session, _account(), query.division))


@bp.post("/search")
@staff_required
def inbox_search():
    """Take the filter form by POST and show its result at a URL that holds no search term (ID numbers stay out of
    access logs and history): the term travels in a sealed, short-lived token."""
    form = request.form
    filters = {name: form.get(name) or None for name in ("view", "case_type", "division", "due_before")}
    search = (form.get("search") or "").strip()
    try:
        _query_from(form, search or None)
    except (CaseworkError, Forbidden) as exc:
        flash(str(exc), "error")
        return redirect(url_for("staff.inbox_page", view=filters["view"]), code=303)
    token = search_tokens.seal({"search": search}, _account().id) if search else None
    return redirect(url_for("staff.inbox_page", **filters, q=token), code=303)


def _back() -> str:
    target = request.form.get("back") or ""
    return target if target.startswith("/staff/") and "//" not in target else url_for("staff.inbox_page")


@bp.post("/tasks/claim")
@staff_required
def bulk_claim():
    """Claim every ticked task."""
    ids = [int(v) for v in request.form.getlist("task_id") if v.isascii() and v.isdigit() and len(v) < 12]
    if not ids:
        flash("请先勾选要认领的任务", "warning")
        return redirect(_back())
    try:
        claimed = inbox.bulk_claim(db.session, _account(), ids)
    except EngineError as exc:
        flash(str(exc), "error")
        return redirect(_back())
    flash(f"已认领 {claimed} 项任务", "success")
    return redirect(_back())


@bp.post("/tasks/<int:task_id>/claim")
@staff_required
def claim(task_id: int):
    """Claim one task."""
    return _claim_action(inbox.claim, task_id, "已认领该任务")


@bp.post("/tasks/<int:task_id>/release")
@staff_required
def release(task_id: int):
    """Give one task back to the shared inbox."""
    return _claim_action(inbox.release, task_id, "已取消认领，任务回到待办")


def _claim_action(action, task_id: int, done: str):
    try:
        action(db.session, _account(), task_id)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    except EngineError as exc:
        flash(str(exc), "error")
        return redirect(_back())
    flash(done, "success")
    return redirect(_back())


def _visible_task(task_id: int) -> HumanTaskModel:
    task = db.session.get(HumanTaskModel, task_id)
    if task is None:
        abort(404)
    if not may_see_task(_account(), task):
        abort(403)
    return task


def _case_of(task: HumanTaskModel) -> cases.CaseModel:
    case = cases.get_case(db.session, task.business_key or "")
    if case is None:
        abort(404)
    return case


def _reassign_form(task: HumanTaskModel) -> ReassignForm | None:
    candidates = inbox.reassign_candidates(db.session, _account(), task)
    if not candidates:
        return None
    form = ReassignForm()
    form.to_user.choices = [(u.id, f"{u.name}（{u.division_code}）") for u in candidates]
    return form


def _page(task: HumanTaskModel, form, revealed: bool = False, comment_form: CommentForm | None = None):
    case = _case_of(task)
    return render_template("staff/task.html", task=task, case=case, form=form, revealed=revealed,
                           me=_account().actor, comment_form=comment_form or CommentForm(),
                           reassign_form=_reassign_form(task), facts=facts_of(element_of(db.session, task)),
                           **case_facts(case).as_context())


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@staff_required
@retry_transaction
def task_page(task_id: int):
    """Show a task with its case, and take the decision its form asks for."""
    task = _visible_task(task_id)
    form = _task_form(task)
    if request.method == "POST" and form is not None and form.validate_on_submit():
        try:
            casework.decide(db.session, task.task_guid, _account(), values=form.values)
        except Forbidden:
            abort(403)
        except FormRejected as refused:
            db.session.rollback()
            for field_id, message in refused.errors.items():
                form.bound(form.definition.field(field_id)).errors.append(message)
            return _page(db.session.get(HumanTaskModel, task_id), form)
        except (TaskConflict, CaseworkError) as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return _page(db.session.get(HumanTaskModel, task_id), form)
        flash(f"已提交：{task.name}{_chosen(form)}（受理编号 {task.business_key}）", "success")
        return redirect(url_for("staff.inbox_page"))
    return _page(task, form)


def _task_form(task: HumanTaskModel) -> DynamicForm | None:
    """Return the task's form (from its definition in the diagram), None when it has none to show."""
    definition = task_form(db.session, task)
    return form_class(definition)() if definition is not None else None


def _chosen(form: DynamicForm) -> str:
    """Name the decision taken on a submitted form, as the confirmation shows it (「通过」), "" if it has none."""
    found = decision_field(form.definition)
    return f"「{decision_label(form.definition, form.values.get(found.id) or '')}」" if found else ""


@bp.post("/tasks/<int:task_id>/reveal")
@staff_required
def reveal(task_id: int):
    """Show the unmasked contact details of the task's case; every reveal is written to the audit trail."""
    task = _visible_task(task_id)
    audit.record(db.session, _account().actor, "pii_viewed", instance_id=task.instance_id, element=task.bpmn_id,
                 fields=["contact_phone", "id_number", "phone"])
    return _page(task, _task_form(task), revealed=True)


@bp.post("/tasks/<int:task_id>/comments")
@staff_required
def comment(task_id: int):
    """Leave an internal comment on the task's case."""
    task = _visible_task(task_id)
    form = CommentForm()
    if not form.validate_on_submit():
        return _page(task, None, comment_form=form), 400
    comments.add_comment(db.session, _case_of(task).id, _account().id, form.body.data)
    flash("意见已保存", "success")
    return redirect(url_for("staff.task_page", task_id=task_id))


@bp.post("/tasks/<int:task_id>/reassign")
@staff_required
def reassign(task_id: int):
    """Hand the task to a colleague: township staff, within their jurisdiction."""
    task = _visible_task(task_id)
    form = _reassign_form(task)
    if form is None:
        abort(403)
    if not form.validate_on_submit():
        flash("请选择可以办理该任务的工作人员", "error")
        return redirect(url_for("staff.task_page", task_id=task_id))
    colleague = db.session.get(UserModel, form.to_user.data)
    try:
        inbox.reassign(db.session, _account(), task_id, colleague)
    except Forbidden:
        abort(403)
    except EngineError as exc:
        flash(str(exc), "error")
        return redirect(url_for("staff.task_page", task_id=task_id))
    flash(f"已转派给{colleague.name}", "success")
    return redirect(url_for("staff.inbox_page"))


@bp.get("/home")
@staff_required
def home():
    """Send a staff member to the home of their role (an address that stays right whatever the role)."""
    return redirect(navigation.home_url(_account()) or url_for("staff.inbox_page"))


# The service-hall page registers its views on this blueprint.
from webapp.staff import hall  # noqa: E402, F401
