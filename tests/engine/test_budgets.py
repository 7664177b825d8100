"""Budgets: diagram code that would hang or exhaust the server is stopped, named, and the case becomes an incident.

Each attack here hung the request (or grew the server until the kernel killed it) before the budgets existed.
"""

import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.budget import DEFAULT_BUDGET, Budget, is_bounded, run_engine_steps
from engine.definitions import parse
from engine.errors import BudgetExceeded
from engine.models import HumanTaskModel
from engine.sandbox import SandboxEnvironment, SandboxScriptEngine
from processes.runtime import RUNTIME
from processes.vocabulary import VOCABULARY
from tests.engine.budget_attacks import (
    QUICK,
    incident_message,
    loop_diagram,
    script_diagram,
    start_case,
    timer_diagram,
    within,
)

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox():
    return SandboxEnvironment({"is_adult": lambda age: age >= 18})


# -- which code runs in-process ------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "decision == 'approved'",
    "results['township_audit']['decision'] == 'rejected'",
    "same_village",
    "review_level == 'county' and not rejected",
    "len(results) == 2 and sorted(results)[0] == 'verify_hukou'",
    "'P3D'",
    "workday_deadline(3)",
    "name.strip().lower() + '@example.org'",
    "f'{woman_name}（{case_id}）'",
    "any(r['decision'] == 'mismatch' for r in results.values())",
    "[x for x in items if x != '']",
    "{k: k for k in keys}",
])
def test_ordinary_conditions_run_in_process(source):
    assert is_bounded(source, "eval", frozenset({"workday_deadline"}))


@pytest.mark.parametrize("source", [
    "'a' * 8 * 2**30",
    "10**10**10",
    "'%999999999d' % 1",
    "f'{1:>999999999}'",
    "'x'.ljust(10**10)",
    "s.replace('a', s)",
    "sorted(range(10**9))",
    "[results for r in results]",  # the whole data once per item
    "[str(r) for r in results]",
    "[x * 9 for x in items]",
    "[y for x in xs for y in ys]",
    "[[y for y in x] for x in xs]",
    "[x for x in range(10**9)]",
    "(lambda: 1)()",
    "sum(lists, [])",
    "items.append(items)",
])
def test_costly_expressions_go_to_a_worker(source):
    assert not is_bounded(source, "eval")


@pytest.mark.parametrize(("script", "bounded"), [
    ("results = {}", True),
    ("count = 1\ntotal = count_before + 1", True),
    ("x = name + name\nx = x + x", False),  # reads back what it wrote: doubles once per line
    ("results['a'] = results['a'] + results['a']\nresults['a'] = results['a'] + results['a']", False),
    ("while True: pass", False),
    ("for item in items:\n    pass", False),
    ("count += 1", False),
])
def test_scripts_are_classified_by_what_they_read_back(script, bounded):
    assert is_bounded(script, "exec") is bounded


# -- the sandbox within its budget ---------------------------------------------------------------------------------


def test_an_endless_script_is_stopped_within_its_time_budget(sandbox):
    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="超出时间预算 100 毫秒"):
        within(QUICK, lambda: sandbox.execute("while True: pass", {}))
    assert time.monotonic() - started < QUICK


def test_an_endless_condition_is_stopped_and_the_next_one_still_runs(sandbox):
    with pytest.raises(BudgetExceeded, match="超出时间预算"):
        within(QUICK, lambda: sandbox.evaluate("any(False for _ in range(10**12))", {}))
    assert sandbox.evaluate("[n * 2 for n in numbers]", {"numbers": [1, 2]}) == [2, 4]


def test_the_time_budget_is_configurable():
    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="超出时间预算 30 毫秒"):
        within(QUICK, lambda: SandboxEnvironment({}, Budget(expression_ms=30)).execute("while True: pass", {}))
    assert time.monotonic() - started < 1


def test_a_script_in_a_worker_returns_the_new_task_data_and_calls_helpers_here(sandbox):
    calls = []

    def note(value):
        calls.append(threading.get_ident())
        return value * 10

    environment = SandboxEnvironment({"note": note})
    data = {"numbers": [1, 2, 3], "scratch": 1}
    environment.execute("doubled = [note(n) for n in numbers]\ndel scratch", data)
    assert data == {"numbers": [1, 2, 3], "doubled": [10, 20, 30]}
    assert calls == [threading.get_ident()] * 3, "helpers run in the calling thread, with its session"


def test_a_script_that_leaves_a_lazy_object_in_task_data_is_refused(sandbox):
    with pytest.raises(Exception, match="不能保存为任务数据"):
        sandbox.execute("numbers = range(10**12)", {})


def test_several_threads_share_the_workers(sandbox):
    results: dict[int, object] = {}

    def evaluate(n: int) -> None:
        try:
            results[n] = sandbox.evaluate("[x * 2 for x in range(n)]", {"n": n})
        except BudgetExceeded as exc:
            results[n] = exc

    def endless() -> None:
        try:
            sandbox.execute("while True: pass", {})
        except BudgetExceeded as exc:
            results[-1] = exc

    threads = [threading.Thread(target=evaluate, args=(n,)) for n in range(12)]
    threads.append(threading.Thread(target=endless))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert isinstance(results.pop(-1), BudgetExceeded)
    assert results == {n: [x * 2 for x in range(n)] for n in range(12)}


def test_budgets_off_runs_everything_in_process():
    environment = SandboxEnvironment({}, Budget(enabled=False))
    data: dict = {}
    environment.execute("squares = [n * n for n in range(4)]", data)
    assert data == {"squares": [0, 1, 4, 9]}


# -- memory: in a child process under an address-space limit, as a server would be ---------------------------------

