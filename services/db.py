"""The database edge: engine, sessions, and side effects that run only after a commit."""

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from engine.runtime import enlisted_outbox

Dispatcher = Callable[[Iterable[int]], None]

# Whether SQLite transactions begun in this context take the write lock up front (see _make_sqlite_transactional).
_BEGIN_IMMEDIATE: ContextVar[bool] = ContextVar("sqlite_begin_immediate", default=True)


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineSettings:
    """How the app talks to its database server (PostgreSQL; SQLite, a file, takes none of these but the timeout).

    Every pooled connection is tested before use (pre-ping), so a server restart costs no request an error. A
    statement running longer than `statement_timeout_ms`, or a transaction left idle longer than
    `idle_in_transaction_ms`, is ended by the server (0: no limit), so one stuck request cannot hold row locks
    for ever.
    """

    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout_s: int = 10
    pool_recycle_s: int = 1800
    connect_timeout_s: int = 5
    statement_timeout_ms: int = 15_000
    idle_in_transaction_ms: int = 60_000

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "EngineSettings":
        """Return the settings named DB_POOL_SIZE, DB_MAX_OVERFLOW, … in the app's configuration."""
        return cls(pool_size=config["DB_POOL_SIZE"], max_overflow=config["DB_MAX_OVERFLOW"],
                   pool_timeout_s=config["DB_POOL_TIMEOUT_SECONDS"], pool_recycle_s=config["DB_POOL_RECYCLE_SECONDS"],
                   connect_timeout_s=config["DB_CONNECT_TIMEOUT_SECONDS"],
                   statement_timeout_ms=config["DB_STATEMENT_TIMEOUT_MS"],
                   idle_in_transaction_ms=config["DB_IDLE_IN_TRANSACTION_MS"])

    def engine_options(self, url: str) -> dict[str, Any]:
        """Return create_engine's options for `url`."""
        if url.startswith("sqlite"):
            return {"pool_pre_ping": True, "connect_args": {"check_same_thread": False, "timeout": 30}}
        options = {"pool_pre_ping": True, "pool_size": self.pool_size, "max_overflow": self.max_overflow,
                   "pool_timeout": self.pool_timeout_s, "pool_recycle": self.pool_recycle_s}
        if url.startswith("postgresql"):
            server = (f"-c statement_timeout={self.statement_timeout_ms} "
                      f"-c idle_in_transaction_session_timeout={self.idle_in_transaction_ms}")
            options["connect_args"] = {"connect_timeout": self.connect_timeout_s, "options": server}
        return options


# What the work under way (a request) has done with COMMIT: nothing yet, sent one that has not answered, or had one
# succeed. Running the work again is safe only while nothing of it can have been made durable.
_COMMIT: ContextVar[str] = ContextVar("commit", default="none")


def _note_commit_sent(session: Session) -> None:
    if not session.in_nested_transaction() and _COMMIT.get() == "none":
        _COMMIT.set("sent")


def _note_commit_done(session: Session) -> None:
    if not session.in_nested_transaction():
        _COMMIT.set("done")


class Database:
    """One engine, a scoped session for requests and jobs, and the after-commit outbox dispatch."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        # Statistics may read from a replica (STATISTICS_DATABASE_URL); None: from `engine`.
        self.statistics_engine: Engine | None = None
        self.factory = sessionmaker(expire_on_commit=False)
        self.session = scoped_session(self.factory)
        self.dispatcher: Dispatcher = lambda ids: None  # noqa: E731 - replaced by configure()
        event.listen(self.factory, "after_commit", self._after_commit)
        event.listen(self.factory, "after_rollback", _forget_transaction)
        event.listen(self.factory, "before_commit", _note_commit_sent)
        event.listen(self.factory, "after_commit", _note_commit_done)

    def configure(self, url: str, dispatcher: Dispatcher | None = None, settings: EngineSettings | None = None,
                  *, statistics_url: str = "", **engine_options) -> None:
        """Bind to the database at `url`; `dispatcher` receives outbox ids after each commit that wrote some.

        `statistics_url` names a read replica statistics read from (empty: they read `url`).
        """
        if self.engine is not None:
            self.session.remove()
            self.engine.dispose()
        settings = settings or EngineSettings()
        self.engine = create_engine(url, **{**settings.engine_options(url), **engine_options})
        self.configure_statistics(statistics_url, settings)
        if self.engine.dialect.name == "sqlite":
            _make_sqlite_transactional(self.engine)
        self.factory.configure(bind=self.engine)
        if dispatcher is not None:
            self.dispatcher = dispatcher

    def configure_statistics(self, url: str, settings: EngineSettings | None = None) -> None:
        """Let statistics read from the database at `url` (a read replica); an empty url: from the main one."""
        if self.statistics_engine is not None:
            self.statistics_engine.dispose()
        self.statistics_engine = create_engine(url, **(settings or EngineSettings()).engine_options(url)) \
            if url else None

    @contextmanager
    def statistics_session(self) -> Iterator[Session]:
        """Yield a session for statistics reads: on the replica when one is configured, else the request's own."""
        if self.statistics_engine is None:
            yield self.session()
            return
        with Session(self.statistics_engine) as reader:
            try:
                yield reader
            finally:
                reader.rollback()  # it only read: end the replica's transaction at once

    def _after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a SAVEPOINT was released (SQLAlchemy reports it as a commit): nothing is durable yet
        session.info.pop(PER_TRANSACTION_KEY, None)
        ids = enlisted_outbox(session)
        if ids:
            self.dispatch(ids)

    def dispatch(self, ids: list[int]) -> None:
        """Hand outbox rows to the dispatcher; a failure is logged with their ids and never raised.

        The rows are committed and stay pending, so the tick's sweeper hands them over once the queue is back; the
        request that wrote them did what was asked and must say so, not answer 500 (its retry would then conflict).
        """
        try:
            self.dispatcher(ids)
        except Exception:
            log.exception("service tasks %s not dispatched (left to the tick)", ids)


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


