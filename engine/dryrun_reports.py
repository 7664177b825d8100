"""Stored dry-run reports, one per definition content (sha256), so the review page never runs diagram code itself.

A row is `running` from the moment a background run claims it, then `done` with the report as JSON, or `failed`
with what went wrong. A run that died (its process was killed, or a step stuck in C code outlived the deadline)
leaves its row running: once it is older than the deadline plus a margin, whoever reads it marks it failed.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow

RUNNING, DONE, FAILED = "running", "done", "failed"


class DryRunReportModel(Base):
    """The dry run of one definition content: running since `started_at`, done with `report`, or failed."""

    __tablename__ = "dry_run_report"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    problem: Mapped[str] = mapped_column(String(200), default="")


def stored(session: Session, sha256: str, stale_after: timedelta) -> DryRunReportModel | None:
    """Return the report row of `sha256`, if any; a running row older than `stale_after` is marked failed first."""
    row = session.get(DryRunReportModel, sha256)
    if row is not None and row.status == RUNNING and utcnow() - row.started_at > stale_after:
        row.status, row.finished_at = FAILED, utcnow()
        row.problem = f"试运行超过 {stale_after.total_seconds():g} 秒仍未结束，已中止（运行它的进程可能已退出）"
        session.flush()
    return row


def claim(session: Session, sha256: str) -> bool:
    """Mark `sha256` running and return True, unless a row exists already (running, done or failed)."""
    if session.get(DryRunReportModel, sha256, with_for_update=True) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(DryRunReportModel(sha256=sha256, status=RUNNING, started_at=utcnow()))
    except IntegrityError:  # claimed at the same moment by another run
        return False
    return True


def finish(session: Session, sha256: str, report: dict[str, Any] | None, problem: str = "") -> None:
    """Store the outcome of a run: `report` when it ran to its end, else `problem` (it failed)."""
    row = session.get(DryRunReportModel, sha256, with_for_update=True)
    if row is None:
        row = DryRunReportModel(sha256=sha256, started_at=utcnow())
        session.add(row)
    row.status = DONE if report is not None else FAILED
    row.report, row.problem, row.finished_at = report, problem[:200], utcnow()
    session.flush()


def forget(session: Session, sha256: str) -> bool:
    """Drop the stored report of `sha256` so that it runs again; refused (False) while a run is under way."""
    row = session.get(DryRunReportModel, sha256, with_for_update=True)
    if row is not None and row.status == RUNNING:
        return False
    if row is not None:
        session.delete(row)
        session.flush()
    return True
