"""Celery wiring: the app-bound Celery instance, the outbox task, and the beat schedule for timers."""

from collections.abc import Iterable

from celery import Celery, Task, shared_task
from celery.signals import worker_process_init
from flask import Flask

from processes import background, definitions_admin
from services.db import db
from webapp.observability import celery_signals

# Limits of the other tasks (the tick, which may rebuild the statistics tally; a dry run, which sets its own hard
# limit): service tasks have their own, far shorter ones (SERVICE_TASK_*), tied to the outbox lease.
HOUSEKEEPING_TIME_LIMIT = 150
HOUSEKEEPING_SOFT_TIME_LIMIT = 120


def visibility_timeout(config) -> int:
    """Return how long Redis waits before it redelivers a message nobody acknowledged.

    With late acknowledgement and a prefetch of one, a message waits unacknowledged behind at most one running task
    and then runs itself: twice the longest time limit plus a margin, so a live worker's message is never delivered
    twice. A killed child's message comes back at once (task_reject_on_worker_lost); only a killed main process's
    waits this long, and the tick's sweeper hands its rows over long before (OUTBOX_LEASE_SECONDS,
    OUTBOX_REQUEUE_SECONDS): the copy redelivered later finds its row done and is skipped.
    """
    return 2 * max(HOUSEKEEPING_TIME_LIMIT, config["SERVICE_TASK_TIME_LIMIT_SECONDS"]) + 300


def celery_init_app(app: Flask) -> Celery:
    """Create the Celery app for `app` (tasks run inside its application context)."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        task_ignore_result=True,
        # Acknowledged when done, and given back when the worker process dies, so no task is lost with a worker;
        # a message delivered again finds its outbox row claimed (the attempt counted) or done.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=HOUSEKEEPING_TIME_LIMIT,
        task_soft_time_limit=HOUSEKEEPING_SOFT_TIME_LIMIT,
        # A service task's attempt ends (soft: an exception, recorded as a failure and retried; hard: its process is
        # killed) before the lease on its outbox row runs out, so no second performer can take the row meanwhile.
        task_annotations={"birthreg.perform_outbox": {
            "soft_time_limit": app.config["SERVICE_TASK_SOFT_TIME_LIMIT_SECONDS"],
            "time_limit": app.config["SERVICE_TASK_TIME_LIMIT_SECONDS"]}},
        broker_transport_options={"visibility_timeout": visibility_timeout(app.config)},
        # A broker outage is waited out, however long, at start and while running.
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        # A running task finishes when the connection is lost (its acknowledgement may be lost: the message comes
        # back and finds the row done) rather than being cut off halfway through an outside call.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        beat_schedule={"tick": {"task": "birthreg.tick", "schedule": float(app.config["TICK_SECONDS"] or 60)}},
    )
    celery.set_default()
    # Request ids travel in task headers; task outcomes are counted; JSON logs survive the worker's start.
    celery_signals.connect(app.config["LOG_FORMAT"])
    app.extensions["celery"] = celery
    return celery


@worker_process_init.connect
def _own_connections(**_kwargs) -> None:
    """Give each pool process connections of its own: one inherited across the fork shares its socket with the
    parent and its siblings, so a ping or a query of one garbles the others' (and a dead one fails the first task
    after a database restart). Dropped without closing, which would close them for the parent too."""
    for engine in (db.engine, db.statistics_engine):
        if engine is not None:
            engine.dispose(close=False)


@shared_task(name="birthreg.perform_outbox")
def perform_outbox_task(outbox_id: int) -> str:
    """Perform one service task; a failure is retried after the engine's backoff, when the tick finds it due.

    (Not by a countdown here: Redis would hold such a message unacknowledged past its visibility timeout and deliver
    it twice, and it would be lost with the worker.)
    """
    return background.perform_outbox(outbox_id).status


@shared_task(name="birthreg.dry_run")
def dry_run_task(definition_id: int, seconds: float) -> str:
    """Dry-run a process version and store the report (the review page starts it, then shows what is stored).

    The run stops itself at its deadline; the caller sets a hard time limit for a worker stuck past it.
    """
    return definitions_admin.run_stored_dry_run(definition_id, seconds)


@shared_task(name="birthreg.tick")
def tick_task() -> dict[str, int]:
    """Fire due timers and re-dispatch due service tasks (Celery beat calls this)."""
    return background.tick()


def celery_dispatcher(ids: Iterable[int]) -> None:
    """Hand committed outbox rows to the workers, each once (raises when the broker cannot be reached)."""
    background.hand_to_queue(ids, perform_outbox_task.delay)
