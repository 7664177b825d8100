"""The statistics endpoint: the dashboard's figures as JSON for other systems, scoped like the dashboard."""

from flask import g, request
from flask.typing import ResponseReturnValue

from services import statistics
from services.cases import CASE_TYPES
from webapp.api.errors import ApiError
from webapp.api.payload import COUNTING_DIVISION_CODE, MONTH, choice_arg, pattern_arg
from webapp.statistics.scope import OutOfScope, scope_for, summary_for, summary_json

OUT_OF_SCOPE = "无权查看该区划的统计数据（仅限本人辖区及其下级区划）"


def get_statistics() -> ResponseReturnValue:
    """Return the figures of the token owner's division, or of a division inside it, with the month/type filters."""
    args = request.args
    division = pattern_arg(args, "division", COUNTING_DIVISION_CODE, "区划代码应为2、4、6或9位数字")
    start = pattern_arg(args, "from", MONTH, "起始月份应为 YYYY-MM 格式的月份，如 2026-01")
    end = pattern_arg(args, "to", MONTH, "截止月份应为 YYYY-MM 格式的月份，如 2026-01")
    case_type = choice_arg(args, "type", CASE_TYPES, f"未知的申请类型：{args.get('type', '')[:30]}")
    try:
        code = scope_for(g.api_user, division)
    except OutOfScope:
        raise ApiError(403, OUT_OF_SCOPE) from None
    try:
        filters = statistics.Filters.parse(start, end, case_type)
    except statistics.StatisticsError as exc:
        # Each value is well formed (checked above); what is left is a conflict between them (from after to).
        raise ApiError(422, str(exc)) from None
    return summary_json(summary_for(code, filters))
