"""Operations: JSON logs with a request id, Prometheus metrics, and the paths operators' tools call (/healthz,
/readyz, /metrics), which are answered before the app's own request handling."""

import time
from collections.abc import Callable

from flask import Flask, g, request
from sqlalchemy import inspect
from werkzeug.wrappers import Request, Response

from webapp.observability import context, logs, metrics

OperatorHandler = Callable[[Flask, Request], Response]


class OperatorPaths:
    """WSGI middleware answering GET and HEAD of the operator paths itself.

    Probes and scrapes come from load balancers and Prometheus, by address and every few seconds: they must not
    start sessions, set cookies, count against rate limits, be refused for their Host header (their answers hold no
    link) or fill the access log. Every other request goes to the app.
    """

    def __init__(self, app: Flask, wsgi_app, handlers: dict[str, OperatorHandler]):
        self.app = app
        self.wsgi_app = wsgi_app
        self.handlers = handlers

    def __call__(self, environ, start_response):
        """Answer an operator path, or pass the request on."""
        handler = self.handlers.get(environ.get("PATH_INFO", ""))
        if handler is None or environ.get("REQUEST_METHOD") not in {"GET", "HEAD"}:
            return self.wsgi_app(environ, start_response)
        return handler(self.app, Request(environ))(environ, start_response)


def user_kind() -> str:
    """Return who made the request as a kind (`citizen`, a staff role, `anonymous`), never who by name or number.

    Only an account the request already loaded is read, as it stands in memory: logging never costs a query (a
    rolled-back request's account has expired, and the database may be the thing that failed).
    """
    account = getattr(g.get("api_user"), "role", None)
    if account is not None:
        return account
    user = g.get("_login_user")  # Flask-Login's per-request cache of current_user
    if user is None or not user.is_authenticated:
        return "anonymous"
    return inspect(user.account).dict.get("role", "signed_in")


def _add_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.request_id = context.accepted(request.headers.get(context.HEADER))
        g.request_id_token = context.bind(g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[context.HEADER] = request_id
        seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
        metrics.observe_request(request.endpoint, response.status_code, seconds)
        logs.access(request.method, request.path, response.status_code, seconds * 1000, request.endpoint,
                    user_kind())
        return response

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            context.unbind(token)


def register(app: Flask) -> None:
    """Give `app` its logs, request ids, metrics, operator paths and trusted proxies.

    Call it before the other request hooks are added: its before_request then runs first (every later log line has
    the request id) and its after_request last (the status and time logged are the final ones, commit included).
    """
    from webapp import health, proxies

    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    metrics.watch_task_completions()
    _add_request_hooks(app)
    app.wsgi_app = OperatorPaths(app, app.wsgi_app, {**health.PROBES, "/metrics": metrics.scrape})
    # Outside the operator paths, so /metrics judges the client's address, not the proxy's.
    proxies.register(app)
