"""Prometheus metrics: what requests, user tasks and Celery tasks did (counted where they happen), and the backlog of
background work (read from the database at scrape time).

Under gunicorn every worker process counts on its own; with PROMETHEUS_MULTIPROC_DIR set (before the app is
imported) prometheus_client keeps the counts in files there and a scrape adds up the files of every process, and of
the Celery worker's directory (METRICS_WORKER_DIR) when the web is told where it is.
"""

import glob
import hmac
import logging
import os
from ipaddress import ip_address

from flask import Flask
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event
from sqlalchemy.orm import Session, attributes
from werkzeug.wrappers import Request, Response

from engine.models import HumanTaskModel
from services.db import db, deferred_begin
from webapp.observability import backlog

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "birthreg_http_request_duration_seconds", "Time to answer a request, by Flask endpoint and status class",
    ["endpoint", "status_class"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
TASKS_COMPLETED = Counter(
    "birthreg_human_tasks_completed_total", "User tasks completed (committed), by process key and BPMN task id",
    ["process", "task"])
CELERY_TASKS = Counter(
    "birthreg_celery_tasks_total", "Celery task runs by task name and outcome (success, failure, retry)",
    ["task", "outcome"])

# The one answer a refused scrape gets: it names nothing of the site.
REFUSED = "metrics are served to allowed addresses and to the metrics token only\n"


def status_class(status: int) -> str:
    """Return `2xx`, `4xx`, … for an HTTP status."""
    return f"{status // 100}xx"


def observe_request(endpoint: str | None, status: int, seconds: float) -> None:
    """Count one answered request under its endpoint's name (never the raw path: one series per route)."""
    REQUEST_SECONDS.labels(endpoint or "unmatched", status_class(status)).observe(seconds)


def count_task_outcome(task: str, outcome: str) -> None:
    """Count one run of a Celery task and how it ended."""
    CELERY_TASKS.labels(task, outcome).inc()


# -- user task completions: counted when their transaction commits, so a rolled-back completion never counts --

PENDING_KEY = "birthreg_completed_tasks"


def _note_completions(session: Session, _context) -> None:
    for obj in session.dirty:
        if isinstance(obj, HumanTaskModel) and "completed" in attributes.get_history(obj, "status").added:
            session.info.setdefault(PENDING_KEY, []).append((obj.process_key, obj.bpmn_id))


def _count_completions(session: Session) -> None:
    for process_key, bpmn_id in session.info.pop(PENDING_KEY, []):
        TASKS_COMPLETED.labels(process_key, bpmn_id).inc()


def _forget_completions(session: Session, _transaction=None) -> None:
    session.info.pop(PENDING_KEY, None)


def watch_task_completions() -> None:
    """Count completed user tasks on every session of the app's database (idempotent)."""
    for name, listener in (("after_flush", _note_completions), ("after_commit", _count_completions),
                           ("after_rollback", _forget_completions)):
        if not event.contains(db.factory, name, listener):
            event.listen(db.factory, name, listener)


# -- the scrape --


class Backlog:
    """Gauges read from the database when scraped: outbox and timer lag, failing service tasks, open user tasks."""

    def collect(self):
        """Yield the gauges; a database that cannot answer yields birthreg_database_up 0 and nothing else."""
        up = GaugeMetricFamily("birthreg_database_up", "Whether the scrape could read the database")
        try:
            with deferred_begin(), db.factory() as session:
                families = list(self._read(session))
        except Exception:  # noqa: BLE001 - a scrape must still answer, saying the database is what failed
            log.warning("metrics: the database could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    @staticmethod
    def _read(session: Session):
        yield GaugeMetricFamily("birthreg_outbox_lag_seconds", "Age of the oldest due pending service task",
                                value=backlog.outbox_lag(session))
        trouble = backlog.outbox_trouble(session)
        yield GaugeMetricFamily("birthreg_outbox_retrying", "Service tasks waiting for a retry after a failure",
                                value=trouble.retrying)
        yield GaugeMetricFamily("birthreg_outbox_incidents", "Service tasks that became incidents",
                                value=trouble.incidents)
        yield GaugeMetricFamily("birthreg_timer_lag_seconds", "How long the oldest due timer has been overdue",
                                value=backlog.timer_lag(session))
        open_tasks = GaugeMetricFamily("birthreg_open_tasks", "Open user tasks by role", labels=["role"])
        overdue = GaugeMetricFamily("birthreg_overdue_tasks", "Open user tasks past their deadline by role",
                                    labels=["role"])
        for role, (count, late) in sorted(backlog.open_tasks_by_role(session).items()):
            open_tasks.add_metric([role], count)
            overdue.add_metric([role], late)
        yield open_tasks
        yield overdue


class ProcessFiles:
    """The counts every process of the web (and the Celery worker) left in its multiprocess directory, added up."""

    def __init__(self, directories: list[str]):
        self.directories = directories

    def collect(self):
        """Yield the merged metrics of every file in the directories (a missing directory has none)."""
        files = [path for directory in self.directories for path in glob.glob(os.path.join(directory, "*.db"))]
        return MultiProcessCollector.merge(files, accumulate=True)


def exposition(app: Flask) -> bytes:
    """Return the metrics in Prometheus' text format."""
    registry = CollectorRegistry()
    registry.register(Backlog())
    own_directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not own_directory:  # one process (flask start, tests): its own registry holds the counts
        return generate_latest(REGISTRY) + generate_latest(registry)
    worker_directory = app.config["METRICS_WORKER_DIR"]
    registry.register(ProcessFiles([own_directory, *([worker_directory] if worker_directory else [])]))
    return generate_latest(registry)


def _allowed(app: Flask, request: Request) -> bool:
    token = app.config["METRICS_TOKEN"]
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode()):
        return True
    # A request relayed by a proxy that is not trusted may come from anywhere: its peer address says nothing.
    if "X-Forwarded-For" in request.headers and not app.config["TRUSTED_PROXIES"]:
        return False
    try:
        address = ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in app.config["METRICS_NETWORKS"])


def scrape(app: Flask, request: Request) -> Response:
    """Answer GET /metrics: the metrics to an allowed address or the token's bearer, 403 to anyone else."""
    if not _allowed(app, request):
        return Response(REFUSED, status=403, mimetype="text/plain")
    with app.app_context():
        body = exposition(app)
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
