"""The database edge: engine, sessions, and side effects that run only after a commit."""

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from engine.runtime import enlisted_outbox

Dispatcher = Callable[[Iterable[int]], None]

# Whether SQLite transactions begun in this context take the write lock up front (see _make_sqlite_transactional).
_BEGIN_IMMEDIATE: ContextVar[bool] = ContextVar("sqlite_begin_immediate", default=True)


class Database:
    """One engine, a scoped session for requests and jobs, and the after-commit outbox dispatch."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.factory = sessionmaker(expire_on_commit=False)
        self.session = scoped_session(self.factory)
        self.dispatcher: Dispatcher = lambda ids: None  # noqa: E731 - replaced by configure()
        event.listen(self.factory, "after_commit", self._after_commit)
        event.listen(self.factory, "after_rollback", _forget_transaction)

    def configure(self, url: str, dispatcher: Dispatcher | None = None, **engine_options) -> None:
        """Bind to the database at `url`; `dispatcher` receives outbox ids after each commit that wrote some."""
        if self.engine is not None:
            self.session.remove()
            self.engine.dispose()
        if url.startswith("sqlite"):
            engine_options.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        self.engine = create_engine(url, **engine_options)
        if self.engine.dialect.name == "sqlite":
            _make_sqlite_transactional(self.engine)
        self.factory.configure(bind=self.engine)
        if dispatcher is not None:
            self.dispatcher = dispatcher

    def _after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a SAVEPOINT was released (SQLAlchemy reports it as a commit): nothing is durable yet
        session.info.pop(PER_TRANSACTION_KEY, None)
        ids = enlisted_outbox(session)
        if ids:
            self.dispatcher(ids)


PER_TRANSACTION_KEY = "per_transaction"


def per_transaction(session: Session) -> dict:
    """Return a dict that lives until the session's transaction ends (a memo for lookups repeated in one step)."""
    return session.info.setdefault(PER_TRANSACTION_KEY, {})


def _forget_transaction(session: Session) -> None:
    session.info.pop(PER_TRANSACTION_KEY, None)
    if not session.in_nested_transaction():  # a SAVEPOINT rolled back: what was enlisted before it still commits
        enlisted_outbox(session)


def _make_sqlite_transactional(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, emit BEGIN, so SAVEPOINTs and row-lock emulation behave (SQLAlchemy docs)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=ON")
        # WAL: readers never block the writer (a request reading while a timer tick commits).
        dbapi_connection.execute("PRAGMA journal_mode=WAL")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # IMMEDIATE takes the write lock up front. SQLite has no row locks and ignores FOR UPDATE, and a deferred
        # transaction that read first cannot upgrade once another has written ("database is locked", at once, not
        # after the busy timeout); IMMEDIATE makes two simultaneous steps on one case wait their turn instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _BEGIN_IMMEDIATE.get() else "BEGIN")


@contextmanager
def deferred_begin() -> Iterator[None]:
    """Begin this context's SQLite transactions DEFERRED, so a reader holds no lock while it waits on something else.

    For a caller that reads between steps it does not control, such as a test driving the app's own server from the
    same process. Work that may write while others do must not use it: its write could fail at once as "locked".
    """
    token = _BEGIN_IMMEDIATE.set(False)
    try:
        yield
    finally:
        _BEGIN_IMMEDIATE.reset(token)


class InlineDispatcher:
    """The embedded default: perform outbox rows in-process right after the commit that wrote them."""

    def __init__(self, perform: Callable[[int], None]):
        self._perform = perform
        self._local = threading.local()

    def __call__(self, ids: Iterable[int]) -> None:
        queue = getattr(self._local, "queue", None)
        if queue is not None:  # already draining on this thread: the outer loop picks these up
            queue.extend(ids)
            return
        self._local.queue = list(ids)
        try:
            while self._local.queue:
                self._perform(self._local.queue.pop(0))
        finally:
            self._local.queue = None


db = Database()
