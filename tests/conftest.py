"""Shared fixtures: one app per test session on TEST_DATABASE_URL (SQLite by default), clean tables per test."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.db import Base
from processes.definitions_admin import DRY_RUN_THREADS
from services import holidays, mail, notifications, rate_limits
from services.db import db, deferred_begin
from tests.support import reset_schema
from webapp import create_app
from webapp.migrations import upgrade

# Reference data loaded once per session and kept across tests.
REFERENCE_TABLES = {"division", "holiday", "alembic_version"}

pytest_plugins = ["tests.fixtures"]


SQLITE_FILE = Path(tempfile.gettempdir()) / f"birthreg-test-{os.getpid()}.db"


def _database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{SQLITE_FILE}"


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The application, migrated, with the demo divisions and the holiday table loaded."""
    url = _database_url()
    # Every test session starts from an empty database, so the migrations themselves are exercised.
    reset_schema(url)
    upgrade(url)
    application = create_app(DATABASE_URL=url, INSTANCE_DIR=tmp_path_factory.mktemp("instance"), TESTING=True,
                             TICK_SECONDS=0, BACKGROUND="inline",
                             SECRET_KEY="test", WTF_CSRF_ENABLED=True)
    from services import divisions

    with application.app_context():
        divisions.import_demo_divisions(db.session)
        holidays.import_holidays(db.session)
        db.session.commit()
    yield application
    db.session.remove()
    db.engine.dispose()
    for leftover in SQLITE_FILE.parent.glob(SQLITE_FILE.name + "*"):
        leftover.unlink()


@pytest.fixture(autouse=True)
def _test_thread_reads_hold_no_lock():
    """On SQLite, the test's own thread begins its transactions DEFERRED.

    A test reads between the steps it drives (a timer tick, a browser click, a worker thread), each of which writes
    in a transaction of its own; a read transaction begun IMMEDIATE would keep them waiting. The app's own threads
    (the live server, the workers of the concurrency tests) still begin IMMEDIATE, as in production.
    """
    with deferred_begin():
        yield


@pytest.fixture(autouse=True)
def _clean_tables(request):
    """Empty every non-reference table, the embedded default's phones and mailboxes, and the rate limits after each
    test."""
    yield
    DRY_RUN_THREADS.join(timeout=60)  # dry runs the test's pages started in the background write until they end
    notifications.DELIVERED.clear()
    mail.DELIVERED.clear()
    rate_limits.reset()
    if "app" not in request.fixturenames:
        return
    db.session.rollback()
    db.session.remove()
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in REFERENCE_TABLES]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(t.name for t in tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def session(app):
    """The request-scoped session, inside an application context."""
    with app.app_context():
        yield db.session
        db.session.rollback()


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _postgres_missing() -> str | None:
    if _database_url().startswith("postgresql"):
        return None
    return "needs PostgreSQL: set TEST_DATABASE_URL=postgresql+psycopg://…"


def _redis_missing() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        return f"needs Redis at {REDIS_URL} (TEST_REDIS_URL): {exc}"
    return None


CHROMIUM = Path("/usr/bin/chromium")  # Debian's Chromium, which the browser tests drive (never a downloaded one)


def _chromium_missing() -> str | None:
    if CHROMIUM.exists():
        return None
    return f"needs Chromium at {CHROMIUM}: apt-get install chromium fonts-wqy-microhei"


def _poppler_missing() -> str | None:
    if shutil.which("pdftotext") and shutil.which("pdffonts") and shutil.which("pdftoppm"):
        return None
    return "needs poppler's pdftotext, pdffonts and pdftoppm: apt-get install poppler-utils"


SERVICE_CHECKS = {"postgres": _postgres_missing, "celery": _redis_missing, "e2e": _chromium_missing,
                  "poppler": _poppler_missing}


def pytest_collection_modifyitems(config, items):  # noqa: ARG001 - pytest hook signature
    """Outside CI, skip the tests whose service is missing; in CI they run, and fail on the missing service."""
    if os.environ.get("CI"):
        return
    reasons = {}
    for item in items:
        for marker, check in SERVICE_CHECKS.items():
            if marker in item.keywords:
                reasons.setdefault(marker, check())
                if reasons[marker]:
                    item.add_marker(pytest.mark.skip(reason=reasons[marker]))
