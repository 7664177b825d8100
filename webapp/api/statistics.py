"""The statistics endpoint: the dashboard's figures as JSON for other systems, scoped like the dashboard."""

from flask import g, request
from flask.typing import ResponseReturnValue

from services import statistics
from webapp.api.errors import ApiError
from webapp.statistics.scope import OutOfScope, scope_for, summary_for, summary_json

OUT_OF_SCOPE = "无权查看该区划的统计数据（仅限本人辖区及其下级区划）"


def get_statistics() -> ResponseReturnValue:
    """Return the figures of the token owner's division, or of a division inside it, with the month/type filters."""
    try:
        code = scope_for(g.api_user, request.args.get("division"))
    except OutOfScope:
        raise ApiError(403, OUT_OF_SCOPE) from None
    try:
        filters = statistics.Filters.parse(request.args.get("from"), request.args.get("to"), request.args.get("type"))
        return summary_json(summary_for(code, filters))
    except statistics.StatisticsError as exc:
        raise ApiError(400, str(exc)) from None
