"""The request id travels with the Celery tasks a request queued: it is written into each task message's headers
when published (before_task_publish) and made current in the worker while the task runs (task_prerun), so the
worker's log lines of an outbox row carry the id of the request that made it. Task outcomes are counted too."""

import logging
import time

from celery import signals

from webapp.observability import context, metrics

log = logging.getLogger("birthreg.tasks")

HEADER = "request_id"
# The request id bound by each running task (by task id), and when it started: restored when it ends.
_running: dict[str, tuple[object, float]] = {}


def _publish_with_request_id(headers: dict | None = None, **_kwargs) -> None:
    if headers is not None and not headers.get(HEADER):
        current = context.current()
        if current:
            headers[HEADER] = current


def _start(task_id: str | None = None, task=None, **_kwargs) -> None:
    # A task queued outside any request (the beat's tick) gets an id of its own, which the work it queues inherits.
    request_id = context.accepted(task.request.get(HEADER) if task is not None else None)
    _running[task_id or ""] = (context.bind(request_id), time.perf_counter())
    log.info("%s started", getattr(task, "name", "task"), extra={"task": getattr(task, "name", None),
                                                                  "task_id": task_id})


def _finish(task_id: str | None = None, task=None, state: str | None = None, **_kwargs) -> None:
    token, started = _running.pop(task_id or "", (None, time.perf_counter()))
    log.info("%s %s", getattr(task, "name", "task"), state or "finished",
             extra={"task": getattr(task, "name", None), "task_id": task_id, "outcome": state,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
    if token is not None:
        context.unbind(token)


def _counter(outcome: str):
    def count(sender=None, **_kwargs) -> None:
        metrics.count_task_outcome(getattr(sender, "name", str(sender)), outcome)

    return count


_OUTCOMES = {"success": signals.task_success, "failure": signals.task_failure, "retry": signals.task_retry}
_COUNTERS = {outcome: _counter(outcome) for outcome in _OUTCOMES}


def _keep_our_logging(**_kwargs) -> None:
    """Receive setup_logging: its having a receiver tells Celery to leave the app's JSON logging as it is."""


def connect(log_format: str) -> None:
    """Connect the hooks (idempotent: Celery's signals keep one receiver per dispatch_uid)."""
    signals.before_task_publish.connect(_publish_with_request_id, weak=False, dispatch_uid="birthreg.request_id")
    signals.task_prerun.connect(_start, weak=False, dispatch_uid="birthreg.task_start")
    signals.task_postrun.connect(_finish, weak=False, dispatch_uid="birthreg.task_finish")
    for outcome, signal in _OUTCOMES.items():
        signal.connect(_COUNTERS[outcome], weak=False, dispatch_uid=f"birthreg.task_{outcome}")
    if log_format == "json":
        # Otherwise the worker replaces the root logger's handlers with its own text format at start.
        signals.setup_logging.connect(_keep_our_logging, weak=False, dispatch_uid="birthreg.logging")
