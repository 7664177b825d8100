"""The diagram sandbox: what conditions and scripts may do, what they can never do, and timer text translation."""

import pytest

from engine.errors import SandboxViolation
from engine.sandbox import SandboxEnvironment, check_source
from engine.timers import TimerTextError, translate_timer

HELPERS = {
    "is_adult": lambda age: age >= 18,
    "workday_deadline": lambda days: f"2026-12-0{days}T15:59:59.999999+00:00",
}
# Anything else leaking through (or nothing raised) is a failure.
REFUSED = (SandboxViolation, NameError, AttributeError)


@pytest.fixture
def sandbox():
    return SandboxEnvironment(HELPERS)


# -- what diagrams may do ------------------------------------------------------------------------------------------


def test_conditions_see_task_data_and_helpers(sandbox):
    assert sandbox.evaluate("is_adult(age) and same_village", {"age": 30, "same_village": True}) is True
    assert sandbox.evaluate("is_adult(age) and same_village", {"age": 16, "same_village": True}) is False


def test_conditions_in_the_shipped_style_work(sandbox):
    results = {"verify_hukou": {"decision": "verified"}, "verify_residence": {"decision": "mismatch"}}
    data = {"results": results}
    assert sandbox.evaluate("any(r['decision'] == 'mismatch' for r in results.values())", data) is True
    assert sandbox.evaluate("results['verify_hukou']['decision'] == 'verified'", data) is True
    assert sandbox.evaluate("[k for k, r in results.items() if r['decision'] == 'mismatch']", data) == [
        "verify_residence"]
    assert sandbox.evaluate("len(results) == 2 and sorted(results)[0] == 'verify_hukou'", data) is True


def test_script_assignments_and_deletions_become_task_data(sandbox):
    data = {"case_id": 7, "results": {"old": {"decision": "mismatch"}}, "scratch": 1}
    sandbox.execute(
        "results = {}\n"
        "del scratch\n"
        "doubled = [n * 2 for n in [1, 2, 3]]\n"
        "adult = is_adult(20)\n"
        "count = 0\n"
        "count += 1\n",
        data,
    )
    assert data == {"case_id": 7, "results": {}, "doubled": [2, 4, 6], "adult": True, "count": 1}


def test_helpers_and_guards_never_become_task_data(sandbox):
    data = {}
    sandbox.execute("greeting = 'hi'", data)
    assert data == {"greeting": "hi"}


# -- what diagrams can never do (checked again at run time, in case lint was bypassed) ------------------------------

FORBIDDEN_EXPRESSIONS = [
    "open('/etc/passwd').read()",
    "().__class__",
    "().__class__.__base__.__subclasses__()",
    "getattr(x, '__class__')",
    "'{0.__class__}'.format(x)",
    "str.format('{0.__class__}', x)",
    "'{0.__class__}'.format_map({'0': x})",
    "type(x)",
    "__import__('os')",
    "vars()",
    "eval('1')",
]


@pytest.mark.parametrize("expression", FORBIDDEN_EXPRESSIONS)
def test_forbidden_expression_raises_when_evaluated(sandbox, expression):
    with pytest.raises(REFUSED):
        sandbox.evaluate(expression, {"x": 1})


@pytest.mark.parametrize("expression", FORBIDDEN_EXPRESSIONS)
def test_forbidden_expression_raises_when_executed(sandbox, expression):
    data = {"x": 1}
    with pytest.raises(REFUSED):
        sandbox.execute(f"leak = {expression}", data)
    assert "leak" not in data


@pytest.mark.parametrize("script", ["import os", "from os import system", "import subprocess as sp"])
def test_import_raises_at_run_time(sandbox, script):
    with pytest.raises(SandboxViolation, match="不允许 import"):
        sandbox.execute(script, {})


