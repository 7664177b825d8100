"""Helpers shared by the test suite and the benchmarks (no fixtures here: see tests/fixtures.py)."""

import os
import tempfile
from pathlib import Path

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


def configure_benchmark_keys() -> None:
    """Give a benchmark that runs without the app the keys that seal numbers (DATA_KEYS and INDEX_KEY if set, else
    keys kept in the temporary folder, so a database filled by one run is readable by the next)."""
    from services import crypto

    crypto.configure(os.environ.get("DATA_KEYS", ""), os.environ.get("INDEX_KEY", ""),
                     Path(tempfile.gettempdir()) / "birthreg-bench-keys")
