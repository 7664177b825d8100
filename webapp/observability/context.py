"""The request id: taken from X-Request-ID when it is well formed, generated otherwise, and carried by every log line
of the request and of the background work it queued."""

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
# What a caller (nginx's $request_id, a load balancer, a staff app) may name a request: short, no spaces, nothing a
# log reader or a terminal would interpret. Anything else is replaced, never logged.
VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_id() -> str:
    """Return a fresh request id (32 hex digits, like nginx's $request_id)."""
    return uuid.uuid4().hex


def accepted(offered: str | None) -> str:
    """Return `offered` when it is a well-formed request id, else a fresh one."""
    if offered and VALID.fullmatch(offered):
        return offered
    return new_id()


def current() -> str | None:
    """Return the id of the request (or task) this code runs for, None outside one."""
    return _current.get()


def bind(request_id: str | None):
    """Make `request_id` the current one; return the token that `unbind` takes."""
    return _current.set(request_id)


def unbind(token) -> None:
    """Restore the request id that was current before `bind`."""
    _current.reset(token)
