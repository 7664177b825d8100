"""The service hall (服务大厅): find a case by its number and a spouse's ID number, print its slip, audit each print."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import AuditEventModel
from processes.jurisdiction import contains
from processes.roles import SERVICE_HALL, TOWNSHIP_STAFF
from services import cases, identity
from services.accounts import UserModel
from services.cases import CaseModel
from services.crypto import blind
from services.people import PersonModel

HALL_ROLES = (TOWNSHIP_STAFF, SERVICE_HALL)


def may_use_hall(user: UserModel) -> bool:
    """Return whether the user works a township's service hall."""
    return user.role in HALL_ROLES and bool(user.division_code)


def find_case(session: Session, user: UserModel, case_number: str, id_number: str) -> CaseModel | None:
    """Return the case when the number and a spouse's ID number both match and it lies in the user's township.

    None for everything else alike, so the answer never tells which part was wrong, nor that a case exists
    elsewhere. A case submitted without persons has no ID numbers to match and is never found here.
    """
    case = cases.get_case(session, (case_number or "").strip())
    if case is None or not may_use_hall(user):
        return None
    if not (contains(user.division_code, case.hukou_division) or contains(user.division_code, case.residence_division)):
        return None
    number = identity.normalize(id_number)
    spouses = [pid for pid in (case.woman_id, case.man_id) if pid is not None]
    if not number or not spouses:
        return None
    matched = session.scalar(select(PersonModel.id).where(PersonModel.id.in_(spouses),
                                                         PersonModel.id_number_hash == blind(number)))
    return case if matched is not None else None


def record_print(session: Session, user: UserModel, case: CaseModel, channel: str = "service_hall") -> None:
    """Write a copy of a case's slip to the audit trail: who, when, which case, and where (hall or online)."""
    session.add(AuditEventModel(instance_id=case.instance_id, actor=user.actor, kind="slip_printed",
                                detail={"case_number": case.case_number, "division": user.division_code,
                                        "channel": channel}))
    session.flush()
