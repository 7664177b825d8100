"""The jurisdiction rule: 12-digit statistical division codes nest by prefix."""

from engine.models import HumanTaskModel
from processes.roles import CITY_OFFICIAL, COUNTY_OFFICIAL, PROVINCE_OFFICIAL, SERVICE_HALL, TOWNSHIP_STAFF
from services.accounts import UserModel
from services.cases import CaseModel

# Case fields a diagram may name as a user task's jurisdiction; each holds a village code.
JURISDICTION_FIELDS = {
    "hukou_division": "户籍地村（居）",
    "residence_division": "现居住地村（居）",
}

# Who may read a case of their division without acting on it.
CASE_READERS = (TOWNSHIP_STAFF, SERVICE_HALL, COUNTY_OFFICIAL, CITY_OFFICIAL, PROVINCE_OFFICIAL)


def contains(outer: str | None, inner: str | None) -> bool:
    """Return whether division `outer` contains (or is) division `inner`."""
    return bool(outer) and bool(inner) and inner.startswith(outer)


def may_act(user_role: str, user_division: str | None, task_role: str, task_division: str | None) -> bool:
    """A staff member may act on a task when the role matches and their division contains the task's division."""
    return user_role == task_role and contains(user_division, task_division)


def may_see_task(user: UserModel, task: HumanTaskModel) -> bool:
    """A staff member sees a task (and its case) they may act on, or one they completed themselves."""
    return may_act(user.role, user.division_code, task.role, task.division_code) or task.completed_by == user.actor


def may_read_case(user: UserModel, case: CaseModel) -> bool:
    """Officials, township staff and service halls read the cases of their division, by either of its places."""
    return user.role in CASE_READERS and (contains(user.division_code, case.hukou_division)
                                          or contains(user.division_code, case.residence_division))