MEMORY_BOMBS = [
    "x = 'a' * 8 * 2**30",
    "x = 10**10**10",
    "x = '%999999999d' % 1",
    "x = f'{1:>999999999}'",
    "x = 'x'.ljust(10**10)",
    "s = 'a' * 1000\ns = s.replace('a', s)\ns = s.replace('a', s)\ns = s.replace('a', s)",
    "x = sorted(range(10**9))",
    "x = [1] * 1000\ny = [x] * 100000",  # small in memory, 800 MB once stored as task data
]
LIMITED = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1024 * 1024 * 1024, 1024 * 1024 * 1024))
    from engine.sandbox import SandboxEnvironment
    try:
        SandboxEnvironment({{}}).execute({script!r}, {{}})
    except BaseException as exc:
        print(type(exc).__name__, exc)
    else:
        print("no error")
""")


@pytest.mark.parametrize("script", MEMORY_BOMBS)
def test_a_memory_bomb_ends_in_budget_exceeded_not_in_the_servers_memory_error(script):
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", LIMITED.format(script=script)], cwd=PROJECT, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("BudgetExceeded 超出"), done.stdout + done.stderr
    assert time.monotonic() - started < 10  # an interpreter starts, then a worker: the bomb itself is stopped in ms


# -- steps per advance ---------------------------------------------------------------------------------------------


def _workflow(xml: bytes, budget: Budget = DEFAULT_BUDGET):
    from SpiffWorkflow.bpmn import BpmnWorkflow

    parsed = parse(xml, VOCABULARY)
    return BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=SandboxScriptEngine({}, budget))


@pytest.mark.parametrize("script", [None, "count = 1"], ids=["gateways only", "script and gateway"])
def test_a_loop_without_a_person_stops_at_the_step_budget(script):
    workflow = _workflow(loop_diagram("endless_loop", script))
    started = time.monotonic()
    with pytest.raises(BudgetExceeded) as caught:
        within(QUICK * 5, lambda: run_engine_steps(workflow, Budget(advance_steps=200)))
    assert time.monotonic() - started < QUICK
    message = str(caught.value)
    assert message.startswith("流程在一次推进中执行了 200 个步骤仍未停在人工任务或定时器上，可能存在死循环：")
    assert any(label in message for label in ("「再来一次？」(again)", "「汇合」(merge)", "「计数」(count)"))


def test_a_loop_stops_at_the_advance_deadline_too():
    workflow = _workflow(loop_diagram("slow_loop", "pause = [n for n in range(20000)]"))
    with pytest.raises(BudgetExceeded, match=r"运行超过 0\.3 秒仍未停在人工任务或定时器上"):
        within(QUICK * 5, lambda: run_engine_steps(workflow, Budget(advance_ms=300)))


def test_a_script_in_a_diagram_is_named_when_it_runs_out_of_time():
    workflow = _workflow(script_diagram("spin", "while True: pass"))
    with pytest.raises(BudgetExceeded) as caught:
        within(QUICK, lambda: run_engine_steps(workflow))
    assert str(caught.value) == "脚本任务「计算」(calc) 超出时间预算 100 毫秒"


def test_a_timer_expression_that_builds_a_huge_string_is_named():
    workflow = _workflow(timer_diagram("huge_timer", "'P' + '9' * 10**10 + 'D'"))
    with pytest.raises(BudgetExceeded, match=r"^定时器「等待」\(wait\) 超出内存预算 64 MB$"):
        within(QUICK * 2, lambda: run_engine_steps(workflow))


# -- a case on such a diagram becomes an incident, and the next case runs ------------------------------------------


def test_a_case_on_an_endless_script_becomes_an_incident_and_the_next_case_runs(session, people):
    instance, elapsed = start_case(session, people, script_diagram("endless_script", "while True: pass"))
    assert elapsed < QUICK
    assert (instance.status, instance.incident) == ("error", True)
    assert incident_message(session, instance) == ("calc", "脚本任务「计算」(calc) 超出时间预算 100 毫秒")

    instance, _ = start_case(session, people, script_diagram("costly_script", "doubled = [n * 2 for n in range(3)]"))
    assert instance.status == "running"
    assert session.scalars(select(HumanTaskModel.bpmn_id).where(
        HumanTaskModel.instance_id == instance.id)).all() == ["verify"]
    assert RUNTIME.data(session, instance.id)["doubled"] == [0, 2, 4]


def test_a_case_on_an_endless_loop_becomes_an_incident(session, people):
    instance, elapsed = start_case(session, people, loop_diagram("endless_gateways", None))
    assert elapsed < QUICK * 2
    assert (instance.status, instance.incident) == ("error", True)
    element, message = incident_message(session, instance)
    assert element in {"again", "merge"}
    # Whichever comes first on this machine: 1,000 steps or 2 seconds (each pass adds tasks to the tree).
    stopped = r"^流程在一次推进中(执行了 1000 个步骤|运行超过 2 秒)仍未停在人工任务或定时器上，可能存在死循环：「"
    assert re.match(stopped, message)


def test_the_budgets_come_from_the_app_config(app, session, people):
    app.config.update(EXPRESSION_TIME_MS=40, ADVANCE_MAX_STEPS=50)
    try:
        instance, _ = start_case(session, people, script_diagram("configured_spin", "while True: pass"))
        assert incident_message(session, instance)[1] == "脚本任务「计算」(calc) 超出时间预算 40 毫秒"
        instance, _ = start_case(session, people, loop_diagram("configured_loop", "count = 1"))
        assert "执行了 50 个步骤" in incident_message(session, instance)[1]
    finally:
        app.config.update(EXPRESSION_TIME_MS=100, ADVANCE_MAX_STEPS=1000)
