"""The shared rate limiter: limits as data, moving windows, the wait in Chinese, hashed keys, storage outages."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from services import rate_limits
from services.rate_limits import RateLimited, ThrottleUnavailable, hit, hit_all

NINE_TWENTY = datetime(2026, 3, 2, 1, 20, tzinfo=UTC)
ADDRESS = "203.0.113.7"
PHONE = "13700000001"
# Nothing listens on port 1: every command to this Redis fails.
UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
def limits(app):  # noqa: ARG001 - the app's keys hash the keys
    """Count with `overrides` in a fresh memory storage for one test, then go back to the defaults."""

    def use(storage="memory://", **overrides):
        rate_limits.configure(storage, {scope.replace("__", ":"): text for scope, text in overrides.items()})

    yield use
    rate_limits.configure("memory://")


def refused(scope="track:address", key=ADDRESS) -> RateLimited:
    with pytest.raises(RateLimited) as refusal:
        hit(scope, key)
    return refusal.value


def test_every_scope_has_a_valid_default_and_a_bad_override_is_named():
    assert set(rate_limits.limits_of()) == set(rate_limits.DEFAULT_LIMITS)
    with pytest.raises(ValueError, match="track:address"):
        rate_limits.limits_of({"track:address": "twenty a minute"})


def test_the_limit_is_counted_then_refused_with_the_exact_wait(limits):
    limits(track__address="3/hour")
    with time_machine.travel(NINE_TWENTY, tick=False) as clock:
        hit("track:address", ADDRESS)
        clock.shift(timedelta(minutes=10))
        hit("track:address", ADDRESS)
        hit("track:address", ADDRESS)
        refusal = refused()
        assert refusal.retry_after == 50 * 60, "until the first hit is an hour old, not the top of an hour"
        assert refusal.message == "操作过于频繁，请于 50 分钟后再试"
        hit("track:address", "203.0.113.8")  # another key has its own count

        clock.shift(timedelta(minutes=50, seconds=1))
        hit("track:address", ADDRESS)
        assert refused().retry_after == 10 * 60 - 1, "a window that moves: the other two still count"


def test_a_refused_hit_is_not_counted_so_hammering_does_not_push_the_end_out(limits):
    limits(track__address="2/minute")
    with time_machine.travel(NINE_TWENTY, tick=False) as clock:
        hit("track:address", ADDRESS)
        hit("track:address", ADDRESS)
        for _ in range(50):
            refused()
            clock.shift(timedelta(seconds=1))
        clock.shift(timedelta(seconds=11))
        hit("track:address", ADDRESS)


def test_no_window_lets_twice_the_limit_through_around_the_hour(limits):
    limits(track__address="5/hour")
    with time_machine.travel(datetime(2026, 3, 2, 1, 59, tzinfo=UTC), tick=False) as clock:
        for _ in range(5):
            hit("track:address", ADDRESS)
        clock.shift(timedelta(minutes=2))  # past the top of the hour: a fixed window would start again here
        assert refused().retry_after == 58 * 60


def test_several_limits_on_a_scope_each_need_room(limits):
    limits(sms_code__phone="1/minute;3/hour")
    with time_machine.travel(NINE_TWENTY, tick=False) as clock:
        hit("sms_code:phone", PHONE)
        assert refused("sms_code:phone", PHONE).message == "操作过于频繁，请于 1 分钟后再试"
        for _ in range(2):
            clock.shift(timedelta(minutes=2))
            hit("sms_code:phone", PHONE)
        clock.shift(timedelta(minutes=2))
        assert refused("sms_code:phone", PHONE).message == "操作过于频繁，请于 54 分钟后再试"


def test_a_bucket_refused_spends_nothing_of_the_others(limits):
    limits(sms_code__address="1/hour", sms_code__global="2/hour")
    with time_machine.travel(NINE_TWENTY, tick=False):
        hit_all([("sms_code:address", ADDRESS), ("sms_code:global", "")])
        for _ in range(3):
            with pytest.raises(RateLimited):
                hit_all([("sms_code:address", ADDRESS), ("sms_code:global", "")])
        hit_all([("sms_code:address", "203.0.113.8"), ("sms_code:global", "")])
        assert rate_limits.wait("sms_code:global") == 3600


def test_the_storage_holds_no_phone_or_address_in_clear(limits):
    limits()
    hit("sms_code:phone", PHONE)
    hit("track:address", ADDRESS)
    storage = rate_limits._state["storage"]
    stored = repr(storage.events) + repr(storage.storage)
    assert PHONE not in stored
    assert ADDRESS not in stored
    assert "sms_code:phone" in stored, "the scope is named, the key is not"


def test_clear_lifts_a_full_bucket(limits):
    limits(sign_in__account="2/hour")
    hit("sign_in:account", PHONE)
    hit("sign_in:account", PHONE)
    assert rate_limits.wait("sign_in:account", PHONE) > 0
    rate_limits.clear("sign_in:account", PHONE)
    assert rate_limits.wait("sign_in:account", PHONE) == 0


def test_sms_sends_are_refused_and_page_views_let_through_when_the_storage_is_down(limits):
    limits(storage=UNREACHABLE)
    with pytest.raises(ThrottleUnavailable) as refusal:
        hit_all([("sms_code:address", ADDRESS), ("sms_code:global", "")])
    assert refusal.value.message == "验证码服务暂时不可用，请稍后再试"
    for scope in ("track:address", "sign_in:address", "recovery:address", "api:token"):
        hit(scope, ADDRESS)
    assert rate_limits.wait("sign_in:account", PHONE) == 0


def test_racing_hits_never_count_past_the_limit(limits):
    limits(track__address="10/hour")
    outcomes = []

    def one() -> None:
        try:
            hit("track:address", ADDRESS)
            outcomes.append("counted")
        except RateLimited:
            outcomes.append("refused")

    threads = [threading.Thread(target=one) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("counted") == 10
