"""Throttles that every web worker shares, declared as data and counted by the `limits` library.

Every limit of the site is a scope in `DEFAULT_LIMITS`, written in the library's notation ("5/hour;10/day": each
part must have room); the setting RATE_LIMITS overrides any of them. A hit is counted under the scope's name and
the keyed hash of its key (services.crypto.blind), so the storage holds no phone, address or token in clear.

Windows are moving: a limit of 5/hour allows at most five hits in any sixty minutes, where fixed windows would let
ten through around the turn of an hour, and the wait it names is exact (until the oldest counted hit leaves the
window). The price is one stored timestamp per counted hit, small for limits of this size. A refused hit is not
counted, so hammering a full bucket does not push its end further out.

Storage is `memory://` on the embedded default (one process) and Redis in production, shared by every worker. When
the storage cannot be reached, scopes in `FAIL_CLOSED` refuse (an SMS costs money and lands on someone's phone:
better none than unlimited) and the others let the request through (a page view is not worth an outage).
"""

import logging
import math
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache

from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from services.crypto import blind

log = logging.getLogger(__name__)

# Every limit of the site. Sign-in counts attempts per client address and wrong passwords per phone typed (the
# lock, see services.accounts); the SMS scopes count codes sent; recovery counts attempts to prove a code or ask for
# a link; the API counts requests per token and per client address.
DEFAULT_LIMITS: dict[str, str] = {
    "sms_code:phone": "1/minute;5/hour;10/day",
    "sms_code:address": "10/hour",
    "sms_code:global": "1000/hour",
    "sign_in:address": "30/10 minutes;200/day",
    "sign_in:account": "5/15 minutes;20/day",
    "track:address": "20/10 minutes",
    "recovery:address": "10/hour",
    "recovery:account": "5/hour",
    "api:token": "600/minute",
    "api:address": "1200/minute",
}
# Scope prefixes that refuse while the storage is unreachable.
FAIL_CLOSED = ("sms_code:",)
UNAVAILABLE = "验证码服务暂时不可用，请稍后再试"
# How long to tell people to wait when the storage is down.
UNAVAILABLE_RETRY_SECONDS = 60

_state: dict[str, object] = {}


class RateLimited(Exception):
    """The scope has no room for this key now; `retry_after` is in seconds, `message` is for the person."""

    def __init__(self, retry_after: int, message: str | None = None):
        self.retry_after = max(1, retry_after)
        self.message = message or too_often(self.retry_after)
        super().__init__(self.message)


class ThrottleUnavailable(RateLimited):
    """The storage could not be reached for a scope that refuses then (an SMS send)."""

    def __init__(self):
        super().__init__(UNAVAILABLE_RETRY_SECONDS, UNAVAILABLE)


def too_often(retry_after: int) -> str:
    """Return the message for a wait of `retry_after` seconds: in seconds, minutes or hours, rounded up."""
    if retry_after < 60:
        return f"操作过于频繁，请于 {retry_after} 秒后再试"
    if retry_after <= 2 * 3600:
        return f"操作过于频繁，请于 {math.ceil(retry_after / 60)} 分钟后再试"
    return f"操作过于频繁，请于 {math.ceil(retry_after / 3600)} 小时后再试"


UNITS = {"second": "秒", "minute": "分钟", "hour": "小时", "day": "天", "month": "个月", "year": "年"}


def describe(scope: str) -> str:
    """Return the limits of `scope` in Chinese, for the pages that announce them ("每小时最多 5 次，每天最多 10 次")."""
    _storage, _limiter, limits = _configured()
    parts = []
    for item in limits[scope]:
        unit = UNITS[item.GRANULARITY.name]
        per = unit if item.multiples == 1 else f" {item.multiples} {unit}"
        parts.append(f"每{per}最多 {item.amount} 次")
    return "，".join(parts)


@lru_cache
def _parsed(notation: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(notation))


