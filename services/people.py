"""The information resource base (信息资源库): persons, what each case claims about them, and verified changes.

What a citizen submits is a claim, not a fact. Every submission and every correction of a case keeps an immutable
claim (`case_claim`): both spouses and the children as the applicant gave them. Staff verify that claim and the slip
prints it. A person (one per ID number) starts with what the number itself says (birth date, sex) and takes the
claimed details only when a verification confirms the claim (情况属实); every change is kept in `person_change`
(which case, who, when, old → new). Nothing a citizen types ever writes another person's record: naming someone's
ID number as a spouse creates no more than the identity the number already encodes.

ID numbers, phones and certificate numbers are sealed at rest (services.crypto); `id_number_hash` finds a person.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
    delete,
    event,
    func,
    insert,
    literal,
    select,
    union,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow
from services.cases import CaseModel
from services.crypto import EncryptedJSON, EncryptedString, blind

SPOUSES = ("woman", "man")
# The details a verification confirms about a spouse (the ID number, birth date and sex follow from the number).
PERSON_FIELDS = ("name", "ethnicity", "phone", "employer", "employer_phone", "marital_status",
                 "hukou_division", "residence_division")
CHILD_FIELDS = ("name", "sex", "birth_date", "document_number", "relation")


class PersonModel(Base):
    """A spouse, one per ID number: the identity the number encodes, and the details verified so far."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(EncryptedString)
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    # Verified details: empty until a verification confirms a claim naming this person.
    name: Mapped[str | None] = mapped_column(String(50), index=True)
    ethnicity: Mapped[str | None] = mapped_column(String(2))
    phone: Mapped[str | None] = mapped_column(EncryptedString)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    employer: Mapped[str | None] = mapped_column(String(100))
    employer_phone: Mapped[str | None] = mapped_column(EncryptedString)
    marital_status: Mapped[str | None] = mapped_column(String(2))
    hukou_division: Mapped[str | None] = mapped_column(String(12), index=True)
    residence_division: Mapped[str | None] = mapped_column(String(12), index=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonChangeModel(Base):
    """One verified change to a person's record: which case confirmed it, who, when, old → new."""

    __tablename__ = "person_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("birth_case.id"), index=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("case_claim.id"))
    field: Mapped[str] = mapped_column(String(30))
    old_value: Mapped[str | None] = mapped_column(EncryptedString)
    new_value: Mapped[str | None] = mapped_column(EncryptedString)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClaimModel(Base):
    """What the applicant submitted on one submission or correction of a case; never changed afterwards."""

    __tablename__ = "case_claim"
    __table_args__ = (UniqueConstraint("case_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("birth_case.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    # {"woman": {...}, "man": {...}, "children": [...], "after_birth": bool}, dates as ISO strings.
    answers: Mapped[dict] = mapped_column(EncryptedJSON)
    submitted_by: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonPlaceModel(Base):
    """Where staff find a person: each division the person belongs to, with the person's verified name.

    Derived from the person's verified divisions and the cases naming them (`refresh_places`), and kept because a
    name search over a county must read one index range here instead of joining every case of the county to the
    persons. `rank` says why the person belongs there: 1 verified hukou, 2 verified residence, 3 a case's hukou
    place, 4 a case's residence place (the lowest rank is where lists place the person).
    """

    __tablename__ = "person_place"
    # All covering, so a search is answered from an index alone: a division's range filtered by name; a county's
    # names as one range (a county holds tens of thousands of people, so its whole range would be read for a common
    # surname); or, for a name few people share, the name's range filtered by division. text_pattern_ops lets a
    # LIKE prefix use an index under any collation.
    __table_args__ = (
        Index("ix_person_place_division_code_name", "division_code", "name", "person_id", "rank"),
        Index("ix_person_place_county_code_name", "county_code", "name", "person_id", "rank", "division_code",
              postgresql_ops={"name": "text_pattern_ops"}),
        Index("ix_person_place_name", "name", "division_code", "person_id", "rank",
              postgresql_ops={"name": "text_pattern_ops"}),
    )

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), primary_key=True)
    division_code: Mapped[str] = mapped_column(String(12), primary_key=True)
    rank: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))  # the division's first six digits
    name: Mapped[str | None] = mapped_column(String(50))


