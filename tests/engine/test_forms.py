"""Task forms declared in the diagram: read from camunda:formData, linted at deploy by element, and checked."""

import pytest

from engine.definitions import parse
from engine.diagram import lint
from engine.forms import check, parse_condition
from processes.vocabulary import VOCABULARY

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="form_lint" name="表单检查" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="check" name="抽查" camunda:candidateGroups="county_official">
      <bpmn:extensionElements><camunda:formData>{fields}</camunda:formData></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""
TASK = "「抽查」(check)："
RESULT = ('<camunda:formField id="result" label="抽查结果" type="enum">'
          '<camunda:value id="pass" name="合格" /><camunda:value id="fail" name="不合格" /></camunda:formField>')


def field(field_id: str, field_type: str, *, constraints: str = "", properties: str = "", values: str = "") -> str:
    """Return one camunda:formField, with constraints (name=config pairs) and properties (id=value pairs)."""
    validation = "".join(f'<camunda:constraint name="{name}"{f" config={config!r}" if config else ""} />'
                         for name, _, config in (c.partition("=") for c in constraints.split() if c))
    props = "".join(f'<camunda:property id="{name}" value="{value}" />'
                    for name, _, value in (p.partition("=") for p in properties.split(";") if p))
    return (f'<camunda:formField id="{field_id}" label="字段{field_id}" type="{field_type}">'
            f'{f"<camunda:properties>{props}</camunda:properties>" if props else ""}'
            f'{f"<camunda:validation>{validation}</camunda:validation>" if validation else ""}{values}'
            "</camunda:formField>")


def problems(*fields: str) -> list[str]:
    parsed = parse(HEAD.format(fields="".join(fields)).encode(), None)
    return [p.removeprefix(TASK) for p in lint(parsed.diagram, VOCABULARY) if p.startswith(TASK)]


def test_a_well_formed_form_needs_no_form_key_and_passes_lint():
    assert problems(RESULT, field("note", "string", constraints="maxlength=200",
                                  properties="showIf=result == fail")) == []


@pytest.mark.parametrize(("fields", "expected"), [
    ((field("when", "datetime"),), "表单字段 when 的类型 datetime 未知，可用：string, long, boolean, date, enum"),
    ((RESULT, RESULT), "表单字段 ID result 重复"),
    ((field("method", "enum"),), "表单字段 method 是选项字段（enum），但没有任何取值（camunda:value）"),
    ((RESULT, field("why", "string", properties="showIf=outcome == fail")),
     "表单字段 why 的条件 showIf「outcome == fail」引用了不存在的字段 outcome"),
    ((RESULT, field("why", "string", properties="showIf=result == maybe")),
     "表单字段 why 的条件 showIf「result == maybe」中，result 没有取值 maybe，可选：pass, fail"),
    ((RESULT, field("why", "string", properties="requiredIf=result ~ fail")),
     "表单字段 why 的条件 requiredIf「result ~ fail」无法识别，应写成「字段 == 值」或「字段 != 值」"),
    ((field("count", "long", constraints="min=10 max=3"),), "表单字段 count：min（10）大于 max（3）"),
    ((field("when", "date", constraints="min=2026-05-01 max=2026-01-01"),),
     "表单字段 when：min（2026-05-01）大于 max（2026-01-01）"),
    ((field("note", "string", constraints="minlength=9 maxlength=2"),),
     "表单字段 note：minlength（9）大于 maxlength（2）"),
    ((field("seen", "boolean", constraints="maxlength=5"),),
     "表单字段 seen：校验规则 maxlength 不适用于是/否字段（boolean）"),
    ((field("note", "string", constraints="min=3"),), "表单字段 note：校验规则 min 不适用于文本字段（string）"),
    ((field("note", "string", constraints="pattern=x"),),
     "表单字段 note 有未知的校验规则 pattern，可用：required, readonly, minlength, maxlength, min, max"),
    ((field("count", "long", constraints="max=many"),), "表单字段 count：校验规则 max 应为整数，而不是「many」"),
    ((field("bad-id", "string"),), "表单字段 ID「bad-id」无效：应以字母开头，只含字母、数字和下划线"),
    ((), "表单没有任何字段（camunda:formData）"),
])
def test_each_form_mistake_is_refused_at_deploy_naming_the_element_in_chinese(fields, expected):
    assert any(p.startswith(expected) for p in problems(*fields)), "each problem starts with the task's name and id"


def test_a_condition_is_parsed_never_evaluated():
    assert parse_condition("result == fail") is not None
    assert parse_condition("result != 'not ok'").value == "not ok"
    for text in ("__import__('os').system('x') == 1", "result == fail or 1", "result", "a == b == c"):
        assert parse_condition(text) is None, text


def test_check_types_values_and_puts_each_problem_on_its_field():
    parsed = parse(HEAD.format(fields="".join([
        RESULT, field("why", "string", constraints="required maxlength=5", properties="showIf=result == fail"),
        field("count", "long", constraints="min=1 max=9"), field("seen", "boolean"),
        field("when", "date", constraints="max=2030-12-31"),
    ])).encode(), None)
    form = parsed.diagram.elements["check"].form
    accepted = check(form, {"result": "pass", "why": "ignored while hidden", "count": "3", "seen": "true",
                            "when": "2026-03-01"})
    assert accepted.errors == {}
    assert accepted.values == {"result": "pass", "why": None, "count": 3, "seen": True, "when": "2026-03-01"}
    refused = check(form, {"result": "fail", "why": "", "count": "10", "seen": "maybe", "when": "2031-01-01"})
    assert refused.errors == {"why": "此项为必填项", "count": "不能大于 9", "seen": "请选择“是”或“否”",
                              "when": "不能晚于 2030-12-31"}
    assert check(form, {"result": "fail", "why": "太长的原因说明"}).errors == {"why": "长度不能超过 5 个字"}
    assert check(form, {"result": "fail", "why": "无"}).values["why"] == "无"
