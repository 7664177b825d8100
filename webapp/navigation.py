"""The staff menu, each role's home and the breadcrumbs: defined once here, drawn by base.html on every page.

An item is offered to an account when the view behind it lets the account in — the very predicate that view checks
(`may_open`) — and the item is meant for the account's role (`roles`; a page anyone of staff may open, such as the
inbox, is offered only to the roles that work from it). So the menu never links to a page that answers 403.

The menu reads nothing from the database: it is drawn on error pages too, where the database may be what failed.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, has_request_context, request, url_for
from flask_login import current_user
from jinja2 import pass_context
from jinja2.runtime import Context

from processes import hall, resource_base
from processes.jurisdiction import CASE_READERS
from processes.roles import (
    CITY_OFFICIAL,
    COUNTY_OFFICIAL,
    POLICY_ADMIN,
    PROVINCE_OFFICIAL,
    SERVICE_HALL,
    STAFF_ROLES,
    SYSTEM_ADMIN,
    TOWNSHIP_STAFF,
    VILLAGE_STAFF,
)
from services.accounts import UserModel

OFFICIALS = (COUNTY_OFFICIAL, CITY_OFFICIAL, PROVINCE_OFFICIAL)
CLERKS = (VILLAGE_STAFF, TOWNSHIP_STAFF)
# Roles whose tasks, if a diagram routes any to them, wait in the inbox; clerks work from it every day.
TASK_ROLES = (*CLERKS, SERVICE_HALL, *OFFICIALS)
PROCESS_READERS = (POLICY_ADMIN, SYSTEM_ADMIN)

# Where each staff role starts: after signing in, from the brand and from the breadcrumbs' first step.
HOMES = {
    VILLAGE_STAFF: "staff.inbox_page",
    TOWNSHIP_STAFF: "staff.inbox_page",
    SERVICE_HALL: "staff.hall_page",
    COUNTY_OFFICIAL: "statistics.dashboard",
    CITY_OFFICIAL: "statistics.dashboard",
    PROVINCE_OFFICIAL: "statistics.dashboard",
    POLICY_ADMIN: "processadmin.index",
    SYSTEM_ADMIN: "admin.index",
}
HOME_LABEL = "工作台"


def _role_in(*roles: str) -> Callable[[UserModel], bool]:
    return lambda account: account.role in roles


def _reads_statistics(account: UserModel) -> bool:
    # Imported here: the statistics package imports the admin pages, which are built after this module.
    from webapp.statistics.scope import may_read_statistics

    return may_read_statistics(account)


@dataclass(frozen=True)
class MenuItem:
    """One entry of the menu: its label, the page it opens, who may open it, and which pages belong to it."""

    label: str
    endpoint: str
    may_open: Callable[[UserModel], bool]
    roles: tuple[str, ...]
    # Endpoints (or endpoint prefixes ending in '.' or '_') whose pages mark this item as the current one.
    sections: tuple[str, ...] = ()

    def offered_to(self, account: UserModel) -> bool:
        """Return whether the menu of `account` shows this item."""
        return account.role in self.roles and self.may_open(account)

    def covers(self, endpoint: str | None) -> bool:
        """Return whether the page of `endpoint` lies under this item."""
        if not endpoint:
            return False
        return endpoint == self.endpoint or any(
            endpoint.startswith(s) if s.endswith((".", "_")) else endpoint == s for s in self.sections)


MENU = (
    MenuItem("工作台", "staff.inbox_page", _role_in(*STAFF_ROLES), CLERKS,
             ("staff.task_page", "staff.reveal", "staff.comment", "staff.reassign")),
    MenuItem("大厅查询", "staff.hall_page", hall.may_use_hall, (SERVICE_HALL, TOWNSHIP_STAFF), ("staff.hall_print",)),
    MenuItem("现场身份核验", "staff.hall_identity", hall.may_use_hall, (SERVICE_HALL, TOWNSHIP_STAFF),
             ("staff.hall_identity_",)),
    MenuItem("统计分析", "statistics.dashboard", _reads_statistics, CASE_READERS, ("statistics.",)),
    MenuItem("案件查询", "admin.case_search", _role_in(*CASE_READERS), CASE_READERS, ("admin.case_",)),
    MenuItem("信息资源库", "people.search_page", resource_base.may_use, tuple(resource_base.READERS), ("people.",)),
    # The same inbox, for roles that hold a task only when a diagram routes one to them.
    MenuItem("待办任务", "staff.inbox_page", _role_in(*STAFF_ROLES), (SERVICE_HALL, *OFFICIALS),
             ("staff.task_page", "staff.reveal", "staff.comment", "staff.reassign")),
    MenuItem("工作人员账号", "admin.staff_list", _role_in(SYSTEM_ADMIN), (SYSTEM_ADMIN,), ("admin.staff_",)),
    MenuItem("短信与服务任务", "admin.messages", _role_in(SYSTEM_ADMIN), (SYSTEM_ADMIN,), ("admin.retry_outbox",)),
    MenuItem("审计记录", "admin.audit_log", _role_in(SYSTEM_ADMIN), (SYSTEM_ADMIN,), ("admin.audit_",)),
    MenuItem("节假日安排", "admin.holiday_years", _role_in(SYSTEM_ADMIN), (SYSTEM_ADMIN,), ("admin.holiday_",)),
    MenuItem("流程管理", "processadmin.index", _role_in(*PROCESS_READERS), PROCESS_READERS, ("processadmin.",)),
)


def _staff(account: UserModel | None) -> bool:
    return account is not None and account.role in STAFF_ROLES


def home_endpoint(account: UserModel | None) -> str | None:
    """Return the endpoint of the account's home page (None for citizens and visitors: the portal is theirs)."""
    return HOMES.get(account.role) if _staff(account) else None


