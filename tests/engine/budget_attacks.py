"""Attacks on the engine's budgets: small diagrams (endless scripts, loops without a person, far-away timers), and
running them so that a test fails instead of hanging when a budget is missing.

Each diagram runs start → (the attack) → a village verification → end, so that a diagram that survives reaches a
person.
"""

import threading
import time
from collections.abc import Callable
from xml.sax.saxutils import escape

from sqlalchemy import select

from engine.models import AuditEventModel, ProcessInstanceModel
from processes.demo import HUKOU_VILLAGE
from processes.runtime import RUNTIME
from services import cases
from tests.fixtures import forget

QUICK = 2.0  # seconds: every attack is stopped well within this


def within(seconds: float, call: Callable[[], object]) -> object:
    """Return what `call` returns or raise what it raises; fail (instead of hanging) if it takes over `seconds`."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def start_case(session, people, xml: bytes) -> tuple[ProcessInstanceModel, float]:
    """Deploy `xml`, start a case on it for the demo citizen, commit; return its instance and the start's seconds."""
    definition, _ = RUNTIME.definitions.deploy(session, xml, "tester")
    case = cases.create_case(
        session, case_type="first_child", process_key=definition.key, applicant_id=people.citizen.id,
        woman_name="张丽", man_name="刘强", contact_phone=people.citizen.phone,
        hukou_division=HUKOU_VILLAGE, residence_division=HUKOU_VILLAGE,
    )
    started = time.monotonic()
    case.instance = RUNTIME.start(session, definition.key, {}, case.case_number, people.citizen.actor)
    elapsed = time.monotonic() - started
    session.commit()
    forget(session)
    return session.get(ProcessInstanceModel, case.instance_id), elapsed


def incident_message(session, instance: ProcessInstanceModel) -> tuple[str | None, str]:
    """Return the element and the message of an instance's error audit line."""
    row = session.scalar(select(AuditEventModel).where(
        AuditEventModel.instance_id == instance.id, AuditEventModel.kind == "error"))
    return row.element, row.detail["error"]


_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
    'id="{key}_definitions" targetNamespace="http://bpmn.io/schema/bpmn">\n'
    '  <bpmn:process id="{key}" name="{key}" isExecutable="true">\n'
    '    <bpmn:startEvent id="start" name="提交申请" />\n'
    '    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="{first}" />\n'
)
_TAIL = (
    '    <bpmn:userTask id="verify" name="村（居）核实" camunda:formKey="village_verification" '
    'camunda:candidateGroups="village_staff">\n'
    '      <bpmn:extensionElements><camunda:properties>'
    '<camunda:property name="jurisdiction" value="hukou_division" /></camunda:properties></bpmn:extensionElements>\n'
    '    </bpmn:userTask>\n'
    '    <bpmn:endEvent id="end" name="办结" />\n'
    '    <bpmn:sequenceFlow id="flow_verify_end" sourceRef="verify" targetRef="end" />\n'
    '  </bpmn:process>\n'
    '</bpmn:definitions>\n'
)


def _process(key: str, first: str, body: str) -> bytes:
    return (_HEAD.format(key=key, first=first) + body + _TAIL).encode()


def script_diagram(key: str, script: str) -> bytes:
    """Return a diagram whose script task 「计算」(calc) runs `script` before the verification."""
    return _process(key, "calc", (
        f'    <bpmn:scriptTask id="calc" name="计算" scriptFormat="python"><bpmn:script>{escape(script)}'
        '</bpmn:script></bpmn:scriptTask>\n'
        '    <bpmn:sequenceFlow id="flow_calc_verify" sourceRef="calc" targetRef="verify" />\n'
    ))


def loop_diagram(key: str, script: str | None) -> bytes:
    """Return a diagram that loops for ever before the verification: through the gateway 「再来一次？」(again),
    back to the script task 「计数」(count) if `script` is given, else to the merging gateway 「汇合」(merge)."""
    if script is None:
        back, body = "merge", (
            '    <bpmn:exclusiveGateway id="merge" name="汇合" />\n'
            '    <bpmn:sequenceFlow id="flow_merge_again" sourceRef="merge" targetRef="again" />\n'
        )
    else:
        back, body = "count", (
            f'    <bpmn:scriptTask id="count" name="计数" scriptFormat="python"><bpmn:script>{escape(script)}'
            '</bpmn:script></bpmn:scriptTask>\n'
            '    <bpmn:sequenceFlow id="flow_count_again" sourceRef="count" targetRef="again" />\n'
        )
    return _process(key, back, body + (
        '    <bpmn:exclusiveGateway id="again" name="再来一次？" default="flow_again_back" />\n'
        f'    <bpmn:sequenceFlow id="flow_again_back" sourceRef="again" targetRef="{back}" />\n'
        '    <bpmn:sequenceFlow id="flow_again_verify" name="完成" sourceRef="again" targetRef="verify">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">1 == 2</bpmn:conditionExpression>'
        '</bpmn:sequenceFlow>\n'
    ))


def timer_diagram(key: str, text: str, kind: str = "timeDuration", workdays: bool = False,
                  setup: str | None = None) -> bytes:
    """Return a diagram that waits at the timer 「等待」(wait) (`kind`: timeDuration, timeDate or timeCycle).

    `setup` is a script that runs first, in the script task 「准备」(prepare): to set the variable a timer names.
    """
    properties = ('<bpmn:extensionElements><camunda:properties><camunda:property name="calendar" value="workdays" />'
                  '</camunda:properties></bpmn:extensionElements>') if workdays else ""
    body = (
        f'    <bpmn:intermediateCatchEvent id="wait" name="等待">{properties}<bpmn:timerEventDefinition>'
        f'<bpmn:{kind} xsi:type="bpmn:tFormalExpression">{escape(text)}</bpmn:{kind}>'
        '</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n'
        '    <bpmn:sequenceFlow id="flow_wait_verify" sourceRef="wait" targetRef="verify" />\n'
    )
    if setup is None:
        return _process(key, "wait", body)
    return _process(key, "prepare", body + (
        f'    <bpmn:scriptTask id="prepare" name="准备" scriptFormat="python"><bpmn:script>{escape(setup)}'
        '</bpmn:script></bpmn:scriptTask>\n'
        '    <bpmn:sequenceFlow id="flow_prepare_wait" sourceRef="prepare" targetRef="wait" />\n'
    ))
