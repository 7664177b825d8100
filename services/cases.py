"""Cases (受理的申请) and the verification and audit results recorded on them.

Routing and reporting fields are indexed columns here, never read out of workflow state.
"""

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship

from engine.calendar import CST, load_calendar
from engine.db import Base, UTCDateTime, utcnow
from engine.models import ProcessInstanceModel
from services.case_timing import WorkingDays
from services.crypto import EncryptedString
from services.db import per_transaction

CASE_TYPES = {
    "first_child": "一孩登记",
    "second_child": "二孩登记",
    "third_child": "三孩审批",
}
PARITY_OF_TYPE = {"first_child": 1, "second_child": 2, "third_child": 3}
# Milestones after which nothing more happens to a case: they stamp `completed_at` (processing-time statistics).
FINAL_STATUSES = frozenset({"登记成功", "不予登记", "已批准", "不予批准"})
# The columns statistics count besides the division and submission time (see services.statistics).
STATISTICS_COLUMNS = ("case_type", "status", "completed_at", "processing_days", "on_time_within", "mother_age",
                      "father_age", "mother_ethnicity", "father_ethnicity")


class CaseModel(Base):
    """One application, from submission to its outcome."""

    __tablename__ = "birth_case"
    __table_args__ = (
        Index("ix_birth_case_type_status", "case_type", "status"),
        # Statistics select a division's cases by a code-prefix range, often within a date range. On PostgreSQL the
        # index also carries every column the statistics count, so a county's cases are read from the index alone
        # (an index-only scan) instead of from thousands of scattered table pages.
        Index("ix_birth_case_hukou_submitted", "hukou_division", "submitted_at",
              postgresql_include=list(STATISTICS_COLUMNS)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_number: Mapped[str] = mapped_column(String(20), unique=True)
    case_type: Mapped[str] = mapped_column(String(20))
    process_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(30), default="办理中")
    applicant_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    woman_name: Mapped[str] = mapped_column(String(50))
    man_name: Mapped[str] = mapped_column(String(50))
    contact_phone: Mapped[str] = mapped_column(EncryptedString)
    hukou_division: Mapped[str] = mapped_column(String(12))
    residence_division: Mapped[str] = mapped_column(String(12), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    instance: Mapped[ProcessInstanceModel | None] = relationship()
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Working days taken, stamped with `completed_at` (see services.case_timing); statistics count them in SQL.
    processing_days: Mapped[int | None] = mapped_column(SmallInteger)
    on_time_within: Mapped[int | None] = mapped_column(SmallInteger)
    # The spouses as persons, and the reporting fields copied from them at submission (statistics never join).
    parity: Mapped[int | None] = mapped_column(SmallInteger)
    woman_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    man_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    mother_age: Mapped[int | None] = mapped_column(SmallInteger)
    father_age: Mapped[int | None] = mapped_column(SmallInteger)
    mother_ethnicity: Mapped[str | None] = mapped_column(String(2))
    father_ethnicity: Mapped[str | None] = mapped_column(String(2))

    @property
    def type_label(self) -> str:
        """Return the Chinese name of the case type."""
        return CASE_TYPES.get(self.case_type, self.case_type)


class VerificationModel(Base):
    """One verification, audit or confirmation result: who, which office, when, what, why."""

    __tablename__ = "case_verification"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("birth_case.id"), index=True)
    step: Mapped[str] = mapped_column(String(100))
    step_name: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(100))
    office_division: Mapped[str | None] = mapped_column(String(12))
    decision: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def new_case_number(session: Session) -> str:
    """Return an unused case number (受理编号): the China date and six random digits."""
    today = utcnow().astimezone(CST).strftime("%Y%m%d")
    while True:
        number = f"{today}{secrets.randbelow(10**6):06d}"
        if session.scalar(select(CaseModel.id).where(CaseModel.case_number == number)) is None:
            return number


def create_case(session: Session, **fields) -> CaseModel:
    """Create a case with a fresh case number; it is written with the transaction's next flush."""
    case = CaseModel(case_number=new_case_number(session), **fields)
    session.add(case)
    per_transaction(session).setdefault("cases", {})[case.case_number] = case
    return case


def get_case(session: Session, case_number: str) -> CaseModel | None:
    """Return the case with this case number (looked up once per transaction)."""
    memo = per_transaction(session).setdefault("cases", {})
    if case_number not in memo:
        memo[case_number] = session.scalar(select(CaseModel).where(CaseModel.case_number == case_number))
    return memo[case_number]


def set_status(case: CaseModel, status: str) -> None:
    """Set the citizen-facing status of a case."""
    case.status, case.status_changed_at = status, utcnow()
    if status in FINAL_STATUSES and case.completed_at is None:
        case.completed_at = case.status_changed_at
        days = WorkingDays(load_calendar(object_session(case)), origin=case.submitted_at.astimezone(CST).date())
        timing = days.stamp(case.submitted_at, case.completed_at)
        case.processing_days, case.on_time_within = timing["processing_days"], timing["on_time_within"]


def record_verification(session: Session, case: CaseModel, **fields) -> VerificationModel:
    """Keep one verification or audit result as its own row."""
    record = VerificationModel(case_id=case.id, **fields)
    session.add(record)
    return record


def verifications(session: Session, case: CaseModel) -> list[VerificationModel]:
    """Return the results recorded on a case, oldest first."""
    return list(session.scalars(
        select(VerificationModel).where(VerificationModel.case_id == case.id).order_by(VerificationModel.id)
    ))
