"""Timer text as policy staff write it (plain ISO 8601, optionally in working days) → a sandboxed expression.

SpiffWorkflow evaluates timer text as Python, so `P3D` would be a NameError; the engine translates it once per
deployed definition instead of making staff quote it. Timers are bounded: lint refuses text further than MAX_YEARS
ahead (`timer_problems`), and the engine's timer events compute a due time in O(1) and refuse one beyond MAX_YEARS,
whatever an expression evaluated to (SpiffWorkflow adds a duration a month at a time: P999999999999Y never ends).
"""

import re
from calendar import monthrange
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

from engine.budget import MAX_TIMER_YEARS, horizon, named
from engine.calendar import WorkCalendar
from engine.errors import BudgetExceeded

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


# -- bounds: no timer further than MAX_YEARS ahead, and no loop over months to find out -----------------------------

MAX_YEARS = MAX_TIMER_YEARS


class TimerOutOfRange(TimerTextError):
    """A timer's due time is in the past or further ahead than the engine allows."""


def _month_start(index: int) -> date:
    """Return the first day of month number `index` (year * 12 + month - 1)."""
    return date(index // 12, index % 12 + 1, 1)


def shift(parsed: Mapping[str, float], anchor: datetime, *, forward: bool = True) -> datetime:
    """Return `anchor` moved by a parsed ISO duration, the way SpiffWorkflow counts months, in O(1).

    SpiffWorkflow adds the length of each month in turn (P999999999999Y loops for ever); the same days are the
    distance between two first-of-months. A result beyond MAX_YEARS raises TimerOutOfRange.
    """
    rest = dict(parsed)
    months = rest.pop("years", 0) * 12 + rest.pop("months", 0)
    text = _duration_text(parsed)
    if months > MAX_YEARS * 12:
        raise TimerOutOfRange(f"时长 {text} 超过 {MAX_YEARS} 年")
    whole = int(months)
    here = anchor.year * 12 + anchor.month - 1
    first, last = (here, here + whole) if forward else (here - whole, here)
    try:
        days = (_month_start(last) - _month_start(first)).days
        partial = last if forward else first - 1
        days += (months - whole) * monthrange(partial // 12, partial % 12 + 1)[1]
        span = timedelta(days=days + rest.pop("days", 0), **rest)
        moved = anchor + span if forward else anchor - span
    except (OverflowError, ValueError) as exc:
        raise TimerOutOfRange(f"时长 {text} 超过 {MAX_YEARS} 年") from exc
    if span > horizon(anchor) - anchor:
        raise TimerOutOfRange(f"时长 {text} 超过 {MAX_YEARS} 年")
    return moved


def _duration_text(parsed: Mapping[str, float]) -> str:
    date_part = "".join(f"{parsed[k]}{k[0].upper()}" for k in ("years", "months", "weeks", "days") if k in parsed)
    time_part = "".join(f"{parsed[k]}{k[0].upper()}" for k in ("hours", "minutes", "seconds") if k in parsed)
    text = f"P{date_part}{'T' + time_part if time_part else ''}"
    return text if len(text) <= 40 else text[:37] + "…"


def _parse(part: str) -> datetime | dict:
    """Parse one part of a timer value (a date-time, an ISO week date or a duration), as SpiffWorkflow does."""
    try:
        return TimerEventDefinition.parse_time_or_duration(part)
    except Exception as exc:  # Spiff raises bare Exception/ValueError/AttributeError on bad text
        raise TimerTextError(f"无法识别的时间：{part}") from exc


def check_date(due: datetime, now: datetime, text: str) -> datetime:
    """Return `due` if it is no further than MAX_YEARS after `now`; raise TimerOutOfRange otherwise."""
    if due > horizon(now):
        raise TimerOutOfRange(f"日期 {text} 晚于 {MAX_YEARS} 年之后")
    return due


def due_after(value: str, now: datetime) -> datetime:
    """Return when a duration timer whose value is `value` (e.g. P3D), started at `now`, is due."""
    parsed = _parse(str(value))
    if not isinstance(parsed, dict):
        raise TimerTextError(f"定时器的值应为时长（如 P3D），而不是 {value}")
    return shift(parsed, now)


def due_at(value: str, now: datetime) -> datetime:
    """Return when a date timer whose value is `value` (an ISO date-time) is due."""
    parsed = _parse(str(value))
    if isinstance(parsed, dict):
        raise TimerTextError(f"定时器的值应为日期时间，而不是 {value}")
    return check_date(parsed, now, str(value))


def cycle(value: str, now: datetime) -> tuple[int, datetime, timedelta]:
    """Return (repetitions, first firing, interval) of an ISO cycle (R3/PT1H, R/2026-12-01T09:00:00Z/P1D, …)."""
    text = str(value)
    parts = text.upper().replace("--", "/").strip("R").split("/")
    if len(parts) not in {2, 3} or not (parts[0] == "" or parts[0].isdigit()) or len(parts[0]) > 9:
        raise TimerTextError(f"无法识别的循环定时器：{text}（例：R3/PT1H）")
    repetitions = int(parts[0]) if parts[0] else -1
    first = _parse(parts[1])
    second = _parse(parts[2]) if len(parts) == 3 else None
    if isinstance(first, datetime) and isinstance(second, dict):
        interval = shift(second, first) - first
        start = check_date(first, now, parts[1])
    elif isinstance(first, dict) and isinstance(second, datetime):
        start = shift(first, check_date(second, now, parts[2]), forward=False)
        interval = second - start
    elif isinstance(first, dict) and second is None:
        start = shift(first, now)
        interval = start - now
    else:
        raise TimerTextError(f"无法识别的循环定时器：{text}（例：R3/PT1H）")
    return repetitions, start, interval


def timer_problems(text: str, *, workdays: bool, now: datetime | None = None) -> list[str]:
    """Return why timer text that translates cleanly is still refused at deployment (empty when it is not).

    A duration longer than MAX_YEARS, a date earlier than `now` or later than MAX_YEARS ahead, a cycle with such
    a part, or more working days than MAX_YEARS hold. Expressions are bounded when they are evaluated instead.
    """
    now = now or datetime.now(UTC)
    upper = (text or "").strip().upper()
    try:
        if workdays:
            match = WHOLE_DAYS.match(upper)
            if match:
                WorkCalendar().deadline(now, int(match.group(1)))
        elif ISO_DURATION.match(upper):
            due_after(upper, now)
        elif ISO_DATETIME.match(upper):
            if due_at(upper, now) < now:
                return [f"日期 {text.strip()} 早于当前时间"]
        elif ISO_CYCLE.match(upper):
            dates = [p for p in upper.strip("R").split("/")[1:] if not p.startswith("P")]
            if any(_parse(p) < now for p in dates):
                return [f"循环定时器 {text.strip()} 的日期早于当前时间"]
            cycle(upper, now)
    except (TimerTextError, BudgetExceeded) as exc:
        return [str(exc)]
    return []


# -- timer events that use the bounds above ------------------------------------------------------------------------


def _evaluate(definition: TimerEventDefinition, my_task: Any) -> Any:
    return my_task.workflow.script_engine.evaluate(my_task, definition.expression)


def _refuse(exc: TimerTextError, my_task: Any) -> BudgetExceeded:
    return named(BudgetExceeded(str(exc)), my_task.task_spec)


class BoundedTimeDateEventDefinition(TimeDateEventDefinition):
    """A date timer that refuses a date further ahead than MAX_YEARS, whatever its expression evaluated to."""

    def has_fired(self, my_task: Any) -> bool:
        """Compute the due date once (bounded), then let SpiffWorkflow compare it with now."""
        if my_task._get_internal_data("event_value") is None:
            value = _evaluate(self, my_task)
            try:
                due_at(value, datetime.now(UTC))
            except TimerTextError as exc:
                raise _refuse(exc, my_task) from exc
            my_task._set_internal_data(event_value=value)
        return super().has_fired(my_task)


class BoundedDurationTimerEventDefinition(DurationTimerEventDefinition):
    """A duration timer whose due time is computed in O(1) and refused beyond MAX_YEARS."""

    def has_fired(self, my_task: Any) -> bool:
        """Compute the due time once (bounded), then let SpiffWorkflow compare it with now."""
        if my_task._get_internal_data("event_value") is None:
            value = _evaluate(self, my_task)
            try:
                due = due_after(value, datetime.now(UTC))
            except TimerTextError as exc:
                raise _refuse(exc, my_task) from exc
            my_task._set_internal_data(event_value=due.isoformat())
        return super().has_fired(my_task)


class BoundedCycleTimerEventDefinition(CycleTimerEventDefinition):
    """A cycle timer whose first firing and interval are computed in O(1) and refused beyond MAX_YEARS."""

    def cycle_complete(self, my_task: Any) -> bool:
        """Compute the cycle once (bounded), then let SpiffWorkflow count its firings."""
        if my_task._get_internal_data("event_value") is None:
            value = _evaluate(self, my_task)
            try:
                repetitions, start, interval = cycle(value, datetime.now(UTC))
            except TimerTextError as exc:
                raise _refuse(exc, my_task) from exc
            my_task._set_internal_data(event_value={"cycles": repetitions, "next": start.isoformat(),
                                                    "duration": interval.total_seconds()})
        return super().cycle_complete(my_task)


BOUNDED_TIMERS = {
    TimeDateEventDefinition: BoundedTimeDateEventDefinition,
    DurationTimerEventDefinition: BoundedDurationTimerEventDefinition,
    CycleTimerEventDefinition: BoundedCycleTimerEventDefinition,
}


def bounded(definition: Any) -> Any:
    """Return a parsed timer definition as its bounded kind (any other event definition as it is)."""
    kind = BOUNDED_TIMERS.get(type(definition))
    if kind is None:
        return definition
    return kind(definition.name, definition.expression, description=definition.description)
