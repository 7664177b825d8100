"""Background work: performing outbox rows and firing timers, each in its own transaction."""

import logging
import threading
import time

from engine.runtime import Outcome
from processes.runtime import RUNTIME
from services import audit, holidays, sessions, statistics
from services.db import db

log = logging.getLogger(__name__)


def perform_outbox(outbox_id: int) -> Outcome:
    """Perform one service task and commit; the commit dispatches whatever the case does next."""
    with db.factory() as session:
        outcome = RUNTIME.perform(session, outbox_id)
        session.commit()
    if outcome.status in {"retry", "incident"}:
        log.warning("service task %s: %s (%s)", outbox_id, outcome.status, outcome.error)
    return outcome


def tick() -> dict[str, int]:
    """Fire every due timer, hand the due outbox rows (retries, lost messages) to the dispatcher, and purge the audit
    events past their retention and the sign-in sessions long over."""
    with db.factory() as session:
        due = RUNTIME.due_timers(session)
    fired = 0
    for instance_id in due:
        with db.factory() as session:
            fired += RUNTIME.fire_timers(session, instance_id)
            session.commit()
    with db.factory() as session:
        outbox = RUNTIME.due_outbox(session)
    if outbox:
        db.dispatcher(outbox)
    with db.factory() as session:  # audit events past their retention (the chain stays verifiable)
        audit.purge_expired(session)
        session.commit()
    with db.factory() as session:  # sign-in sessions long ended or dead
        sessions.purge(session)
        session.commit()
    with db.factory() as session:  # the statistics tally, rebuilt when missing or its overdue cut has moved
        statistics.keep_fresh(session)
        session.commit()
    with db.factory() as session:  # deadlines past the holiday table are counted Monday to Friday only
        holidays.log_table_warning(session)
    return {"timers": fired, "outbox": len(outbox)}


def start_scheduler(seconds: int) -> threading.Thread:
    """Tick every `seconds` in a daemon thread (embedded default; production uses Celery beat)."""

    def loop() -> None:
        while True:
            time.sleep(seconds)
            try:
                tick()
            except Exception:
                log.exception("tick failed")

    thread = threading.Thread(target=loop, name="tick", daemon=True)
    thread.start()
    return thread
