"""Slips a case produces once approved: the 生育服务登记单 (or the approval slip) and its verification code."""

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow


class SlipModel(Base):
    """An issued slip: printable by the citizen and the service hall, verifiable by its code."""

    __tablename__ = "slip"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("birth_case.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    verification_code: Mapped[str] = mapped_column(String(32), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def issue_slip(session: Session, case_id: int, kind: str) -> SlipModel:
    """Issue the slip of a case (once: a repeated call returns the slip already issued)."""
    slip = session.scalar(select(SlipModel).where(SlipModel.case_id == case_id))
    if slip is None:
        slip = SlipModel(case_id=case_id, kind=kind, verification_code=secrets.token_hex(16))
        session.add(slip)
        session.flush()
    return slip