def limits_of(overrides: Mapping[str, str] | None = None) -> dict[str, tuple[RateLimitItem, ...]]:
    """Return every scope's limits: `DEFAULT_LIMITS` with `overrides`, parsed (ValueError names a bad one)."""
    merged = {**DEFAULT_LIMITS, **(overrides or {})}
    parsed = {}
    for scope, notation in merged.items():
        try:
            parsed[scope] = _parsed(notation)
        except ValueError:
            raise ValueError(f"RATE_LIMITS: {scope} has no valid limit {notation!r} (e.g. '5/hour;10/day')") from None
    return parsed


def configure(storage_url: str, overrides: Mapping[str, str] | None = None) -> None:
    """Count in `storage_url` (memory://, redis://…) with the default limits and `overrides`."""
    limits = limits_of(overrides)
    storage = storage_from_string(storage_url, wrap_exceptions=True)
    _state.update(storage=storage, limiter=MovingWindowRateLimiter(storage), limits=limits)


def _configured() -> tuple[Storage, MovingWindowRateLimiter, dict[str, tuple[RateLimitItem, ...]]]:
    if "limiter" not in _state:  # scripts and service tests: the defaults, in this process
        configure("memory://")
    return _state["storage"], _state["limiter"], _state["limits"]  # type: ignore[return-value]


def _identifiers(scope: str, key: str) -> tuple[str, str]:
    # A separator that appears in neither, so that ("a", "bc") and ("ab", "c") stay apart. Keyed, because an
    # unkeyed hash of an IPv4 address or a phone is undone by trying every one.
    return scope, blind(f"{scope}\x00{key}")


def _wait(limiter: MovingWindowRateLimiter, item: RateLimitItem, ids: tuple[str, str]) -> int:
    return math.ceil(limiter.get_window_stats(item, *ids).reset_time - time.time())


def _unavailable(scopes: Iterable[str], error: StorageError) -> None:
    log.warning("rate-limit storage unreachable: %s", error)
    if any(scope.startswith(FAIL_CLOSED) for scope in scopes):
        raise ThrottleUnavailable() from error


def hit_all(buckets: Iterable[tuple[str, str]]) -> None:
    """Count one hit on every (scope, key) of `buckets`, or on none of them and raise RateLimited.

    All are tested before any is counted, so a request refused by one limit spends nothing of the others (an address
    over its limit does not use up the site's SMS ceiling). Each count is atomic in the storage and refused when the
    bucket is full, so no limit is ever exceeded; two requests racing for a last place may both pass the test, and the
    loser then has spent a place in the buckets counted before the one that refused it.
    """
    buckets = list(buckets)
    _storage, limiter, limits = _configured()
    checks = [(item, _identifiers(scope, key)) for scope, key in buckets for item in limits[scope]]
    try:
        waits = [_wait(limiter, item, ids) for item, ids in checks if not limiter.test(item, *ids)]
        if waits:
            raise RateLimited(max(waits))
        for item, ids in checks:
            if not limiter.hit(item, *ids):  # filled meanwhile by a request racing this one
                raise RateLimited(_wait(limiter, item, ids))
    except StorageError as error:
        _unavailable([scope for scope, _key in buckets], error)


def hit(scope: str, key: str = "") -> None:
    """Count one hit on `key` within `scope`, or raise RateLimited when the scope has no room for it now."""
    hit_all([(scope, key)])


def wait(scope: str, key: str = "") -> int:
    """Return the seconds until `key` has room again in `scope` (0 when it has room now), counting nothing."""
    _storage, limiter, limits = _configured()
    ids = _identifiers(scope, key)
    try:
        return max([_wait(limiter, item, ids) for item in limits[scope] if not limiter.test(item, *ids)], default=0)
    except StorageError as error:
        _unavailable([scope], error)
        return 0


def clear(scope: str, key: str = "") -> None:
    """Forget every hit counted on `key` within `scope` (a proven owner lifts a lock)."""
    _storage, limiter, limits = _configured()
    ids = _identifiers(scope, key)
    try:
        for item in limits[scope]:
            limiter.clear(item, *ids)
    except StorageError as error:
        log.warning("rate-limit storage unreachable: %s", error)


def reset() -> None:
    """Forget every count (tests, and `flask` commands that start afresh)."""
    storage, _limiter, _limits = _configured()
    storage.reset()
