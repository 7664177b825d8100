"""Helpers shared by the test suite and the benchmarks (no fixtures here: see tests/fixtures.py)."""

import os
import tempfile
from pathlib import Path

from sqlalchemy import MetaData, create_engine, text


def reset_schema(url: str) -> None:
    """Empty the database at `url` of everything a migration may have made, whatever revision made it.

    Dropping the tables the code knows today would leave behind a table a later revision removed, or a function a
    trigger used, and the migrations would then fail to create them again. On PostgreSQL the schema goes whole; on
    SQLite every table found is dropped.
    """
    engine = create_engine(url)
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            found = MetaData()
            found.reflect(connection)
            found.drop_all(connection)
    engine.dispose()


def configure_benchmark_keys() -> None:
    """Give a benchmark that runs without the app the keys that seal numbers (DATA_KEYS and INDEX_KEY if set, else
    keys kept in the temporary folder, so a database filled by one run is readable by the next)."""
    from services import crypto

    crypto.configure(os.environ.get("DATA_KEYS", ""), os.environ.get("INDEX_KEY", ""),
                     Path(tempfile.gettempdir()) / "birthreg-bench-keys")
