"""Finding cases for staff — by 受理编号, by a spouse's ID number, or by a spouse's name (and birth date) — always
inside one division: a case lies in a division by its hukou place or by its residence place, the rule of
processes.jurisdiction. A case elsewhere is answered exactly like no case, so nothing here tells that a number or a
person exists outside the reader's division.

An ID number is found as the resource base finds it, through the keyed hash of the person (services.people); no
sealed value is read or compared. A name is matched as the application gave it (the case's spouse names), so a case
still being verified is found too; the birth date is the person's, taken from their ID number.

What a list shows is the least that tells two cases apart (`CaseChoice`): number, type, status, dates and the
spouses' names masked as the resource base masks them (张*).
"""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import Session

from processes.resource_base import mask_name
from services import divisions, identity, people
from services.cases import CaseModel
from services.people import PersonModel

MAX_MATCHES = 50


def in_division(scope: str) -> ColumnElement[bool]:
    """Return "the case lies in division `scope`" (by either of its places) as an index-friendly condition."""
    return or_(divisions.within(CaseModel.hukou_division, scope), divisions.within(CaseModel.residence_division, scope))


def _spouse_is(person_id: int) -> ColumnElement[bool]:
    return or_(CaseModel.woman_id == person_id, CaseModel.man_id == person_id)


def _born_on(spouse_id, birth_date: date) -> ColumnElement[bool]:
    return exists().where(PersonModel.id == spouse_id, PersonModel.birth_date == birth_date)


def _named(name: str, birth_date: date | None) -> ColumnElement[bool]:
    woman, man = CaseModel.woman_name == name, CaseModel.man_name == name
    if birth_date is None:
        return or_(woman, man)
    return or_(and_(woman, _born_on(CaseModel.woman_id, birth_date)), and_(man, _born_on(CaseModel.man_id, birth_date)))


def _condition(session: Session, case_number: str | None, id_number: str | None, name: str | None,
               birth_date: date | None) -> ColumnElement[bool]:
    if case_number:
        return CaseModel.case_number == case_number
    if id_number:
        person = people.find_person(session, identity.normalize(id_number))
        return _spouse_is(person.id) if person is not None else false()
    if name:
        return _named(name, birth_date)
    return false()


def find_cases(session: Session, scope: str | None, *, case_number: str | None = None, id_number: str | None = None,
               name: str | None = None, birth_date: date | None = None, limit: int = MAX_MATCHES) -> list[CaseModel]:
    """Return the cases of division `scope` that match the one criterion given, newest first, at most `limit`.

    No division (an account without one) finds nothing.
    """
    if not scope:
        return []
    condition = _condition(session, case_number, id_number, name, birth_date)
    return list(session.scalars(select(CaseModel).where(condition, in_division(scope))
                                .order_by(CaseModel.submitted_at.desc(), CaseModel.id.desc()).limit(limit)))


@dataclass(frozen=True)
class CaseChoice:
    """One case in a list to pick from: enough to tell it from the others, nothing more."""

    case_number: str
    type_label: str
    status: str
    woman: str
    man: str
    submitted_at: datetime
    completed_at: datetime | None


def choices(found: list[CaseModel]) -> list[CaseChoice]:
    """Return the cases as rows to pick from, the spouses' names masked."""
    return [CaseChoice(case_number=c.case_number, type_label=c.type_label, status=c.status,
                       woman=mask_name(c.woman_name), man=mask_name(c.man_name), submitted_at=c.submitted_at,
                       completed_at=c.completed_at) for c in found]
