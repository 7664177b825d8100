"""Lint that knows the runtime: what the sandbox refuses, names no path sets, what the engine cannot execute,
operator parameters, gateways that may fail, and SpiffWorkflow's structural errors in Chinese, each said once."""

from pathlib import Path

import pytest

from engine.definitions import parse
from engine.diagram import lint_report, read_diagram
from engine.xmlsafe import parse_untrusted_xml
from processes.casework import DIAGRAMS_DIR
from processes.operators import OPERATOR_SCHEMAS, OPERATORS
from processes.vocabulary import VOCABULARY
from tests.engine.fixture_diagrams import diagram, problems_of

TESTS_DIAGRAMS = Path(__file__).resolve().parents[1] / "diagrams"
ALL_SHIPPED = sorted(DIAGRAMS_DIR.glob("*.bpmn")) + sorted(
    p for p in TESTS_DIAGRAMS.glob("*.bpmn") if p.stem != "birth_registration_county_review")


def about(problems: list[str], label: str) -> list[str]:
    """Return the problems naming `label` (an element's name and id)."""
    return [p for p in problems if p.startswith(label)]


# -- what the sandbox refuses only at run time ---------------------------------------------------------------------


@pytest.mark.parametrize(("label", "phrase"), [
    ("「拼接短信」(leak)", "不允许使用 .format_map"),
    ("「计算」(power)", "不支持的运算：**="),
    ("「计算」(power)", "不允许给属性 .size 赋值"),
    ("连线 「栈帧」(flow_choose_to_frames)", "不允许访问属性 .gi_frame"),
    ("连线 「栈帧」(flow_choose_to_frames)", "不允许访问属性 .f_globals"),
])
def test_what_the_sandbox_refuses_at_run_time_is_refused_at_deploy_in_chinese(label, phrase):
    problems = about(problems_of(diagram("lint_runtime_refusals")), label)
    assert any(phrase in p for p in problems), problems
    assert not any("restricted name" in p for p in problems), "RestrictedPython's English is not shown"


# -- names no path defines -----------------------------------------------------------------------------------------


def test_a_condition_naming_a_variable_no_path_sets_is_refused():
    problems = problems_of(diagram("lint_undefined_names"))
    assert about(problems, "连线 「已批准」(flow_result_to_approved)：条件使用了变量 approved"), problems
    assert about(problems, "「准备」(prepare)：脚本使用了变量 total"), "a script reading before it sets"


def test_names_set_on_some_path_start_data_results_and_builtins_are_accepted():
    problems = problems_of(diagram("lint_undefined_names"))
    # `level` is set on one of two paths, `same_village` by every submission, `results` by the form, `max` is built in.
    for name in ("level", "same_village", "results", "max", "doubled", "n"):
        assert not any(f"变量 {name}，" in p for p in problems), problems
    assert len(problems) == 2, problems


def test_a_condition_reading_the_result_of_a_task_not_on_its_path_is_a_warning():
    xml = diagram("lint_gateway_may_fail").replace(b"results['audit']['decision'] == 'rejected'",
                                                   b"results['review']['decision'] == 'rejected'")
    parsed = parse(xml, VOCABULARY)
    assert any("(flow_uncovered_to_rejected)：条件读取 results['review']" in w for w in parsed.warnings), \
        parsed.warnings


# -- what the engine cannot execute, each once ---------------------------------------------------------------------

UNEXECUTABLE = ["「收到申请消息」(by_message)", "「政策调整信号」(by_signal)", "「归档」(file)", "「等待回复」(wait)",
                "「收到回复」(reply)", "「调用县级流程」(call)", "「复核子流程」(sub)"]


def test_elements_the_engine_cannot_execute_are_each_refused_once():
    problems = problems_of(diagram("lint_unexecutable"))
    for label in UNEXECUTABLE:
        assert len(about(problems, label)) == 1, (label, problems)
    assert "无法执行" in about(problems, "「归档」(file)")[0]
    assert "消息开始事件" in about(problems, "「收到申请消息」(by_message)")[0]
    assert not about(problems, "「复核」(sub_review)"), "a sub-process's inside is covered by the sub-process"
    assert len(problems) == len(UNEXECUTABLE), problems
    assert not any("BPMN 结构错误" in p for p in problems)


# -- operator parameters -------------------------------------------------------------------------------------------

OPERATOR_PROBLEMS = [
    ("「通知申请人」(typo)", "参数 template 不能为 audit_aproved"),
    ("「通知县里」(county)", "参数 to 不能为 county，可用：applicant, township"),
    ("「没写模板」(bare)", "缺少参数 template"),
    ("「没写模板」(bare)", "task=no_such_task 应为本流程中用户任务的 ID"),
    ("「没写模板」(bare)", "没有参数 tmplate"),
    ("「发验证码」(code)", "参数 template 不能为 verification_code"),
]


@pytest.mark.parametrize(("label", "phrase"), OPERATOR_PROBLEMS)
def test_operator_parameters_are_checked_against_the_operator_schema(label, phrase):
    problems = about(problems_of(diagram("lint_operator_parameters")), label)
    assert any(phrase in p for p in problems), problems


def test_every_operator_declares_its_schema():
    assert set(OPERATOR_SCHEMAS) == set(OPERATORS)
    assert "audit_approved" in OPERATOR_SCHEMAS["sms.send"].parameters["template"].allowed


# -- gateways whose conditions may all be false --------------------------------------------------------------------


