"""Celery wiring: the app-bound Celery instance, the outbox task, and the beat schedule for timers."""

from collections.abc import Iterable

from celery import Celery, Task, shared_task
from flask import Flask

from processes import background, definitions_admin


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
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        beat_schedule={"tick": {"task": "birthreg.tick", "schedule": float(app.config["TICK_SECONDS"] or 60)}},
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery


@shared_task(name="birthreg.perform_outbox", bind=True)
def perform_outbox_task(self: Task, outbox_id: int) -> str:
    """Perform one service task; a failure is retried after the engine's backoff."""
    outcome = background.perform_outbox(outbox_id)
    if outcome.status == "retry" and outcome.retry_in is not None:
        self.apply_async((outbox_id,), countdown=outcome.retry_in.total_seconds())
    return outcome.status


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
    """Hand committed outbox rows to the workers."""
    for outbox_id in ids:
        perform_outbox_task.delay(outbox_id)
