"""The shared rate limiter: counts per bucket and fixed window, refusals with the wait, hashed keys, purging."""

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from services import rate_limits
from services.crypto import blind
from services.db import db
from services.rate_limits import RateLimited, RateLimitModel, hit, purge

# 09:00 China time is 01:00 UTC: the top of an hourly window.
TOP_OF_HOUR = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ADDRESS = "203.0.113.7"


def refused(session, scope="sms", key=ADDRESS, limit=3, per_seconds=3600) -> RateLimited:
    with pytest.raises(RateLimited) as refusal:
        hit(session, scope, key, limit, per_seconds)
    return refusal.value


def rows(session) -> list[RateLimitModel]:
    session.expire_all()
    return list(session.scalars(select(RateLimitModel).order_by(RateLimitModel.window_start)))


def test_the_limit_is_counted_then_refused_with_the_wait_in_chinese(session):
    with time_machine.travel(TOP_OF_HOUR + timedelta(minutes=20), tick=False):
        for _ in range(3):
            hit(session, "sms", ADDRESS, 3, 3600)
        refusal = refused(session)
    assert refusal.retry_after == 40 * 60, "the window ends at the top of the next hour"
    assert refusal.message == "操作过于频繁，请 40 分钟后再试"
    [row] = rows(session)
    assert row.count == 3, "a refused hit is not counted"
    assert row.window_start == TOP_OF_HOUR
    assert row.expires_at == TOP_OF_HOUR + timedelta(hours=1)


def test_the_wait_is_rounded_up_to_whole_minutes(session):
    with time_machine.travel(TOP_OF_HOUR + timedelta(minutes=59, seconds=59), tick=False):
        hit(session, "sms", ADDRESS, 1, 3600)
        refusal = refused(session, limit=1)
    assert refusal.retry_after == 1
    assert refusal.message == "操作过于频繁，请 1 分钟后再试"


def test_a_new_window_starts_from_zero_and_clears_the_old_one(session):
    with time_machine.travel(TOP_OF_HOUR + timedelta(minutes=50), tick=False) as clock:
        for _ in range(3):
            hit(session, "sms", ADDRESS, 3, 3600)
        refused(session)
        clock.shift(timedelta(minutes=9, seconds=59))
        refused(session)
        clock.shift(timedelta(seconds=1))  # 02:00 UTC: fixed windows, not the last 60 minutes
        for _ in range(3):
            hit(session, "sms", ADDRESS, 3, 3600)
        refused(session)
    [row] = rows(session)
    assert (row.window_start, row.count) == (TOP_OF_HOUR + timedelta(hours=1), 3), "the finished window went"


def test_buckets_are_independent(session):
    with time_machine.travel(TOP_OF_HOUR, tick=False):
        hit(session, "sms", ADDRESS, 1, 3600)
        refused(session, limit=1)
        hit(session, "sms", "203.0.113.8", 1, 3600)  # another address, same scope
        hit(session, "track", ADDRESS, 1, 3600)  # the same address, another scope
        refused(session, scope="track", limit=1)
        refused(session, key="203.0.113.8", limit=1)
    assert len(rows(session)) == 3


def test_scope_and_key_cannot_run_into_each_other():
    assert rate_limits.bucket_of("ab", "c") != rate_limits.bucket_of("a", "bc")


def test_only_the_keyed_hash_of_the_bucket_is_stored(session):
    phone = "13800000001"
    hit(session, "sms:phone", phone, 5, 3600)
    [row] = rows(session)
    assert row.bucket == blind(f"sms:phone\x00{phone}")
    assert row.bucket != hashlib.sha256(f"sms:phone\x00{phone}".encode()).hexdigest(), "keyed, not guessable"
    assert phone not in row.bucket


def test_windows_of_any_length_are_aligned_to_the_epoch():
    at = datetime(2026, 3, 2, 1, 17, 42, 123456, tzinfo=UTC)
    assert rate_limits.window_of(at, 600) == datetime(2026, 3, 2, 1, 10, tzinfo=UTC)
    assert rate_limits.window_of(at, 3600) == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert rate_limits.window_of(at, 86400) == datetime(2026, 3, 2, tzinfo=UTC)


def test_a_limit_must_be_positive(session):
    with pytest.raises(ValueError, match="positive"):
        hit(session, "sms", ADDRESS, 0, 3600)


def test_purge_deletes_finished_windows_only(session):
    with time_machine.travel(TOP_OF_HOUR, tick=False) as clock:
        hit(session, "track", "a", 20, 600)  # ends 01:10
        hit(session, "sms", "b", 10, 3600)  # ends 02:00
        clock.shift(timedelta(minutes=10))
        assert purge(session) == 1
        assert [row.expires_at for row in rows(session)] == [TOP_OF_HOUR + timedelta(hours=1)]
        clock.shift(timedelta(minutes=50))
        assert purge(session) == 1
    assert rows(session) == []


def test_simultaneous_hits_from_several_workers_never_pass_the_limit(session):
    session.commit()
    workers, limit = 12, 5
    barrier = threading.Barrier(workers)
    outcomes: list[object] = []

    def work():
        with db.factory() as own:
            barrier.wait(timeout=10)
            try:
                hit(own, "sms", ADDRESS, limit, 3600)
                own.commit()
                outcomes.append("counted")
            except RateLimited as exc:
                own.rollback()
                outcomes.append(exc)
            except BaseException as exc:  # noqa: BLE001 - asserted below
                own.rollback()
                outcomes.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    with time_machine.travel(TOP_OF_HOUR, tick=False):  # all in one window, whenever the test runs
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert outcomes.count("counted") == limit
    assert all(isinstance(o, RateLimited) for o in outcomes if o != "counted"), outcomes
    assert session.scalar(select(func.sum(RateLimitModel.count))) == limit
