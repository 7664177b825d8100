"""Helpers shared by the test suite and the benchmarks (no fixtures here: see tests/fixtures.py)."""

from sqlalchemy import create_engine, text

import webapp.models  # noqa: F401 - registers every table, so drop_all drops those no imported module has named yet
from engine.db import Base


def reset_schema(url: str) -> None:
    """Drop every table of the product (and Alembic's version) from the database at `url`."""
    engine = create_engine(url)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
