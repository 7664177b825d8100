"""Throttles that every web worker shares: counts per bucket and fixed time window, kept in the database.

A bucket is a scope (what is limited, such as SMS codes per client address) and a key within it (the address). Only
the SHA-256 of the two is stored, so the table lists no phone or address in clear. Windows are fixed and aligned to
the epoch (an hourly limit counts from the top of each hour in UTC); a bucket's count starts again with each window.

Counting is one statement, `INSERT … ON CONFLICT DO UPDATE … RETURNING`, so two workers that hit the same bucket at
once cannot both take its last place. A refused hit does not count (the update is conditional on room being left),
so the count never exceeds the limit and hammering a full bucket does not push anything further out.

Old windows go two ways: a hit deletes its own bucket's finished windows, and `purge` (run by every tick) deletes all
finished windows, for buckets that are never hit again.
"""

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import Integer, String, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow
from services.crypto import blind


class RateLimitModel(Base):
    """How many hits one bucket had in one window."""

    __tablename__ = "rate_limit"

    # SHA-256 (hex) of the scope and key: the counts need no clear phone or address.
    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    # The window's end: when the row may go (windows of different scopes have different lengths).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RateLimited(Exception):
    """The bucket is full for this window; `retry_after` is in seconds, `message` is for the person."""

    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        self.message = f"操作过于频繁，请 {max(1, math.ceil(retry_after / 60))} 分钟后再试"
        super().__init__(self.message)


def bucket_of(scope: str, key: str) -> str:
    """Return the stored form of a bucket: the keyed hash of `scope` and `key` (services.crypto.blind).

    Keyed, because an unkeyed hash of an IPv4 address or a phone is undone by trying every one.
    """
    # A separator that appears in neither, so that ("a", "bc") and ("ab", "c") stay apart.
    return blind(f"{scope}\x00{key}")


def window_of(now: datetime, per_seconds: int) -> datetime:
    """Return the start of the fixed window of `per_seconds` that holds `now`."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    elapsed = (now - epoch) // timedelta(seconds=per_seconds)
    return epoch + elapsed * timedelta(seconds=per_seconds)


def _insert_for(session: Session):
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"rate limits need PostgreSQL or SQLite, not {dialect}")


def hit(session: Session, scope: str, key: str, limit: int, per_seconds: int) -> None:
    """Count one hit on (`scope`, `key`), or raise RateLimited when `limit` hits were counted in this window.

    Flush only: the count lasts when the caller's transaction commits (a rolled-back request was not counted).
    """
    if limit < 1 or per_seconds < 1:
        raise ValueError("a rate limit needs a positive limit and window")
    now = utcnow()
    start = window_of(now, per_seconds)
    end = start + timedelta(seconds=per_seconds)
    bucket = bucket_of(scope, key)
    table = RateLimitModel.__table__
    session.execute(delete(table).where(table.c.bucket == bucket, table.c.expires_at <= now))
    insert = _insert_for(session)(table).values(bucket=bucket, window_start=start, count=1, expires_at=end)
    counted = session.execute(
        insert.on_conflict_do_update(
            index_elements=[table.c.bucket, table.c.window_start],
            set_={"count": table.c.count + 1},
            where=table.c.count < limit,
        ).returning(table.c.count)
    ).scalar_one_or_none()
    if counted is None:
        raise RateLimited(math.ceil((end - now).total_seconds()))


def purge(session: Session) -> int:
    """Delete every finished window and return how many rows went (flush only)."""
    table = RateLimitModel.__table__
    return session.execute(delete(table).where(table.c.expires_at <= utcnow())).rowcount
