"""The dry run says what really happened on each path, and stops at its deadline even inside a step that never ends."""

import time
from pathlib import Path

import pytest

from engine import dryrun
from engine.budget import DEFAULT_BUDGET, Budget
from engine.calendar import WorkCalendar
from engine.db import utcnow
from engine.definitions import parse
from engine.dryrun import DryRunReport, explore
from engine.sandbox import SandboxScriptEngine
from engine.timers import WORKDAYS_HELPER
from engine.watchdog import Deadline, DeadlineReached
from processes.casework import DIAGRAMS_DIR
from processes.definitions_admin import DRY_RUN_STARTS, _decisions
from processes.vocabulary import VOCABULARY

DIAGRAMS = Path(__file__).resolve().parent / "diagrams"


def workdays(days: int) -> str:
    return WorkCalendar().deadline(utcnow(), days).isoformat()


def run(name: str, seconds: float = 10.0, xml: bytes | None = None, decisions=_decisions,
        budget: Budget = DEFAULT_BUDGET) -> DryRunReport:
    """Dry-run a fixture diagram (or `xml`) with the product's forms and start variants."""
    parsed = parse(xml or (DIAGRAMS / f"{name}.bpmn").read_bytes(), VOCABULARY)
    engine = SandboxScriptEngine({WORKDAYS_HELPER: workdays}, budget)
    return explore(parsed, engine, decisions, DRY_RUN_STARTS, seconds=seconds, budget=budget)


def outcomes(report: DryRunReport) -> set[tuple[str, str]]:
    return {(p.outcome, p.end) for p in report.paths}


def test_a_gateway_with_no_true_condition_is_an_error_in_chinese_not_a_loop():
    report = run("dry_run_no_true_condition")
    assert outcomes(report) == {("error", "网关「核实结果？」的条件都不成立，且没有默认流"), ("completed", "办结")}
    failed = [p for p in report.paths if p.outcome == "error"]
    assert [p.steps for p in failed] == [["村（居）核实：情况不符"]] * 2, "one path per start variant, each once"
    assert not report.ok
    assert "No conditions" not in str(report.to_json())


def test_a_task_with_no_decision_to_take_is_an_error_not_a_loop():
    report = run("minimal", decisions=lambda element: [])  # noqa: ARG005 - no form offers a decision
    assert outcomes(report) == {("error", "任务「村（居）核实」没有可选的办理结果（表单未提供），案件会停在这里")}


def test_a_real_loop_is_cut_after_the_round_limit():
    report = run("dry_run_endless_review")
    assert {p.outcome for p in report.paths} == {"loop"}
    assert all(p.end == f"在「村（居）核实」处循环：「情况属实」已重复 {dryrun.MAX_ROUNDS} 次，已截断"
               for p in report.paths)
    assert all(len(p.steps) <= 2 + dryrun.MAX_ROUNDS for p in report.paths)


def test_a_correction_loop_ends_after_a_round():
    report = run("birth_registration", xml=(DIAGRAMS_DIR / "birth_registration.bpmn").read_bytes())
    assert report.ok, [(p.steps, p.outcome, p.end) for p in report.paths if p.outcome != "completed"]
    assert any("村（居）核实（户籍地与现居住地相同）：情况不符" in p.steps for p in report.paths)
    assert len({(p.start, tuple(p.steps)) for p in report.paths}) == len(report.paths), "each path is listed once"


def test_a_script_that_never_ends_stops_the_run_at_its_deadline():
    started = time.monotonic()
    report = run("dry_run_endless_script", seconds=2)
    elapsed = time.monotonic() - started
    assert elapsed < 4, f"the run took {elapsed:.1f} s with a 2 s deadline"
    assert not report.ok
    [first, *_] = report.paths
    # Whichever stops it first: the run's deadline, or the script's own time budget.
    if first.outcome == "deadline":
        assert report.stopped == "模拟超时（2 秒），已完成 0 条路径"
    else:
        assert first.outcome == "budget"
        assert "不停的脚本" in first.end


def test_without_budgets_the_deadline_alone_stops_a_script_that_never_ends():
    started = time.monotonic()
    report = run("dry_run_endless_script", seconds=1, budget=Budget(enabled=False))
    assert time.monotonic() - started < 2
    assert [(p.outcome, p.end) for p in report.paths] == [("deadline", "模拟超时，此路径未走完")]
    assert report.stopped == "模拟超时（1 秒），已完成 0 条路径"


def test_the_deadline_is_reported_with_how_far_the_run_got():
    report = run("birth_registration", seconds=0.001, xml=(DIAGRAMS_DIR / "birth_registration.bpmn").read_bytes())
    assert report.timed_out
    assert not report.ok
    assert report.stopped.startswith("模拟超时（0.001 秒），已完成 0 条路径")
    assert [p.outcome for p in report.paths] == ["deadline"]


def test_a_report_survives_storing_as_json():
    report = run("dry_run_no_true_condition")
    again = DryRunReport.from_json(report.to_json())
    assert again == report
    assert [u.label for u in again.unreached] == ["「另一结局」(other)"]


def test_the_deadline_interrupts_a_step_and_never_lands_after_it():
    def spin() -> None:
        while True:
            pass

    started = time.monotonic()
    with Deadline(0.3) as deadline, pytest.raises(DeadlineReached), deadline.step():
        spin()
    assert time.monotonic() - started < 1
    # Steps ending right at the deadline: an interruption set late is cleared, never raised in the caller's code.
    for _ in range(20):
        with Deadline(0.01) as deadline:
            try:
                while True:
                    with deadline.step():
                        sum(range(200))
            except DeadlineReached:
                pass
            time.sleep(0.02)  # would be interrupted here if an interruption had leaked out of the step
