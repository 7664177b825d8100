"""Rate limits on the web: who a request counts against, and the 429 page that names the wait.

The limits themselves are declared and counted in services.rate_limits. A page refused for a limit answers 429 with
`Retry-After` (seconds) and the wait in Chinese; the JSON API answers in its own format (webapp.api).
"""

from collections.abc import Iterable

from flask import Flask, render_template, request
from werkzeug.exceptions import TooManyRequests

from services import rate_limits


class Throttled(TooManyRequests):
    """A request refused by a rate limit; `description` is the message, `retry_after` the wait in seconds."""

    def __init__(self, refused: rate_limits.RateLimited):
        super().__init__(refused.message, retry_after=refused.retry_after)


def client_address() -> str:
    """Return the address a request counts against: the peer's.

    Behind a reverse proxy that is the proxy's address for everyone; passing the client's through (X-Forwarded-For
    from a proxy that is trusted) is the deployment's setting, not something a client may claim.
    """
    return request.remote_addr or ""


def limit(buckets: Iterable[tuple[str, str]]) -> None:
    """Count the request on every (scope, key) of `buckets`, or refuse it with the 429 page."""
    try:
        rate_limits.hit_all(buckets)
    except rate_limits.RateLimited as refused:
        raise Throttled(refused) from None


def too_many_page(refused: TooManyRequests):
    """Return the 429 page for `refused`, with its wait in the text and in `Retry-After`."""
    message = refused.description if isinstance(refused, Throttled) else rate_limits.too_often(60)
    headers = {"Retry-After": str(refused.retry_after or 60)}
    return render_template("error.html", code=429, message=message), 429, headers


def register(app: Flask) -> None:
    """Answer every 429 of the pages with the wait (the generic error page does not know it); offer the limits."""
    app.register_error_handler(TooManyRequests, too_many_page)
    # Pages that announce a limit read it from the same declaration that enforces it.
    app.add_template_global(rate_limits.describe, "rate_limits_of")