def home_url(account: UserModel | None) -> str | None:
    """Return the address of the account's home page, or None when it has none of its own."""
    endpoint = home_endpoint(account)
    return url_for(endpoint) if endpoint else None


def menu_for(account: UserModel | None) -> list[MenuItem]:
    """Return the items of the account's menu, its home first."""
    if not _staff(account):
        return []
    items = [item for item in MENU if item.offered_to(account)]
    home = home_endpoint(account)
    # The system administrator's home (/admin/) opens the first of its pages; that item leads.
    return sorted(items, key=lambda item: item.endpoint != home)


def current_item(items: Iterable[MenuItem], endpoint: str | None) -> MenuItem | None:
    """Return the item the page of `endpoint` belongs to, if any."""
    return next((item for item in items if item.covers(endpoint)), None)


# -- breadcrumbs -----------------------------------------------------------------------------------------------------

# A step of the trail: its label and where it leads (None for the page itself).
Crumb = tuple[str, str | None]


def _case_label(context: Context) -> str:
    case = context.get("case")
    return f"案件 {case.case_number}" if case is not None else "案件"


def _below(endpoint: str, label: str) -> Crumb:
    return label, url_for(endpoint)


def _task_trail(context: Context) -> list[Crumb]:
    task = context.get("task")
    return [(_case_label(context), None), (task.name if task is not None else "任务", None)]


def _case_trail(context: Context) -> list[Crumb]:
    return [_below("admin.case_search", "案件查询"), (_case_label(context), None)]


def _person_trail(_context: Context) -> list[Crumb]:
    return [_below("people.search_page", "信息资源库"), ("人员信息", None)]


def _version_trail(context: Context) -> list[Crumb]:
    definition = context.get("definition")
    label = f"{definition.name} v{definition.version}" if definition is not None else "流程版本"
    return [_below("processadmin.index", "流程管理"), (label, None)]


def _instance_trail(context: Context) -> list[Crumb]:
    instance = context.get("instance")
    return [_below("processadmin.index", "流程管理"), _below("processadmin.instance_list", "案件实例"),
            (f"实例 {instance.id}" if instance is not None else "实例", None)]


def _holiday_trail(context: Context) -> list[Crumb]:
    return [_below("admin.holiday_years", "节假日安排"), (f"{context.get('year')} 年", None)]


def _reset_trail(_context: Context) -> list[Crumb]:
    return [_below("admin.staff_list", "工作人员账号"), ("重置密码", None)]


# Pages below the top level, by endpoint; a top-level page (one the menu opens) has no trail.
TRAILS: dict[str, Callable[[Context], list[Crumb]]] = {
    "staff.task_page": _task_trail, "staff.reveal": _task_trail, "staff.comment": _task_trail,
    "staff.reassign": _task_trail,
    "admin.case_view": _case_trail,
    "people.person": _person_trail, "people.reveal": _person_trail,
    "processadmin.version": _version_trail, "processadmin.instance_view": _instance_trail,
    "admin.holiday_year": _holiday_trail, "admin.holiday_add": _holiday_trail, "admin.holiday_remove": _holiday_trail,
    "admin.staff_reset_password": _reset_trail,
}


@pass_context
def breadcrumb_trail(context: Context) -> list[Crumb]:
    """Return the trail of the page being drawn, from the home (工作台) to the page itself; [] on top-level pages.

    Reads the objects the page was drawn with (its task, case, version…), so no page has to build its own trail.
    """
    if not has_request_context():
        return []
    account = current_user.account if current_user.is_authenticated else None
    build = TRAILS.get(request.endpoint or "")
    home = home_url(account)
    if build is None or home is None:
        return []
    return [(HOME_LABEL, home), *build(context)]


def _menu_context() -> dict:
    if not has_request_context():  # a document drawn by a background job has no reader and no menu
        return {"staff_menu": [], "staff_menu_current": None, "staff_menu_exact": False, "staff_home": None}
    account = current_user.account if current_user.is_authenticated else None
    items = menu_for(account)
    current = current_item(items, request.endpoint)
    return {"staff_menu": items, "staff_menu_current": current,
            "staff_menu_exact": current is not None and current.endpoint == request.endpoint,
            "staff_home": home_url(account)}


def register(app: Flask) -> None:
    """Give every template the menu of the signed-in account, its home, and the breadcrumb trail."""
    app.context_processor(_menu_context)
    app.add_template_global(breadcrumb_trail, "breadcrumb_trail")
