"""The database edge: outbox rows are dispatched after the outermost commit only, never at a SAVEPOINT."""

import pytest
from sqlalchemy import text

from engine.runtime import OUTBOX_SESSION_KEY
from services.db import db, per_transaction


@pytest.fixture
def dispatched(app, monkeypatch):  # noqa: ARG001 - the database must be configured
    """Record what the after-commit hook hands to the dispatcher."""
    calls: list[list[int]] = []
    monkeypatch.setattr(db, "dispatcher", lambda ids: calls.append(list(ids)))
    return calls


def _enlist(session, *ids: int) -> None:
    session.execute(text("SELECT 1"))  # begin the transaction, as a step's queries would
    session.info.setdefault(OUTBOX_SESSION_KEY, []).extend(ids)


def test_a_released_savepoint_dispatches_nothing_until_the_commit(session, dispatched):
    _enlist(session, 1)
    with session.begin_nested():
        _enlist(session, 2)
    assert dispatched == [], "a service task must not run before the row that queues it is committed"
    session.commit()
    assert dispatched == [[1, 2]]


def test_a_rolled_back_savepoint_keeps_what_was_enlisted_before_it(session, dispatched):
    _enlist(session, 1)
    nested = session.begin_nested()
    nested.rollback()
    session.commit()
    assert dispatched == [[1]]


def test_a_rollback_drops_the_enlisted_rows_and_the_memo(session, dispatched):
    _enlist(session, 1)
    per_transaction(session)["rules"] = "stale"
    session.rollback()
    session.execute(text("SELECT 1"))
    session.commit()
    assert dispatched == []
    assert "rules" not in per_transaction(session)