# SQLSTATEs after which the server has rolled the transaction back and running it again may succeed.
RETRYABLE_STATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
RETRIES = 2
# The server ended the connection (admin_shutdown: a restart or pg_terminate_backend; crash_shutdown) or refused a
# new one while it starts or stops (cannot_connect_now); class 08 is the connection exceptions.
ADMIN_SHUTDOWN = "57P01"
CONNECTION_STATES = frozenset({ADMIN_SHUTDOWN, "57P02", "57P03"})


def connection_lost(exc: BaseException) -> bool:
    """Tell whether `exc` is the database going away or refusing connections (a restart, a failover), rather than a
    failure of the statement: the same work on a new connection, a moment later, may succeed."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    if exc.connection_invalidated:
        return True
    if not hasattr(exc.orig, "sqlstate"):
        return False  # not PostgreSQL (SQLite's errors say nothing of connections)
    state = exc.orig.sqlstate
    # psycopg's own errors carry no SQLSTATE: the connection was refused or closed before the server answered.
    return state is None or state in CONNECTION_STATES or state.startswith("08")


def worth_running_again(exc: BaseException) -> bool:
    """Tell whether the transaction `exc` ended may simply run again: the connection was lost, or the server rolled
    it back for a deadlock or a serialization failure. Whether it may have committed first is a separate question
    (see `may_have_committed`)."""
    return connection_lost(exc) or getattr(getattr(exc, "orig", None), "sqlstate", None) in RETRYABLE_STATES


@contextmanager
def tracking_commits() -> Iterator[None]:
    """Record, for `may_have_committed`, the commits of the work run in this block (one run of a request)."""
    token = _COMMIT.set("none")
    try:
        yield
    finally:
        _COMMIT.reset(token)


def may_have_committed(exc: BaseException) -> bool:
    """Tell whether the work that failed with `exc` may have made something durable before or as it failed.

    A COMMIT that failed is taken as landed (its answer may be what was lost), unless the server answered it with
    admin_shutdown: PostgreSQL holds off a termination while it commits, so it ends a backend during COMMIT only
    before the commit record is written, never after.
    """
    state = _COMMIT.get()
    if state == "sent":
        return getattr(getattr(exc, "orig", None), "sqlstate", None) != ADMIN_SHUTDOWN
    return state == "done"


def _retryable(exc: DBAPIError, committing: bool) -> bool:
    """Tell whether a failed transaction can simply run again.

    A serialization failure or a deadlock rolled everything back, whenever it came. A lost connection did too,
    unless it was lost during COMMIT: the commit may have landed, so that one is never repeated.
    """
    if getattr(exc.orig, "sqlstate", None) in RETRYABLE_STATES:
        return True
    return connection_lost(exc) and not committing


def retry_transaction(work: Callable[..., Any]) -> Callable[..., Any]:
    """Run `work` as one whole transaction of `db.session`, committed here, and run it again (twice at most, after
    a short random pause) when the database ended it in a way that a new attempt can mend.

    The result commits unless it is a response with an error status (>= 400), as at the request edge; an exception
    rolls back. Side effects wait for the commit (outbox, files, mail), so a failed attempt leaves none behind.
    """

    @wraps(work)
    def attempt(*args: Any, **kwargs: Any) -> Any:
        for tries in range(RETRIES + 1):
            committing = False
            try:
                result = work(*args, **kwargs)
                if getattr(result, "status_code", 200) < 400:
                    committing = True
                    db.session.commit()
                return result
            except DBAPIError as exc:
                db.session.rollback()
                if tries == RETRIES or not _retryable(exc, committing):
                    raise
                log.warning("transaction of %s failed (%s), running it again", work.__qualname__,
                            type(exc.orig).__name__)
                time.sleep(random.uniform(0.01, 0.05) * (tries + 1))  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")

    return attempt
