"""The service hall (服务大厅): find a case of the township by its number, a spouse's ID number, or a spouse's name
and birth date; print its slip, audit each print; confirm a registrant's identity in person from their ID card."""

from typing import Any

from sqlalchemy.orm import Session

from processes import case_lookup
from processes.roles import CITIZEN, SERVICE_HALL, TOWNSHIP_STAFF
from services import accounts, audit, divisions, identity, identity_binding
from services.accounts import UserModel
from services.cases import CaseModel

HALL_ROLES = (TOWNSHIP_STAFF, SERVICE_HALL)


def may_use_hall(user: UserModel) -> bool:
    """Return whether the user works a township's service hall."""
    return user.role in HALL_ROLES and bool(user.division_code)


def find_cases(session: Session, user: UserModel, **criteria: Any) -> list[CaseModel]:
    """Return the cases of the user's township that match one criterion of processes.case_lookup.find_cases
    (受理编号, a spouse's ID number, or a spouse's name and birth date), newest first; none for anyone else.

    A case of another township is answered like none, so a search never tells that a case exists elsewhere.
    """
    if not may_use_hall(user):
        return []
    return case_lookup.find_cases(session, user.division_code, **criteria)


def case_in_hall(session: Session, user: UserModel, case_number: str) -> CaseModel | None:
    """Return the case with this number when it lies in the user's township (printing repeats this check)."""
    found = find_cases(session, user, case_number=(case_number or "").strip())
    return found[0] if found else None


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
