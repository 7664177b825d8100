"""Health probes: `/healthz` (the process answers; touches nothing) and `/readyz` (the service can do its work).

`/readyz` checks the database (and how long `SELECT 1` took), the broker when BACKGROUND=celery, the outbox and timer
lag (a stopped worker or beat shows there), the free space of UPLOAD_DIR and that the database carries the migration
head this code expects. It answers 200 when all pass, 503 naming the failing checks. Bodies hold figures and check
names only: no address, no URL, no exception text (which may quote a connection string).

Both are answered before the app's request handling (webapp.observability.OperatorPaths): no session, no cookie,
no rate limit, and any Host header, since load balancers probe by address and these answers hold no link.
"""

import json
import shutil
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Flask
from kombu import Connection
from sqlalchemy import text
from sqlalchemy.orm import Session
from werkzeug.wrappers import Request, Response

from services.db import db, deferred_begin
from webapp.migrations import alembic_config
from webapp.observability import backlog

BROKER_TIMEOUT_SECONDS = 2
DATABASE_DOWN = {"ok": False, "error": "database unreachable"}


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def live(_app: Flask, _request: Request) -> Response:
    """Answer /healthz: the process is up and serving (nothing else is looked at)."""
    return _json({"status": "ok"})


@cache
def expected_heads() -> frozenset[str]:
    """Return the migration heads of this code (read once: the files do not change under a running process)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def _milliseconds(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


def _database(session: Session) -> dict:
    started = time.perf_counter()
    session.execute(text("SELECT 1"))
    return {"ok": True, "latency_ms": _milliseconds(started)}


def _migrations(session: Session) -> dict:
    applied = set(session.scalars(text("SELECT version_num FROM alembic_version")))
    expected = expected_heads()
    return {"ok": applied == expected, "applied": sorted(applied), "expected": sorted(expected)}


def _lag(seconds: float, limit: int) -> dict:
    return {"ok": seconds <= limit, "lag_seconds": round(seconds, 1), "limit_seconds": limit}


def _broker(url: str) -> dict:
    started = time.perf_counter()
    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                         timeout=BROKER_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the answer; its text may hold the URL
        return {"ok": False, "error": f"unreachable ({type(exc).__name__})"}
    return {"ok": True, "latency_ms": _milliseconds(started)}


def _disk(upload_dir: Path, minimum_mb: int) -> dict:
    existing = next(path for path in (upload_dir, *upload_dir.parents) if path.exists())
    free_mb = shutil.disk_usage(existing).free // (1024 * 1024)
    return {"ok": free_mb >= minimum_mb, "free_mb": free_mb, "min_mb": minimum_mb}


def _database_checks(config: dict) -> dict[str, dict]:
    """Run the checks that read the database (read-only: on SQLite they take no write lock); when it cannot be
    reached, all of them fail."""
    checks: dict[str, dict] = {}
    try:
        with deferred_begin(), db.factory() as session:
            checks["database"] = _database(session)
            checks["outbox"] = _lag(backlog.outbox_lag(session), config["READY_OUTBOX_LAG_SECONDS"])
            checks["timers"] = _lag(backlog.timer_lag(session), config["READY_TIMER_LAG_SECONDS"])
            checks["migrations"] = _migrations(session)
    except Exception:  # noqa: BLE001 - a readiness probe answers 503, it does not raise
        if checks.get("database", {}).get("ok"):  # reachable, but the schema is not this code's
            checks.setdefault("outbox", {"ok": False, "error": "schema not migrated"})
            checks.setdefault("timers", {"ok": False, "error": "schema not migrated"})
            checks["migrations"] = {"ok": False, "error": "schema not migrated", "expected": sorted(expected_heads())}
        for name in ("database", "outbox", "timers", "migrations"):
            checks.setdefault(name, DATABASE_DOWN)
    return checks


def checks_of(app: Flask) -> dict[str, dict]:
    """Run every readiness check of `app` and return them by name."""
    config = app.config
    with app.app_context():
        checks = _database_checks(config)
    if config["BACKGROUND"] == "celery":
        checks["broker"] = _broker(config["CELERY_BROKER_URL"])
    checks["disk"] = _disk(Path(config["UPLOAD_DIR"]), config["READY_MIN_FREE_MB"])
    return checks


def ready(app: Flask, _request: Request) -> Response:
    """Answer /readyz: 200 when every check passes, 503 with the failing ones named."""
    checks = checks_of(app)
    failing = sorted(name for name, check in checks.items() if not check["ok"])
    body = {"status": "failing" if failing else "ok", "failing": failing, "checks": checks}
    return _json(body, 503 if failing else 200)


PROBES: dict[str, Callable[[Flask, Request], Response]] = {"/healthz": live, "/readyz": ready}
