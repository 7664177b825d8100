"""Applications (申报) a citizen is filling in: drafts that can be saved and resumed, then submitted once.

The answers are kept as the form gave them until submission turns them into persons, children and a case.
"""

import secrets
from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow
from services.crypto import EncryptedJSON

DRAFT, SUBMITTED = "draft", "submitted"


class ApplicationModel(Base):
    """A citizen's application for one registration type."""

    __tablename__ = "application"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The public handle in URLs: ids in URLs would let one citizen guess another's drafts.
    token: Mapped[str] = mapped_column(String(32), unique=True, default=lambda: secrets.token_urlsafe(16))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    case_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=DRAFT)
    # Sealed at rest: the answers hold both spouses' ID numbers and phones and the children's certificates.
    answers: Mapped[dict] = mapped_column(EncryptedJSON, default=dict)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("birth_case.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def start(session: Session, applicant_id: int, case_type: str) -> ApplicationModel:
    """Open a new draft (flush only)."""
    application = ApplicationModel(applicant_id=applicant_id, case_type=case_type, answers={})
    session.add(application)
    session.flush()
    return application


def of_applicant(session: Session, applicant_id: int, token: str, *, for_update: bool = False
                 ) -> ApplicationModel | None:
    """Return the applicant's application with this token; None for anyone else's (callers answer 404).

    Locked (`for_update`), the row is read again from the database even when the session already holds it: a
    request that waited for the lock must see what the request before it committed (a draft it submitted).
    """
    query = select(ApplicationModel).where(ApplicationModel.token == token,
                                           ApplicationModel.applicant_id == applicant_id)
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def drafts(session: Session, applicant_id: int) -> list[ApplicationModel]:
    """Return the applicant's unfinished drafts, newest first."""
    return list(session.scalars(
        select(ApplicationModel).where(ApplicationModel.applicant_id == applicant_id,
                                       ApplicationModel.status == DRAFT)
        .order_by(ApplicationModel.updated_at.desc())
    ))
