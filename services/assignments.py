"""Assignment rules kept as data: a lane or group name used in diagrams → a staff role and a jurisdiction field.

The policy administrator edits them; the engine consults them before the built-in role names, so a diagram may
introduce a lane such as "县级复核" and have its tasks routed without a code change.
"""

from datetime import datetime

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow
from engine.diagram import Assignment
from services import audit
from services.db import per_transaction

MEMO_KEY = "assignment_rules"


class AssignmentRuleModel(Base):
    """One rule: the name as written in a diagram's lane or candidateGroups, and where its tasks go."""

    __tablename__ = "assignment_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(50))
    jurisdiction_field: Mapped[str | None] = mapped_column(String(50))
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def list_rules(session: Session) -> list[AssignmentRuleModel]:
    """Return every rule, by name."""
    return list(session.scalars(select(AssignmentRuleModel).order_by(AssignmentRuleModel.name)))


def rules(session: Session) -> dict[str, Assignment]:
    """Return the rules as the engine's vocabulary reads them, read once per transaction (a bulk migration or a
    step opening several tasks asks for them again and again)."""
    memo = per_transaction(session)
    if MEMO_KEY not in memo:
        memo[MEMO_KEY] = {row.name: Assignment(row.role, row.jurisdiction_field) for row in list_rules(session)}
    return memo[MEMO_KEY]


def save_rule(session: Session, name: str, role: str, jurisdiction_field: str | None,
              actor: str) -> AssignmentRuleModel:
    """Create the rule for `name`, or change where its tasks go (the caller has checked role and field)."""
    row = session.scalar(select(AssignmentRuleModel).where(AssignmentRuleModel.name == name))
    if row is None:
        row = AssignmentRuleModel(name=name)
        session.add(row)
    before = {"role": row.role, "jurisdiction_field": row.jurisdiction_field} if row.id is not None else None
    row.role, row.jurisdiction_field, row.updated_by = role, jurisdiction_field or None, actor
    session.flush()
    audit.record(session, actor, "assignment_rule_saved", rule=name, before=before,
                 after={"role": row.role, "jurisdiction_field": row.jurisdiction_field})
    per_transaction(session).pop(MEMO_KEY, None)
    return row
