"""Administration pages: staff accounts, the message outbox, read-only case views for officials.

Every page names the roles it lets in; anyone else gets 403. System administrators manage staff accounts and the
SMS outbox; county, city and province officials, township staff and service halls read the cases of their division.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select

from engine.errors import TaskConflict
from engine.models import OutboxModel, ProcessInstanceModel
from forms.admin import SEARCH_MAX_LENGTH, staff_form
from forms.case_lookup import WAYS, OfficialCaseLookupForm
from processes import case_lookup, instances_admin
from processes.casework import open_tasks
from processes.jurisdiction import CASE_READERS, may_read_case
from processes.roles import (
    ROLE_DIVISION_LENGTH,
    ROLES,
    STAFF_ROLES,
    SYSTEM_ADMIN,
)
from processes.runtime import RUNTIME
from services import accounts, cases
from services.accounts import UserModel
from services.cases import CaseModel
from services.db import db
from services.mail import EmailMessageModel
from services.notifications import SmsMessageModel
from webapp import navigation
from webapp.admin import labels
from webapp.casepage import case_facts, place
from webapp.confirm import ask_confirmation, confirmed

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static")

STAFF_ROLE_LABELS = {role: ROLES[role] for role in STAFF_ROLES}
PAGE_SIZE = 50
# SMS whose text is a secret (a sign-in code): the list names them but does not show what they said.
SECRET_TEMPLATES = frozenset({"verification_code"})
OUTBOX_STATUS_LABELS = {"incident": "故障", "pending": "重试中", "done": "已完成", "cancelled": "已取消"}


def roles_required(*roles: str) -> Callable:
    """Let only signed-in users of `roles` in; everyone else gets 403."""

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.account.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _account() -> UserModel:
    return current_user.account


def _page_number() -> int:
    value = request.args.get("page", "")
    return max(int(value), 1) if value.isascii() and value.isdigit() and len(value) < 7 else 1


def _search_arg(name: str) -> str:
    return (request.args.get(name) or "").strip()[:SEARCH_MAX_LENGTH]


@dataclass
class Pager:
    """Where a paginated list is: its page, size and total."""

    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        """Return the number of rows before this page."""
        return (self.page - 1) * self.size

    @property
    def has_next(self) -> bool:
        """Return whether a later page exists."""
        return self.page * self.size < self.total


@bp.get("/")
@login_required
def index():
    """Open the system administrator's first page; send any other staff member to the home of their role."""
    account = _account()
    if account.role == SYSTEM_ADMIN:
        return redirect(url_for("admin.staff_list"))
    home = navigation.home_url(account)
    if home is None:
        abort(403)
    return redirect(home)


# -- staff accounts ------------------------------------------------------------------------------------------------


def _staff_page(form, status: int = 200):
    search = _search_arg("search")
    pager = Pager(_page_number(), 0)
    rows, pager.total = accounts.list_staff(db.session, STAFF_ROLES, search or None, offset=pager.offset,
                                            limit=pager.size)
    return render_template("admin/staff.html", rows=rows, pager=pager, search=search, form=form,
                           roles=STAFF_ROLE_LABELS, place=place, me=_account().id, lock_wait=accounts.lock_wait), status


@bp.get("/staff")
@roles_required(SYSTEM_ADMIN)
def staff_list():
    """List the staff accounts, searchable by name or phone, with the form for a new one."""
    return _staff_page(staff_form(STAFF_ROLE_LABELS)())


@bp.post("/staff")
@roles_required(SYSTEM_ADMIN)
def staff_create():
    """Create a staff account after the same checks as `flask users create-staff`."""
    form = staff_form(STAFF_ROLE_LABELS)()
    if form.validate_on_submit():
        problems = accounts.staff_account_problems(
            db.session, phone=form.phone.data, name=form.name.data, role=form.role.data,
            division_code=form.division_code.data, password=form.password.data, roles=STAFF_ROLE_LABELS,
            division_lengths=ROLE_DIVISION_LENGTH)
        for field, message in problems.items():
            form[field].errors = [*form[field].errors, message]
        if not problems:
            user = accounts.create_user(db.session, phone=form.phone.data, name=form.name.data, role=form.role.data,
                                        password=form.password.data, division_code=form.division_code.data,
                                        actor=_account().actor)
            flash(f"已创建工作人员账号：{user.name}（{ROLES[user.role]}，{place(user.division_code)}），"
                  f"手机号码 {user.phone}", "success")
            return redirect(url_for("admin.staff_list"))
    flash("账号未创建，请按提示修改后重新提交", "error")
    return _staff_page(form)


def _staff_account(user_id: int) -> UserModel:
    user = db.session.get(UserModel, user_id)
    if user is None or user.role not in STAFF_ROLES:
        abort(404)
    return user


