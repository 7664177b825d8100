"""The service hall (服务大厅): find a case by its number and a spouse's ID number, print its slip, audit each print;
confirm a registrant's identity in person from their ID card."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from processes.jurisdiction import contains
from processes.roles import CITIZEN, SERVICE_HALL, TOWNSHIP_STAFF
from services import accounts, audit, cases, divisions, identity, identity_binding
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
    audit.record(session, user.actor, "slip_printed", instance_id=case.instance_id, case_number=case.case_number,
                 division=user.division_code, channel=channel)


def account_to_confirm(session: Session, user: UserModel, phone: str) -> UserModel | None:
    """Return the citizen account registered with `phone`, for hall staff only."""
    if not may_use_hall(user):
        return None
    account = accounts.find_by_phone(session, phone)
    return account if account is not None and account.role == CITIZEN else None


def confirm_identity(session: Session, user: UserModel, phone: str, id_number: str, name: str) -> UserModel:
    """Bind the ID number read from the card to the account of `phone` (audited); return that account.

    Raises BindingRefused when the account, the name or the number does not fit.
    """
    account = account_to_confirm(session, user, phone)
    if account is None:
        raise identity_binding.BindingRefused("未找到该手机号码注册的申请人账号")
    office = f"{divisions.full_name(session, user.division_code)}服务大厅"
    identity_binding.confirm_in_person(session, user, account, identity.normalize(id_number), name, office)
    return account
