"""Celery wiring: the app-bound Celery instance, the outbox task, and the beat schedule for timers."""

from collections.abc import Iterable

from celery import Celery, Task, shared_task
from flask import Flask

from processes import background, definitions_admin
from processes.runtime import RUNTIME
from webapp.observability import celery_signals

# Hard limit of one task run: half the lease a performer's claim holds its outbox row by, so a run the limit ends is
# over long before another performer may take the row. The soft limit raises in the task first, to fail cleanly.
TASK_TIME_LIMIT = int(RUNTIME.retry_policy.lease.total_seconds() // 2)
TASK_SOFT_TIME_LIMIT = TASK_TIME_LIMIT - 30
# Redis redelivers a message not acknowledged within this time. With late acknowledgement and a prefetch of one, a
# message waits unacknowledged behind at most one running task and then runs itself: twice the time limit, plus a
# margin, so a live worker's message is never delivered twice, and a dead worker's comes back within the hour.
VISIBILITY_TIMEOUT = 2 * TASK_TIME_LIMIT + 300


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
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
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
