"""People, not just forms: spouses stored once by ID number, and the children a couple declared.

A later application by the same couple finds them again, so known details are offered instead of asked for, and parity
(孩次) is checked against the registrations the couple already has.
"""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow

# The details a person keeps between applications (the ID number, birth date and sex follow from the number).
PERSON_FIELDS = ("name", "ethnicity", "phone", "employer", "employer_phone", "marital_status",
                 "hukou_division", "residence_division")


class PersonModel(Base):
    """A spouse, keyed by ID number; the latest details they gave."""

    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    ethnicity: Mapped[str] = mapped_column(String(2))
    phone: Mapped[str] = mapped_column(String(11))
    employer: Mapped[str] = mapped_column(String(100))
    employer_phone: Mapped[str] = mapped_column(String(20))
    marital_status: Mapped[str] = mapped_column(String(2))
    hukou_division: Mapped[str] = mapped_column(String(12))
    residence_division: Mapped[str] = mapped_column(String(12))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChildModel(Base):
    """A child a couple declared on a case (子女情况)."""

    __tablename__ = "case_child"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("birth_case.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    sex: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date] = mapped_column(Date)
    document_number: Mapped[str] = mapped_column(String(30))
    relation: Mapped[str] = mapped_column(String(20))


def find_person(session: Session, id_number: str) -> PersonModel | None:
    """Return the person with this ID number, if anyone has applied with it."""
    return session.scalar(select(PersonModel).where(PersonModel.id_number == id_number))


def save_person(session: Session, id_number: str, birth_date: date, sex: str, details: dict) -> PersonModel:
    """Create the person or bring their details up to date (flush only)."""
    person = find_person(session, id_number)
    if person is None:
        person = PersonModel(id_number=id_number, birth_date=birth_date, sex=sex)
        session.add(person)
    for field in PERSON_FIELDS:
        setattr(person, field, details[field])
    session.flush()
    return person
