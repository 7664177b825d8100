"""Alembic environment: one metadata for all tables; SQLite gets batch mode for ALTERs."""

from alembic import context
from sqlalchemy import create_engine

from webapp.models import metadata

config = context.config


def run_migrations() -> None:
    """Run migrations online against the configured URL."""
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