def test_a_gateway_whose_conditions_may_all_be_false_is_a_warning_not_a_problem():
    parsed = parse(diagram("lint_gateway_may_fail"), VOCABULARY)  # deploys: warnings do not block
    assert len(parsed.warnings) == 1, parsed.warnings
    assert parsed.warnings[0].startswith("「审核结果？」(uncovered)：网关没有默认流")
    root = parse_untrusted_xml(diagram("lint_gateway_may_fail"))
    report = lint_report(read_diagram(root, "lint_gateway_may_fail"), VOCABULARY)
    assert (report.problems, report.warnings) == ([], parsed.warnings)


def test_conditions_naming_every_decision_of_the_form_need_no_default():
    parsed = parse(diagram("lint_gateway_may_fail"), VOCABULARY)
    assert not any("(covered)" in w for w in parsed.warnings), "verified / mismatch are all the form offers"


@pytest.mark.parametrize("conditions", [("same_village", "not same_village"), ("True",),
                                        ("len(results) == 1", "len(results) != 1")])
def test_complementary_conditions_need_no_default(conditions):
    xml = diagram("lint_gateway_may_fail").replace(
        b"results['audit']['decision'] == 'approved' and same_village", conditions[0].encode()).replace(
        b"results['audit']['decision'] == 'rejected'", conditions[-1].encode())
    assert parse(xml, VOCABULARY).warnings == []


# -- SpiffWorkflow's structural errors, in Chinese, once -----------------------------------------------------------

MINIMAL = diagram("minimal").decode()
STRUCTURE = {
    "second-flow-out-of-a-task": (
        MINIMAL.replace('<bpmn:sequenceFlow id="flow_verify_to_end" sourceRef="verify" targetRef="end" />',
                        '<bpmn:sequenceFlow id="flow_verify_to_end" sourceRef="verify" targetRef="end" />'
                        '<bpmn:sequenceFlow id="flow_again" sourceRef="verify" targetRef="end" />'),
        "「村（居）核实」(verify)：有多条出口连线"),
    "flow-to-nowhere": (MINIMAL.replace('sourceRef="verify" targetRef="end"', 'sourceRef="verify" targetRef="gone"'),
                        "连线 (flow_verify_to_end)：终点 gone 不是本流程中的元素"),
    "no-start-event": (
        MINIMAL.replace('<bpmn:startEvent id="start" name="提交申请">', '<bpmn:intermediateThrowEvent id="start">')
        .replace("</bpmn:startEvent>", "</bpmn:intermediateThrowEvent>"),
        "流程「最小流程」：流程缺少开始事件"),
    "script-task-without-script": (
        MINIMAL.replace('<bpmn:userTask id="verify" name="村（居）核实" camunda:formKey="village_verification" '
                        'camunda:candidateGroups="village_staff">', '<bpmn:scriptTask id="verify" name="准备">')
        .replace("</bpmn:userTask>", "</bpmn:scriptTask>"),
        "「准备」(verify)：脚本任务没有填写脚本"),
    "loop-without-limit": (
        MINIMAL.replace("<bpmn:incoming>flow_start_to_verify</bpmn:incoming>",
                        "<bpmn:incoming>flow_start_to_verify</bpmn:incoming><bpmn:standardLoopCharacteristics />"),
        "「村（居）核实」(verify)：循环任务没有填写最大次数或循环条件"),
    "error-end-event-without-its-error": (
        MINIMAL.replace("<bpmn:incoming>flow_verify_to_end</bpmn:incoming>",
                        '<bpmn:incoming>flow_verify_to_end</bpmn:incoming><bpmn:errorEventDefinition errorRef="x" />'),
        "「办结」(end)：事件引用的消息、信号、错误或升级定义不存在"),
}


@pytest.mark.parametrize(("xml", "expected"), STRUCTURE.values(), ids=STRUCTURE.keys())
def test_structural_errors_are_told_in_chinese_with_the_element(xml, expected):
    problems = problems_of(xml.encode())
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


def test_a_gateway_missing_a_condition_is_reported_once():
    xml = diagram("lint_gateway_may_fail").replace(
        b"<bpmn:conditionExpression xsi:type=\"bpmn:tFormalExpression\">results['audit']['decision'] == 'rejected'"
        b"</bpmn:conditionExpression>", b"")
    problems = problems_of(xml)
    assert problems == ["「审核结果？」(uncovered)：网关既没有默认流，也没有为每条出口写条件"], problems


def test_foreign_settings_are_named_by_their_namespace():
    xml = MINIMAL.replace(
        '<bpmn:incoming>flow_start_to_verify</bpmn:incoming>',
        '<bpmn:extensionElements><ext:deadline xmlns:ext="http://example.com/ns" days="3" />'
        '<zeebe:taskDefinition xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" type="x" />'
        '</bpmn:extensionElements><bpmn:incoming>flow_start_to_verify</bpmn:incoming>')
    problems = problems_of(xml.encode())
    assert "「村（居）核实」(verify)：不支持的设置 {http://example.com/ns}deadline" in problems, problems
    assert "「村（居）核实」(verify)：不支持的设置 zeebe:taskDefinition" in problems, problems
    assert not any("?:" in p for p in problems)


# -- what must keep deploying --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_SHIPPED, ids=lambda p: p.stem)
def test_shipped_and_test_diagrams_still_lint_clean(path):
    parsed = parse(path.read_bytes(), VOCABULARY)
    assert parsed.warnings == []
