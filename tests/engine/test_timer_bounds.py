"""Timers are bounded: refused at deployment beyond ten years or in the past, and computed in O(1) when reached."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import select

from engine.definitions import parse
from engine.errors import DiagramRejected
from engine.models import AuditEventModel, ProcessInstanceModel
from engine.timers import cycle, due_after, shift, timer_problems, translate_timer
from processes.vocabulary import VOCABULARY
from tests.engine.budget_attacks import QUICK, incident_message, start_case, timer_diagram, within

NOW = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


# -- at deployment -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "workdays", "phrase"), [
    ("P999999999999Y", False, "时长 P999999999999Y 超过 10 年"),
    ("P11Y", False, "超过 10 年"),
    ("P121M", False, "超过 10 年"),
    ("P3654D", False, "超过 10 年"),  # ten years from NOW hold 3,653 days
    ("PT99999999H", False, "超过 10 年"),
    ("P99999999999999999999999D", False, "超过 10 年"),
    ("2037-01-01T00:00:00Z", False, "晚于 10 年之后"),
    ("2026-12-01T09:00:00+08:00", False, "早于当前时间"),
    ("R3/P11Y", False, "超过 10 年"),
    ("R/P999999999999Y", False, "超过 10 年"),
    ("R/2020-01-01T00:00:00Z/P1D", False, "早于当前时间"),
    ("R/2040-01-01T00:00:00Z/P1D", False, "晚于 10 年之后"),
    ("P99999D", True, "超过 10 年"),
])
def test_a_timer_beyond_the_window_is_refused_at_deployment(text, workdays, phrase):
    problems = within(QUICK, lambda: timer_problems(text, workdays=workdays, now=NOW))
    assert problems
    assert phrase in problems[0]


@pytest.mark.parametrize(("text", "workdays"), [
    ("P10Y", False), ("P3D", False), ("PT48H", False), ("P120M", False), ("2036-12-01T00:00:00Z", False),
    ("2026-12-04T09:00:00+08:00", False), ("R3/PT1H", False), ("R/2027-01-01T00:00:00Z/P1D", False),
    ("P3D", True), ("P2000D", True), ("reminder_after", False),
])
def test_a_timer_within_the_window_is_accepted(text, workdays):
    assert timer_problems(text, workdays=workdays, now=NOW) == []


def test_lint_names_the_timer_that_is_too_far():
    with pytest.raises(DiagramRejected) as caught:
        within(QUICK, lambda: parse(timer_diagram("far_timer", "P999999999999Y"), VOCABULARY))
    assert "「等待」(wait)：定时器 时长 P999999999999Y 超过 10 年" in caught.value.problems


def test_translating_a_timer_does_not_depend_on_today():
    # Stored versions are parsed again after a restart: a date that was ahead at deployment must still translate.
    assert translate_timer("2020-01-01T00:00:00Z", workdays=False) == "'2020-01-01T00:00:00Z'"
    assert translate_timer("P999999999999Y", workdays=False) == "'P999999999999Y'"


# -- the arithmetic: SpiffWorkflow's own results, in O(1) ------------------------------------------------------------


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2M3DT4H5M6S", "P13M", "P2W", "PT90M", "P10Y", "P119M"])
@pytest.mark.parametrize("start", [
    datetime(2026, 1, 31, 12, 0, tzinfo=UTC), datetime(2028, 2, 29, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
])
def test_due_times_match_spiffworkflows_month_by_month_sum(text, start):
    parsed = TimerEventDefinition.parse_iso_duration(text)
    expected = start + TimerEventDefinition.get_timedelta_from_start(dict(parsed), start)
    assert shift(parsed, start) == expected


def test_a_cycle_counted_back_from_its_end_matches_spiffworkflow():
    expected = TimerEventDefinition.parse_iso_recurring_interval("R2/P1M/2027-03-31T00:00:00Z")
    assert cycle("R2/P1M/2027-03-31T00:00:00Z", NOW) == expected


def test_an_absurd_duration_is_refused_at_once():
    started = time.monotonic()
    with pytest.raises(ValueError, match="超过 10 年"):
        within(QUICK, lambda: due_after("P999999999999Y", NOW))
    assert time.monotonic() - started < 0.1


# -- when a case reaches the timer ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "value", "phrase"), [
    ("timeDuration", "P999999999999Y", "时长 P999999999999Y 超过 10 年"),
    ("timeDate", "9999-01-01T00:00:00+00:00", "日期 9999-01-01T00:00:00+00:00 晚于 10 年之后"),
    ("timeCycle", "R/P999999999999Y", "时长 P999999999999Y 超过 10 年"),
])
def test_a_timer_variable_beyond_the_window_makes_the_case_an_incident(session, people, kind, value, phrase):
    xml = timer_diagram(f"variable_{kind}", "wait_for", kind=kind, setup=f"wait_for = {value!r}")
    instance, elapsed = start_case(session, people, xml)
    assert elapsed < QUICK
    assert (instance.status, instance.incident) == ("error", True)
    assert incident_message(session, instance) == ("wait", f"定时器「等待」(wait) {phrase}")


def test_a_timer_within_the_window_waits_with_its_due_time(session, people):
    xml = timer_diagram("variable_ok", "wait_for", setup="wait_for = 'P2D'")
    instance, _ = start_case(session, people, xml)
    assert instance.status == "running"
    assert timedelta(days=2) - timedelta(minutes=5) < instance.next_timer_at.replace(tzinfo=UTC) - datetime.now(UTC) \
        <= timedelta(days=2)
    assert session.scalar(select(AuditEventModel.id).where(
        AuditEventModel.instance_id == instance.id, AuditEventModel.kind == "error")) is None
    assert session.get(ProcessInstanceModel, instance.id).incident is False