@event.listens_for(ClaimModel, "before_update")
def _claims_are_immutable(mapper, connection, target) -> None:  # noqa: ARG001 - SQLAlchemy event signature
    raise ValueError("申报记录不可修改：更正会产生新的申报版本")


@event.listens_for(PersonModel.phone, "set", retval=True)
def _index_phone(target: PersonModel, value: str | None, oldvalue, initiator) -> str | None:  # noqa: ARG001
    target.phone_hash = blind(value) if value else None
    return value


@dataclass(frozen=True)
class Claim:
    """A claim read back: the spouses' details and the children, dates as dates."""

    id: int
    revision: int
    woman: dict
    man: dict
    children: list[dict]
    after_birth: bool
    submitted_at: datetime

    def spouse(self, side: str) -> dict:
        """Return the details claimed for `woman` or `man`."""
        return self.woman if side == "woman" else self.man


def _as_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def _with_dates(details: Mapping[str, Any]) -> dict:
    return {key: _as_date(value) if key == "birth_date" else value for key, value in details.items()}


def json_ready(value: Any) -> Any:
    """Return `value` as JSON can keep it: dates as ISO strings, in mappings and lists at any depth."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value


def _read(row: ClaimModel) -> Claim:
    answers = row.answers
    return Claim(id=row.id, revision=row.revision, woman=_with_dates(answers.get("woman", {})),
                 man=_with_dates(answers.get("man", {})),
                 children=[_with_dates(child) for child in answers.get("children", [])],
                 after_birth=bool(answers.get("after_birth")), submitted_at=row.submitted_at)


def find_person(session: Session, id_number: str) -> PersonModel | None:
    """Return the person with this ID number, if any case has named it."""
    return session.scalar(select(PersonModel).where(PersonModel.id_number_hash == blind(id_number)))


def ensure_person(session: Session, id_number: str, birth_date: date, sex: str) -> PersonModel:
    """Return the person with this ID number, creating it from the number alone (flush only).

    An existing record is returned untouched: what a claim says reaches it only through `confirm_claim`.
    """
    person = find_person(session, id_number)
    if person is None:
        person = PersonModel(id_number=id_number, id_number_hash=blind(id_number), birth_date=birth_date, sex=sex)
        session.add(person)
        session.flush()
    return person


def record_claim(session: Session, case_id: int, answers: Mapping[str, Any], actor: str) -> ClaimModel:
    """Keep what was submitted for a case as its next claim revision (flush only)."""
    latest = session.scalar(select(ClaimModel.revision).where(ClaimModel.case_id == case_id)
                            .order_by(ClaimModel.revision.desc()).limit(1))
    kept = {side: {**dict(answers[side])} for side in SPOUSES}
    kept["children"] = [{field: child.get(field) for field in CHILD_FIELDS} for child in answers.get("children", [])]
    kept["after_birth"] = bool(answers.get("after_birth"))
    claim = ClaimModel(case_id=case_id, revision=(latest or 0) + 1, answers=json_ready(kept), submitted_by=actor)
    session.add(claim)
    session.flush()
    return claim


def claims(session: Session, case_id: int) -> list[Claim]:
    """Return every claim of a case, oldest first."""
    return [_read(row) for row in session.scalars(
        select(ClaimModel).where(ClaimModel.case_id == case_id).order_by(ClaimModel.revision))]


def latest_claim(session: Session, case_id: int) -> Claim | None:
    """Return what the case claims now (its newest revision)."""
    row = session.scalar(select(ClaimModel).where(ClaimModel.case_id == case_id)
                         .order_by(ClaimModel.revision.desc()).limit(1))
    return _read(row) if row else None


def _stored(value: Any) -> Any:
    return None if value in (None, "") else value


def confirm_claim(session: Session, case_id: int, persons: Mapping[str, PersonModel | None], actor: str) -> int:
    """Bring the spouses' records to what the case's current claim says, keeping each change; return how many.

    Called when a verification confirms the claim (情况属实). Confirming the same claim again changes nothing.
    """
    claim = latest_claim(session, case_id)
    if claim is None:
        return 0
    changed = 0
    now = utcnow()
    for side in SPOUSES:
        person = persons.get(side)
        if person is None:
            continue
        given = claim.spouse(side)
        for field in PERSON_FIELDS:
            new = _stored(given.get(field))
            old = getattr(person, field)
            if new == old:
                continue
            session.add(PersonChangeModel(person_id=person.id, case_id=case_id, claim_id=claim.id, field=field,
                                          old_value=old, new_value=new, actor=actor, at=now))
            setattr(person, field, new)
            changed += 1
        person.verified_at = now
    session.flush()
    refresh_places(session, [person.id for person in persons.values() if person is not None])
    return changed


def history(session: Session, person_id: int) -> list[PersonChangeModel]:
    """Return the verified changes to a person's record, oldest first."""
    return list(session.scalars(select(PersonChangeModel).where(PersonChangeModel.person_id == person_id)
                                .order_by(PersonChangeModel.id)))