def _back_to_staff() -> str:
    target = request.form.get("back") or ""
    return target if target.startswith("/admin/staff") and "//" not in target else url_for("admin.staff_list")


def _who(user: UserModel) -> str:
    return f"{user.name}（{ROLES[user.role]}，{place(user.division_code) or '无区划'}，{user.phone}）"


def _confirm_staff(user: UserModel, action: str, consequences: list[str], button: str):
    return ask_confirmation(f"{action}：{user.name}", consequences, button, _back_to_staff())


@bp.post("/staff/<int:user_id>/deactivate")
@roles_required(SYSTEM_ADMIN)
def staff_deactivate(user_id: int):
    """Deactivate a staff account (audited); its sessions end at their next request."""
    user = _staff_account(user_id)
    if user.id == _account().id:
        flash("不能停用自己的账号", "error")
    elif not confirmed():
        return _confirm_staff(user, "停用账号", [
            f"停用后，{_who(user)}不能再登录，已登录的设备在下一次操作时退出。",
            "其名下待办任务不会自动转交，请另行安排。之后可随时重新启用。"], "确认停用")
    elif accounts.set_active(db.session, user, False, _account().actor):
        flash(f"已停用账号：{user.name}（{user.phone}）", "success")
    else:
        flash(f"账号 {user.name} 已是停用状态", "warning")
    return redirect(_back_to_staff())


@bp.post("/staff/<int:user_id>/activate")
@roles_required(SYSTEM_ADMIN)
def staff_activate(user_id: int):
    """Activate a staff account again (audited)."""
    user = _staff_account(user_id)
    if not user.active and not confirmed():
        return _confirm_staff(user, "重新启用账号", [
            f"启用后，{_who(user)}可以用原密码和短信验证码登录，并按{ROLES[user.role]}的权限办理业务。"], "确认启用")
    if accounts.set_active(db.session, user, True, _account().actor):
        flash(f"已启用账号：{user.name}（{user.phone}）", "success")
    else:
        flash(f"账号 {user.name} 已是启用状态", "warning")
    return redirect(_back_to_staff())


@bp.post("/staff/<int:user_id>/reset-password")
@roles_required(SYSTEM_ADMIN)
def staff_reset_password(user_id: int):
    """Give a staff member a temporary password, shown once here, to change at the next sign-in (audited).

    Every session of the account ends and any lock is lifted. The page is not kept by the browser (it shows the
    password); the administrator hands it over, and the staff member still needs the SMS code to sign in.
    """
    user = _staff_account(user_id)
    if user.id == _account().id:
        flash("不能重置自己的密码，请在「我的账号」中修改", "error")
        return redirect(_back_to_staff())
    if not confirmed():
        return _confirm_staff(user, "重置密码", [
            f"将为{_who(user)}生成临时密码，只在下一页显示一次；原密码立即失效。",
            "该账号在所有设备上的登录都将退出；本人登录后须先设置新密码。"], "确认重置密码")
    password = accounts.reset_password(db.session, user, _account().actor)
    response = make_response(render_template("admin/staff_reset.html", user=user, password=password,
                                             back=_back_to_staff(), place=place))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/staff/<int:user_id>/unlock")
@roles_required(SYSTEM_ADMIN)
def staff_unlock(user_id: int):
    """Lift the sign-in lock of a staff account (audited)."""
    user = _staff_account(user_id)
    if accounts.unlock(db.session, user, _account().actor):
        flash(f"已解锁账号：{user.name}（{user.phone}）", "success")
    else:
        flash(f"账号 {user.name} 未被锁定", "warning")
    return redirect(_back_to_staff())


# -- message outbox ------------------------------------------------------------------------------------------------


@bp.get("/messages")
@roles_required(SYSTEM_ADMIN)
def messages():
    """Show the SMS sent, newest first, and the service tasks that failed or keep failing."""
    session = db.session
    pager = Pager(_page_number(), session.scalar(select(func.count()).select_from(SmsMessageModel)) or 0)
    sent = session.scalars(select(SmsMessageModel).order_by(SmsMessageModel.created_at.desc(),
                                                            SmsMessageModel.id.desc())
                           .offset(pager.offset).limit(pager.size)).all()
    failing = session.execute(
        select(OutboxModel, CaseModel.case_number)
        .outerjoin(CaseModel, CaseModel.instance_id == OutboxModel.instance_id)
        .where(or_(OutboxModel.status == "incident",
                   (OutboxModel.status == "pending") & (OutboxModel.attempts > 0)))
        .order_by(OutboxModel.status, OutboxModel.id.desc())
    ).all()
    steps = step_names(row.instance for row, _number in failing)
    # Email bodies hold single-use recovery links: the list names the message, never shows its text.
    emails = session.scalars(select(EmailMessageModel).order_by(EmailMessageModel.id.desc()).limit(RECENT_EMAILS))
    return render_template("admin/messages.html", sent=sent, pager=pager, failing=failing, emails=emails.all(),
                           status_labels=OUTBOX_STATUS_LABELS, secret_templates=SECRET_TEMPLATES, label=labels.label,
                           steps=steps, operator_label=labels.operator_label,
                           templates=labels.SMS_TEMPLATE_NAMES, kinds=labels.EMAIL_KIND_NAMES,
                           methods=labels.SEND_METHOD_NAMES)


