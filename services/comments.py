"""Comments staff leave on a case for each other (内部意见): never shown to the citizen."""

from datetime import datetime

from sqlalchemy import ForeignKey, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow

MAX_LENGTH = 500


class CaseCommentModel(Base):
    """One comment: who wrote what on which case, and when."""

    __tablename__ = "case_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("birth_case.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def add_comment(session: Session, case_id: int, author_id: int, body: str) -> CaseCommentModel:
    """Keep a comment (the caller has checked that the author may see the case)."""
    body = (body or "").strip()
    if not body or len(body) > MAX_LENGTH:
        raise ValueError(f"意见应为 1 至 {MAX_LENGTH} 个字")
    comment = CaseCommentModel(case_id=case_id, author_id=author_id, body=body)
    session.add(comment)
    return comment


def comments_of(session: Session, case_id: int) -> list[CaseCommentModel]:
    """Return a case's comments, oldest first."""
    return list(session.scalars(select(CaseCommentModel).where(CaseCommentModel.case_id == case_id)
                                .order_by(CaseCommentModel.id)))
