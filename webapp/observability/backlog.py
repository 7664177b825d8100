"""How far background work is behind, read from indexed columns only (so a scrape or a readiness probe stays cheap):
the oldest due service task, the oldest overdue timer, failing service tasks, open and overdue user tasks by role."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.models import HumanTaskModel, OutboxModel, ProcessInstanceModel


def _age(since: datetime | None, now: datetime) -> float:
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0


def outbox_lag(session: Session) -> float:
    """Return how long, in seconds, the oldest due service task of a running case has been waiting (0: none).

    It is what a stopped worker or broker looks like: rows whose attempt was due and that nobody performed. A
    suspended case's calls wait on purpose and do not count. (Index: service_outbox (status, next_attempt_at).)
    """
    now = utcnow()
    oldest = session.scalar(
        select(func.min(OutboxModel.next_attempt_at))
        .join(ProcessInstanceModel, ProcessInstanceModel.id == OutboxModel.instance_id)
        .where(OutboxModel.status == "pending", OutboxModel.next_attempt_at <= now,
               ProcessInstanceModel.status == "running"))
    return _age(oldest, now)


def timer_lag(session: Session) -> float:
    """Return how long, in seconds, the oldest timer of a running case has been overdue (0: none); a stopped beat
    or tick shows here. (Index: process_instance.next_timer_at.)"""
    now = utcnow()
    oldest = session.scalar(select(func.min(ProcessInstanceModel.next_timer_at)).where(
        ProcessInstanceModel.status == "running", ProcessInstanceModel.next_timer_at <= now))
    return _age(oldest, now)


@dataclass(frozen=True)
class OutboxTrouble:
    """Service tasks being retried after a failure, and those that became incidents."""

    retrying: int
    incidents: int


def outbox_trouble(session: Session) -> OutboxTrouble:
    """Count the service tasks that failed at least once and wait for another attempt, and the incidents."""
    retrying = session.scalar(select(func.count()).where(OutboxModel.status == "pending", OutboxModel.attempts > 0))
    incidents = session.scalar(select(func.count()).where(OutboxModel.status == "incident"))
    return OutboxTrouble(retrying or 0, incidents or 0)


def open_tasks_by_role(session: Session) -> dict[str, tuple[int, int]]:
    """Return {role: (open user tasks, of which overdue)}; one pass over the inbox index (status, role, …, due_at)."""
    now = utcnow()
    overdue = func.sum(case((HumanTaskModel.due_at < now, 1), else_=0))
    rows = session.execute(select(HumanTaskModel.role, func.count(), overdue)
                           .where(HumanTaskModel.status == "open").group_by(HumanTaskModel.role))
    return {role: (count, int(late or 0)) for role, count, late in rows}
