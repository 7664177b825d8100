"""The JSON API for staff apps under /api/v1: bearer-token authentication, JSON errors, the routing table.

Requests authenticate with `Authorization: Bearer <secret>` (services.api_tokens), never with the session cookie,
so the blueprint is exempt from CSRF protection: a browser cannot be made to send someone's token. Every error,
including unknown paths and wrong methods under /api/v1, is a JSON object (webapp.api.errors), never an HTML page.
"""

import re

from flask import Blueprint, g, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from engine.errors import EngineError, NotFound, TaskConflict
from processes.casework import CaseworkError, Forbidden
from processes.roles import STAFF_ROLES
from services import api_tokens, rate_limits
from services.db import db
from webapp import outages
from webapp.api import people, statistics, tasks
from webapp.api.errors import ApiError, error_response
from webapp.api.openapi import DOCUMENT, SERVER_PREFIX
from webapp.extensions import csrf
from webapp.throttling import client_address

bp = Blueprint("api", __name__, url_prefix=SERVER_PREFIX)
csrf.exempt(bp)

NO_BEARER = "缺少访问令牌，请在 Authorization 头中提供 Bearer 令牌"
BAD_BEARER = "访问令牌无效、已过期或已被撤销"
STAFF_ONLY = "接口仅供工作人员使用"

# The routing table; the OpenAPI document describes each of these (tests check both ways).
bp.add_url_rule("/tasks", view_func=tasks.list_tasks, methods=["GET"])
bp.add_url_rule("/tasks/search", view_func=tasks.search_tasks, methods=["POST"])
bp.add_url_rule("/tasks/claim", view_func=tasks.claim_tasks, methods=["POST"])
bp.add_url_rule("/tasks/<int:task_id>", view_func=tasks.get_task, methods=["GET"])
bp.add_url_rule("/tasks/<int:task_id>/claim", view_func=tasks.claim_task, methods=["POST"])
bp.add_url_rule("/tasks/<int:task_id>/release", view_func=tasks.release_task, methods=["POST"])
bp.add_url_rule("/tasks/<int:task_id>/complete", view_func=tasks.complete_task, methods=["POST"])
bp.add_url_rule("/statistics", view_func=statistics.get_statistics, methods=["GET"])
bp.add_url_rule("/people/search", view_func=people.search_people, methods=["POST"])
bp.add_url_rule("/people/<int:person_id>", view_func=people.get_person, methods=["GET"])

PUBLIC_ENDPOINTS = {"api.openapi"}


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """Return the OpenAPI 3.1 document of this API (public: it holds no data)."""
    return DOCUMENT


def _is_api_path(path: str) -> bool:
    return path == SERVER_PREFIX or path.startswith(SERVER_PREFIX + "/")


@bp.before_app_request
def _routing_errors_as_json() -> ResponseReturnValue | None:
    """Answer an unknown path or a wrong method under /api/v1 in JSON (the app's error pages are HTML)."""
    exc = request.routing_exception
    if exc is None or not _is_api_path(request.path) or not isinstance(exc, HTTPException) or (exc.code or 0) < 400:
        return None
    headers = {"Allow": ", ".join(sorted(exc.valid_methods or []))} if isinstance(exc, MethodNotAllowed) else None
    return error_response(exc.code or 404, headers=headers)


def _count(scope: str, key: str) -> None:
    try:
        rate_limits.hit(scope, key)
    except rate_limits.RateLimited as refused:
        raise ApiError(429, refused.message, headers={"Retry-After": str(refused.retry_after)}) from None


@bp.before_request
def _authenticate() -> None:
    """Find the staff account behind the bearer token, or refuse the request with 401 (403 for a non-staff one).

    Requests are counted per client address before the token is looked at (guessing tokens is slow), and per token.
    """
    _count("api:address", client_address())
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise ApiError(401, NO_BEARER, headers={"WWW-Authenticate": 'Bearer realm="api"'})
    scheme, _, secret = header.partition(" ")
    _count("api:token", secret.strip())
    user = api_tokens.user_for_token(db.session, secret.strip()) if scheme.lower() == "bearer" else None
    if user is None:
        raise ApiError(401, BAD_BEARER, headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'})
    if user.role not in STAFF_ROLES:
        raise ApiError(403, STAFF_ONLY)
    g.api_user = user


def _documented_query_parameters() -> dict[tuple[str, str], frozenset[str]]:
    """Return the query parameters each operation of the document takes, by (Flask rule, method)."""
    taken = {}
    for path, operations in DOCUMENT["paths"].items():
        rule = SERVER_PREFIX + re.sub(r"\{(\w+)\}", lambda found: f"<int:{found[1]}>", path)
        for method, operation in operations.items():
            taken[rule, method.upper()] = frozenset(p["name"] for p in operation.get("parameters", [])
                                                    if p["in"] == "query")
    return taken


QUERY_PARAMETERS = _documented_query_parameters()


@bp.before_request
def _refuse_unknown_query_parameters() -> None:
    """Refuse a query parameter the operation does not take (a misspelt filter would otherwise be ignored)."""
    rule = request.url_rule.rule if request.url_rule is not None else ""
    method = "GET" if request.method == "HEAD" else request.method
    taken = QUERY_PARAMETERS.get((rule, method), frozenset())
    unknown = sorted(set(request.args) - taken)
    if unknown:
        names = "、".join(name[:30] or "（空名称）" for name in unknown)
        raise ApiError(400, f"不支持的查询参数：{names}", fields=dict.fromkeys(unknown, "不支持此参数"))


@bp.after_request
def _stateless(response):
    """Keep API answers (case data) out of shared caches, and set no session cookie (the API does not use one)."""
    response.headers.setdefault("Cache-Control", "no-store")
    session.clear()
    session.modified = False  # neither written nor deleted: a browser's own session cookie stays as it was
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> ResponseReturnValue:
    return error_response(exc.status, exc.message, fields=exc.fields, headers=exc.headers)


@bp.errorhandler(Forbidden)
def _forbidden(exc: Forbidden) -> ResponseReturnValue:
    return error_response(403, str(exc))


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> ResponseReturnValue:
    return error_response(404, str(exc))


@bp.errorhandler(TaskConflict)
def _conflict(exc: TaskConflict) -> ResponseReturnValue:
    return error_response(409, str(exc))


@bp.errorhandler(CaseworkError)
def _refused(exc: CaseworkError) -> ResponseReturnValue:
    """A request the rules refuse (an unknown view, a bad filter): bad input."""
    return error_response(400, str(exc))


@bp.errorhandler(EngineError)
def _engine_error(exc: EngineError) -> ResponseReturnValue:
    """Any other engine refusal: the case is not in a state that allows the request."""
    return error_response(409, str(exc))


@bp.errorhandler(DBAPIError)
def _database_error(exc: DBAPIError) -> ResponseReturnValue:
    """The database went away (it is run again when safe; 503 when it stays away); any other failure is a 500."""
    if not outages.unavailable(exc):
        raise exc
    return outages.unavailable_answer()


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> ResponseReturnValue:
    """Werkzeug's errors (body too large, bad request, server error) in JSON; a server error rolls back first."""
    code = exc.code or 500
    if code >= 500:
        if outages.unavailable(exc):
            return outages.unavailable_answer()
        outages.end_failed_transaction()
    return error_response(code)
