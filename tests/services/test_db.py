"""The database edge: outbox rows and emails go out after the outermost commit only, never at a SAVEPOINT."""

import pytest
from sqlalchemy import text

from engine.runtime import OUTBOX_SESSION_KEY
from services import mail
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


class _Outbox:
    """A mail provider that keeps what it is asked to deliver."""

    name = "test"

    def __init__(self):
        self.delivered: list[str] = []

    def deliver(self, to_address: str, subject: str, body: str) -> None:  # noqa: ARG002 - the provider's signature
        self.delivered.append(subject)


def test_an_email_goes_at_the_outermost_commit_and_survives_a_rolled_back_savepoint(session, monkeypatch):
    provider = _Outbox()
    monkeypatch.setitem(mail._active, "provider", provider)
    mail.send_mail(session, "wangfang@example.com", "password_reset", "重置密码", "……")
    with session.begin_nested():
        pass
    nested = session.begin_nested()
    nested.rollback()
    assert provider.delivered == [], "nothing is sent before the commit"
    session.commit()
    assert provider.delivered == ["重置密码"]