def differences(claimed: Mapping[str, Any], person: PersonModel | None) -> set[str]:
    """Return the fields where a claim differs from the verified record (nothing differs from an unverified one)."""
    if person is None or person.verified_at is None:
        return set()
    return {field for field in PERSON_FIELDS
            if _stored(claimed.get(field)) != getattr(person, field)}


def persons_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, PersonModel]:
    """Return the persons with these ids."""
    wanted = {ident for ident in ids if ident is not None}
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(PersonModel).where(PersonModel.id.in_(wanted)))}


def _place_rows(person_ids: Iterable[int] | None = None):
    """Return the select of every place (PLACE_COLUMNS) a person belongs to, for some persons or all."""
    person, case = PersonModel, CaseModel
    only = (lambda column: [column.in_(list(person_ids))]) if person_ids is not None else (lambda _column: [])
    arms = [select(person.id, person.hukou_division, literal(1), person.name, func.substr(person.hukou_division, 1, 6))
            .where(person.hukou_division.is_not(None), *only(person.id)),
            select(person.id, person.residence_division, literal(2), person.name,
                   func.substr(person.residence_division, 1, 6))
            .where(person.residence_division.is_not(None), *only(person.id))]
    for spouse in (case.woman_id, case.man_id):
        for rank, column in ((3, case.hukou_division), (4, case.residence_division)):
            arms.append(select(spouse, column, literal(rank), person.name, func.substr(column, 1, 6))
                        .join(person, person.id == spouse).where(*only(spouse)))
    return union(*arms)


PLACE_COLUMNS = ["person_id", "division_code", "rank", "name", "county_code"]


def refresh_places(session: Session, person_ids: Iterable[int]) -> None:
    """Derive the places of these persons again (after a submission, a correction or a verification; flush only)."""
    ids = sorted(set(person_ids))
    if not ids:
        return
    session.flush()
    session.execute(delete(PersonPlaceModel).where(PersonPlaceModel.person_id.in_(ids)))
    session.execute(insert(PersonPlaceModel).from_select(PLACE_COLUMNS, _place_rows(ids)))


def rebuild_places(session: Session) -> None:
    """Derive every person's places from scratch (a bulk load, or a check that nothing drifted; flush only)."""
    session.execute(delete(PersonPlaceModel))
    session.execute(insert(PersonPlaceModel).from_select(PLACE_COLUMNS, _place_rows()))
