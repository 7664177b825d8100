"""Timer text as policy staff write it (plain ISO 8601, optionally in working days) → a sandboxed expression.

SpiffWorkflow evaluates timer text as Python, so `P3D` would be a NameError; the engine translates it once per
deployed definition instead of making staff quote it.
"""

import re
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
WHOLE_DAYS = re.compile(r"^P(\d+)D$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
ISO_DATETIME_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
ISO_CYCLE = re.compile(r"^R\d*/")

WORKDAYS_HELPER = "workday_deadline"


class TimerTextError(ValueError):
    """The timer text is neither ISO 8601 nor an expression the engine accepts."""


def translate_timer(text: str, *, workdays: bool) -> str:
    """Return the sandboxed Python expression for a timer's text.

    ISO durations, date-times and cycles become string literals; `workdays` turns a whole-day duration into a call
    of the working-day helper, which returns the deadline itself (so the timer must run as a date timer, see
    `engine.definitions`); anything else is kept as an expression (e.g. a task-data variable name).
    """
    text = (text or "").strip()
    if not text:
        raise TimerTextError("定时器缺少时间表达式")
    upper = text.upper()
    if workdays:
        match = WHOLE_DAYS.match(upper)
        if not match:
            raise TimerTextError(f"按工作日计算的定时器只能写整天数，如 P3D，而不是 {text}")
        if int(match.group(1)) < 1:
            raise TimerTextError("按工作日计算的定时器至少为 1 个工作日（P1D）")
        return f"{WORKDAYS_HELPER}({int(match.group(1))})"
    if ISO_DURATION.match(upper):
        return repr(upper)
    if ISO_DATETIME.match(upper):
        try:
            datetime.fromisoformat(upper)
        except ValueError as exc:
            raise TimerTextError(f"不存在的日期时间：{text}") from exc
        return repr(upper)
    if ISO_CYCLE.match(upper):
        try:
            TimerEventDefinition.parse_iso_recurring_interval(upper)
        except Exception as exc:  # Spiff raises bare Exception/ValueError/AttributeError on bad cycles
            raise TimerTextError(f"无法识别的循环定时器：{text}（例：R3/PT1H）") from exc
        return repr(upper)
    if ISO_DATETIME_NAIVE.match(text):
        raise TimerTextError(f"日期时间 {text} 缺少时区，请写成如 2026-12-01T09:00:00+08:00")
    if text.startswith("P") or text[0].isdigit():
        raise TimerTextError(f"无法识别的 ISO 8601 时间：{text}（例：P3D、PT48H、2026-12-01T09:00:00+08:00）")
    return text
