"""Background work: performing outbox rows and firing timers, each in its own transaction."""

import logging
import threading
import time
from collections.abc import Callable, Iterable

from engine.runtime import Outcome
from processes.runtime import RUNTIME
from services import audit, holidays, sessions, statistics
from services.db import db

log = logging.getLogger(__name__)


def perform_outbox(outbox_id: int) -> Outcome:
    """Perform one service task (the engine commits its claim, then its outcome, which dispatches what follows)."""
    with db.factory() as session:
        outcome = RUNTIME.perform(session, outbox_id)
    if outcome.status in {"retry", "incident"}:
        log.warning("service task %s: %s (%s)", outbox_id, outcome.status, outcome.error)
    return outcome


def hand_to_queue(ids: Iterable[int], send: Callable[[int], object]) -> None:
    """Mark the rows queued, then `send` each to the queue; rows queued already, or held by a performer, are left.

    Marked first, so a performer that takes a row at once never finds its claim overwritten; a row whose sending
    failed is unmarked again, so the next tick hands it over rather than waiting out the mark.
    """
    with db.factory() as session:
        marked = RUNTIME.mark_queued(session, ids)
        session.commit()
    for position, outbox_id in enumerate(marked):
        try:
            send(outbox_id)
        except Exception:
            with db.factory() as session:
                RUNTIME.unmark_queued(session, marked[position:])
                session.commit()
            raise


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
        db.dispatch(outbox)
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
