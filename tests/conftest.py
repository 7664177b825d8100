"""Shared fixtures: one app per test session on TEST_DATABASE_URL (SQLite by default), clean tables per test."""

import os
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.db import Base
from services import holidays
from services.db import db
from tests.support import reset_schema
from webapp import create_app
from webapp.migrations import upgrade

# Reference data loaded once per session and kept across tests.
REFERENCE_TABLES = {"division", "holiday", "alembic_version"}

pytest_plugins = ["tests.fixtures"]


def _database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{Path(tempfile.mkdtemp(prefix='birthreg-test-')) / 'test.db'}"


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The application, migrated, with the demo divisions and the holiday table loaded."""
    url = _database_url()
    os.environ.setdefault("BIRTHREG_INSTANCE_DIR", str(tmp_path_factory.mktemp("instance")))
    # Every test session starts from an empty database, so the migrations themselves are exercised.
    reset_schema(url)
    upgrade(url)
    application = create_app(DATABASE_URL=url, TESTING=True, TICK_SECONDS=0, BACKGROUND="inline",
                             SECRET_KEY="test", WTF_CSRF_ENABLED=True)
    from services import divisions

    with application.app_context():
        divisions.import_demo_divisions(db.session)
        holidays.import_holidays(db.session)
        db.session.commit()
    yield application
    db.session.remove()


@pytest.fixture(autouse=True)
def _clean_tables(request):
    """Empty every non-reference table after each test that used the database."""
    yield
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


def require_postgres() -> None:
    """Fail in CI, skip elsewhere, when the test database is not PostgreSQL."""
    if db.engine.dialect.name == "postgresql":
        return
    message = "this test needs PostgreSQL: set TEST_DATABASE_URL=postgresql+psycopg://…"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