RECENT_EMAILS = 20


def step_names(instances: Iterable[ProcessInstanceModel]) -> dict[int, dict[str, str]]:
    """Return, by instance, the names its diagram gives its steps (by element id), each instance read once."""
    return {instance.id: instances_admin.step_names(db.session, instance) for instance in set(instances)}


def _service_task_words(row: OutboxModel) -> str:
    step = instances_admin.step_names(db.session, row.instance).get(row.bpmn_id, row.bpmn_id)
    return f"{step}（{labels.operator_label(row.operator, row.params or {}, row.instance.process_key)}）"


@bp.post("/messages/outbox/<int:outbox_id>/retry")
@roles_required(SYSTEM_ADMIN)
def retry_outbox(outbox_id: int):
    """Send a service task that became an incident back to the outbox; it runs again after this commit."""
    row = db.session.get(OutboxModel, outbox_id)
    if row is None:
        abort(404)
    try:
        RUNTIME.retry_incident(db.session, outbox_id, _account().actor)
    except TaskConflict as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.messages"))
    flash(f"已重新提交服务任务：{_service_task_words(row)}，系统将立即重试", "success")
    return redirect(url_for("admin.messages"))


# -- read-only case views ------------------------------------------------------------------------------------------


def _valid_number(number: str) -> bool:
    return 0 < len(number) <= 20 and number.isascii() and number.isdigit()


NOT_FOUND_BY_WAY = "未找到符合条件的案件，或案件不在您的管辖范围内"


def _found_by_lookup(account: UserModel, form: OfficialCaseLookupForm) -> list[CaseModel] | None:
    """Return the cases a query asks for: a number in the URL (links, bookmarks) or the POSTed form; None if none."""
    number = _search_arg("number")
    if number and request.method == "GET":
        case = cases.get_case(db.session, number) if _valid_number(number) else None
        if case is not None and may_read_case(account, case):
            return [case]
        # An existing case outside the division gets the same answer as none: numbers are not probed here.
        flash(f"未找到受理编号为 {number} 的案件，或该案件不在您的管辖范围内", "warning")
        return []
    if not form.validate_on_submit():
        return None
    found = case_lookup.find_cases(db.session, account.division_code, **form.criteria)
    if not found:
        flash(NOT_FOUND_BY_WAY, "warning")
    return found


@bp.route("/cases", methods=["GET", "POST"])
@roles_required(*CASE_READERS)
def case_search():
    """Find cases of the reader's division by number, a spouse's ID number, or a spouse's name (the form is POSTed:
    no ID number or name in a URL); one match opens the case. Below, the newest cases of the division."""
    account = _account()
    form = OfficialCaseLookupForm()
    found = _found_by_lookup(account, form)
    if found and len(found) == 1:
        return redirect(url_for("admin.case_view", case_number=found[0].case_number))
    prefix = account.division_code or ""
    pager = Pager(_page_number(), 0)
    rows = []
    if prefix:  # a reader without a division reads nothing
        ours = case_lookup.in_division(prefix)
        pager.total = db.session.scalar(select(func.count()).select_from(CaseModel).where(ours)) or 0
        rows = db.session.scalars(select(CaseModel).where(ours).order_by(
            CaseModel.submitted_at.desc(), CaseModel.id.desc()).offset(pager.offset).limit(pager.size)).all()
    return render_template("admin/cases.html", rows=rows, pager=pager, form=form, ways=WAYS, matches=found or [],
                           division=place(account.division_code), more=len(found or []) >= case_lookup.MAX_MATCHES)


@bp.get("/cases/<case_number>")
@roles_required(*CASE_READERS)
def case_view(case_number: str):
    """Show a case of the reader's division: status, results, open tasks, history and diagram; the phone masked."""
    case = cases.get_case(db.session, case_number) if _valid_number(case_number) else None
    if case is None:
        abort(404)
    if not may_read_case(_account(), case):
        abort(403)
    return render_template("admin/case.html", case=case, open_tasks=open_tasks(db.session, case), roles=ROLES,
                           **case_facts(case).as_context())


from webapp.admin import audit, holidays  # noqa: E402, F401 - registers the audit and holiday pages on `bp`
