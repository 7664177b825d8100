"""A database that goes away for a moment (a restart, a failover) costs no request an error.

A request whose connection was lost, or refused, before anything of it was made durable runs again, whole, on a new
connection: `ReplayOnLostDatabase` keeps the request's body and hands the app a fresh copy of the request, after
a short pause that grows (0.2, 0.4, 0.8, 1.6 s, with jitter: about 3 s in all, what a PostgreSQL restart takes).
A replay is safe because nothing was sent yet (the response is held until the attempt is kept), the transaction
rolled back, and side effects wait for the commit (outbox, files, mail). GET and HEAD are always run again; other
methods only while no COMMIT of theirs can have landed (`services.db.may_have_committed`). What cannot be run again,
or still fails after the last attempt, is answered 503 with Retry-After, in Chinese (JSON under the API), never 500.
"""

import logging
import random
import time
from io import BytesIO
from tempfile import SpooledTemporaryFile

from flask import Flask, render_template, request
from werkzeug.wrappers import Response

from services.db import connection_lost, db, may_have_committed, tracking_commits, worth_running_again

log = logging.getLogger(__name__)

# Set on a request's WSGI environ by the app when its failure may be run again.
REPLAY_KEY = "birthreg.replay_request"
# Pauses before each new attempt, in seconds (each × 0.75–1.25).
PAUSES = (0.2, 0.4, 0.8, 1.6)
RETRY_AFTER_SECONDS = 5
MESSAGE = "系统暂时无法处理您的请求，请稍后再试"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Bodies up to this size are kept in memory, larger ones (photos) in a temporary file.
IN_MEMORY_BODY = 512 * 1024
_FALLBACK_PAGE = ("<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>请稍后再试</title></head>"
                  f"<body><h1>{MESSAGE}</h1><p>错误代码 503</p></body></html>")


class _HeldStart:
    """A start_response that keeps the status and headers until the attempt is kept (Flask calls it before it
    returns the body, and never uses `write`)."""

    status: str = ""
    headers: list = []  # noqa: RUF012 - replaced on the instance

    def __call__(self, status: str, headers: list, _exc_info=None) -> None:
        self.status, self.headers = status, headers


class ReplayOnLostDatabase:
    """WSGI middleware running a request again when the app marks its failure as one a new attempt may mend."""

    def __init__(self, wsgi_app, max_body: int, pauses: tuple[float, ...] = PAUSES):
        self.wsgi_app = wsgi_app
        self.max_body = max_body
        self.pauses = pauses

    def __call__(self, environ, start_response):
        """Serve the request, running it again while the app asks for it and attempts remain."""
        body = self._kept_body(environ)
        if body is None:  # a body we cannot keep (chunked, or larger than the app accepts): one attempt
            with tracking_commits():
                return self.wsgi_app(environ, start_response)
        try:
            for pause in (*self.pauses, None):
                attempt = {**environ, "wsgi.input": body}
                body.seek(0)
                held = _HeldStart()
                with tracking_commits():
                    result = self.wsgi_app(attempt, held)
                if pause is None or not attempt.get(REPLAY_KEY):
                    start_response(held.status, held.headers)
                    return result  # Flask has read the request and ended its context by now
                if hasattr(result, "close"):
                    result.close()
                time.sleep(pause * random.uniform(0.75, 1.25))  # noqa: S311 - jitter, not a secret
        finally:
            body.close()
        raise AssertionError("unreachable")

    def _kept_body(self, environ) -> SpooledTemporaryFile | BytesIO | None:
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length > self.max_body:
            return None
        if length <= 0:
            return BytesIO()
        kept = SpooledTemporaryFile(max_size=IN_MEMORY_BODY)  # noqa: SIM115 - closed once the app answered
        stream = environ["wsgi.input"]
        while length > 0:
            chunk = stream.read(min(length, 64 * 1024))
            if not chunk:
                break  # the client went away mid-body: the app sees the short body and answers 400
            kept.write(chunk)
            length -= len(chunk)
        return kept


def unavailable(exc: BaseException) -> bool:
    """Tell whether `exc` (or the failure a 500 wraps) is the database going away, to be answered 503; if so, end
    the failed transaction and, when it is safe, ask the middleware to run the request again."""
    failure = getattr(exc, "original_exception", None) or exc
    if not worth_running_again(failure):
        return False
    if request.method in SAFE_METHODS or not may_have_committed(failure):
        request.environ[REPLAY_KEY] = True
    log.warning("%s %s: the database failed (%s: %s)%s", request.method, request.path, type(failure).__name__,
                str(failure).splitlines()[0] if str(failure) else "",
                ", running it again" if request.environ.get(REPLAY_KEY) else "")
    end_failed_transaction()
    return True


def end_failed_transaction() -> None:
    """Roll the request's session back; when its connection is dead and even that fails, drop the connection."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection is gone: forget it, so the next use takes a new one
        db.session.invalidate()


def unavailable_page() -> Response:
    """Return the 503 page (Retry-After), drawn without the database if it cannot be reached."""
    try:
        page = render_template("error.html", code=503, message=MESSAGE)
    except Exception as exc:  # noqa: BLE001 - the header reads the signed-in user, from the database that failed
        if not connection_lost(exc):
            log.exception("the 503 page could not be drawn")
        end_failed_transaction()
        page = _FALLBACK_PAGE
    return Response(page, status=503, mimetype="text/html", headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def unavailable_answer() -> Response:
    """Return the 503 answer: JSON under the API, the page elsewhere."""
    if request.blueprint == "api":
        from webapp.api.errors import error_response  # the API package imports this module

        return error_response(503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return unavailable_page()


def register(app: Flask) -> None:
    """Wrap `app` in the replaying middleware (innermost, so the request it keeps is the one the app reads)."""
    app.wsgi_app = ReplayOnLostDatabase(app.wsgi_app, max_body=app.config["MAX_CONTENT_LENGTH"])
