"""DMN decision tables: deployed as versioned definitions, named by business rule tasks, bound per process version."""

from pathlib import Path

import pytest

from engine.errors import DiagramRejected
from engine.models import ProcessInstanceModel
from processes.demo import HUKOU_VILLAGE
from processes.runtime import RUNTIME
from services import cases
from tests.engine.budget_attacks import incident_message, within
from tests.fixtures import forget

DIAGRAMS = Path(__file__).resolve().parents[1] / "engine" / "diagrams"
PROCESS = (DIAGRAMS / "review_by_decision.bpmn").read_bytes()


def decision(threshold: int) -> bytes:
    """The review-level decision: parity at or above `threshold` goes to an extra audit."""
    return (DIAGRAMS / "review_level.dmn").read_bytes().replace(b"THRESHOLD", str(threshold).encode())


def deploy(session, xml: bytes):
    definition, created = RUNTIME.definitions.deploy(session, xml, "tester")
    session.commit()
    return definition, created


def start(session, people, parity: int) -> ProcessInstanceModel:
    case = cases.create_case(
        session, case_type="third_child", process_key="review_by_decision", applicant_id=people.citizen.id,
        woman_name="张丽", man_name="刘强", contact_phone=people.citizen.phone,
        hukou_division=HUKOU_VILLAGE, residence_division=HUKOU_VILLAGE,
    )
    case.instance = RUNTIME.start(session, "review_by_decision", {"parity": parity}, case.case_number,
                                  people.citizen.actor)
    session.commit()
    forget(session)
    return session.get(ProcessInstanceModel, case.instance.id)


def test_a_process_naming_an_undeployed_decision_is_refused(session):
    with pytest.raises(DiagramRejected, match=r"「确定审核层级」\(decide_level\)：决策 review_level 尚未部署"):
        RUNTIME.definitions.deploy(session, PROCESS, "tester")


def test_decisions_are_versioned_and_identical_content_is_a_no_op(session):
    first, created = deploy(session, decision(3))
    assert (first.kind, first.key, first.version, first.name, created) == ("dmn", "review_level", 1, "审核层级", True)
    again, created = deploy(session, decision(3))
    assert (again.id, created) == (first.id, False)
    second, created = deploy(session, decision(2))
    assert (second.version, created) == (2, True)


def test_hostile_decision_cells_are_refused_naming_the_rule(session):
    hostile = decision(3).replace(b'"county"', b"__import__('os').system('id')")
    with pytest.raises(DiagramRejected) as refused:
        RUNTIME.definitions.deploy(session, hostile, "tester")
    assert any("第 1 条规则的结果" in problem for problem in refused.value.problems), refused.value.problems


def test_the_decision_routes_each_case(session, people):
    deploy(session, decision(3))
    process, _ = deploy(session, PROCESS)
    assert process.decisions == {"review_level": 1}
    third = start(session, people, parity=3)
    first = start(session, people, parity=1)
    assert third.status == "running", "parity 3 needs the extra audit"
    assert first.status == "completed", "parity 1 goes straight through"


def test_a_new_decision_version_applies_when_the_process_is_deployed_again(session, people):
    deploy(session, decision(3))
    deploy(session, PROCESS)
    newer, _ = deploy(session, decision(2))
    assert start(session, people, parity=2).status == "completed", "process v1 keeps the decision it was bound to"

    v2, created = deploy(session, PROCESS)
    assert (created, v2.version, v2.decisions) == (True, 2, {"review_level": newer.id})
    assert start(session, people, parity=2).status == "running", "process v2 uses decision v2"
    assert deploy(session, PROCESS) == (v2, False), "same process, same decisions: nothing new"

    RUNTIME.definitions._parsed.clear()  # a restart: specs are rebuilt from the stored XML of the bound versions
    assert start(session, people, parity=2).status == "running"


def test_a_decision_cell_that_never_ends_makes_an_incident_within_its_budget(session, people):
    endless = decision(3).replace(b"<text>parity</text>", b"<text>sum(range(10**12))</text>")
    deploy(session, endless)
    deploy(session, PROCESS)
    case = cases.create_case(
        session, case_type="third_child", process_key="review_by_decision", applicant_id=people.citizen.id,
        woman_name="张丽", man_name="刘强", contact_phone=people.citizen.phone,
        hukou_division=HUKOU_VILLAGE, residence_division=HUKOU_VILLAGE,
    )
    # Only the engine's step runs in the guarding thread, on this thread's session (db.session is per thread).
    mine = session()
    case.instance = within(10, lambda: RUNTIME.start(mine, "review_by_decision", {"parity": 3}, case.case_number,
                                                     people.citizen.actor))
    session.commit()
    assert case.instance.status == "error"
    element, message = incident_message(session, case.instance)
    assert element == "decide_level", message
    assert "「确定审核层级」(decide_level) 超出时间预算" in message, message