def test_writing_a_file_is_refused_and_creates_nothing(sandbox, tmp_path):
    target = tmp_path / "escape.txt"
    with pytest.raises(REFUSED):
        sandbox.execute(f"open({str(target)!r}, 'w').write('pwned')", {})
    with pytest.raises(REFUSED):
        sandbox.evaluate(f"__import__('os').system('touch {target}') == 0", {})
    assert not target.exists()


def test_task_data_that_shadows_a_helper_is_refused(sandbox):
    with pytest.raises(SandboxViolation, match="同名"):
        sandbox.evaluate("is_adult(age)", {"is_adult": True, "age": 30})
    with pytest.raises(SandboxViolation, match="is_adult"):
        sandbox.execute("ok = 1", {"is_adult": True})


@pytest.mark.parametrize(
    "script",
    [
        "first, second = 'a', 'b'",
        "lowest = min(*[3, 1, 2])",
        "merged = dict(**{'a': 1})",
        "print('checked')",
        "for key, value in {'a': 1}.items():\n    last = key",
    ],
)
def test_script_that_lint_accepts_also_runs(sandbox, script):
    # Lint promises a script may run; a script it accepts must not break the case at run time.
    if check_source(script, "exec"):
        return
    sandbox.execute(script, {})


# -- timer text ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "workdays", "expression"),
    [
        ("P3D", False, "'P3D'"),
        ("P3D", True, "workday_deadline(3)"),
        ("PT48H", False, "'PT48H'"),
        (" p2d ", False, "'P2D'"),
        ("2026-12-01T09:00:00+08:00", False, "'2026-12-01T09:00:00+08:00'"),
        ("2026-12-01T01:00:00Z", False, "'2026-12-01T01:00:00Z'"),
        ("R3/PT1H", False, "'R3/PT1H'"),
        ("reminder_after", False, "reminder_after"),
    ],
)
def test_timer_text_becomes_an_expression(text, workdays, expression):
    assert translate_timer(text, workdays=workdays) == expression


def test_translated_timers_evaluate_to_what_spiff_expects(sandbox):
    assert sandbox.evaluate(translate_timer("PT48H", workdays=False), {}) == "PT48H"
    assert sandbox.evaluate(translate_timer("P3D", workdays=True), {}) == "2026-12-03T15:59:59.999999+00:00"
    assert sandbox.evaluate(translate_timer("reminder_after", workdays=False), {"reminder_after": "P1D"}) == "P1D"


@pytest.mark.parametrize(
    ("text", "workdays", "phrase"),
    [
        ("", False, "缺少时间表达式"),
        ("   ", True, "缺少时间表达式"),
        ("P2D3H", False, "无法识别的 ISO 8601 时间"),
        ("3 days", False, "无法识别的 ISO 8601 时间"),
        ("PT", False, "无法识别的 ISO 8601 时间"),
        ("2026-12-01T09:00", False, "缺少时区"),
        ("2026-12-01", False, "缺少时区"),
        ("PT4H", True, "只能写整天数"),
        ("P1W", True, "只能写整天数"),
        ("2026-12-01T09:00:00+08:00", True, "只能写整天数"),
    ],
)
def test_timer_text_errors(text, workdays, phrase):
    with pytest.raises(TimerTextError, match=phrase):
        translate_timer(text, workdays=workdays)


@pytest.mark.parametrize(
    ("text", "workdays"),
    [
        ("R3/1H", False),  # the cycle's interval is not a duration (PT1H was meant)
        ("2026-02-30T09:00:00+08:00", False),  # there is no 30 February
        ("2026-13-01T09:00:00+08:00", False),  # nor a 13th month
        ("P0D", True),  # zero working days: the working-day helper refuses it when the timer is reached
    ],
)
def test_timer_text_that_would_fail_when_reached_is_refused(text, workdays):
    # Accepted text is deployed; a timer that cannot be computed then breaks every case that reaches it.
    with pytest.raises(TimerTextError):
        translate_timer(text, workdays=workdays)
