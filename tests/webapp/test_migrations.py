"""The Alembic migrations build exactly the schema the models describe, on the test database."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.db import db
from webapp.models import metadata


def test_migrated_schema_matches_the_models(app):  # noqa: ARG001 - the app fixture migrates the database
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == [], "run alembic revision --autogenerate and review it"
