"""A diagram whose own logic fails at run time fails the instance visibly; the user's work is kept."""

from pathlib import Path

from sqlalchemy import select

from engine.models import AuditEventModel, HumanTaskModel, ProcessInstanceModel
from processes import casework
from processes.demo import HUKOU_VILLAGE
from processes.runtime import RUNTIME
from services import cases
from tests.fixtures import forget

DIAGRAM = Path(__file__).resolve().parents[1] / "engine" / "diagrams" / "failing_condition.bpmn"


def test_a_condition_that_fails_marks_the_instance_and_names_the_element(session, people):
    RUNTIME.definitions.deploy(session, DIAGRAM.read_bytes(), "tester")
    case = cases.create_case(
        session, case_type="first_child", process_key="failing_condition", applicant_id=people.citizen.id,
        woman_name="张丽", man_name="刘强", contact_phone=people.citizen.phone,
        hukou_division=HUKOU_VILLAGE, residence_division=HUKOU_VILLAGE,
    )
    case.instance = RUNTIME.start(session, "failing_condition", {}, case.case_number, people.citizen.actor)
    session.commit()
    task = session.scalar(select(HumanTaskModel).where(HumanTaskModel.business_key == case.case_number))

    casework.decide(session, task.task_guid, people.hukou, "verified")
    session.commit()

    forget(session)
    instance = session.get(ProcessInstanceModel, case.instance_id)
    assert (instance.status, instance.incident) == ("error", True)
    error = session.scalar(select(AuditEventModel).where(
        AuditEventModel.instance_id == instance.id, AuditEventModel.kind == "error"))
    assert error.element == "check"
    assert "「审核结果？」(check)" in error.detail["error"]
    assert "county_review" in error.detail["error"], "the message says what was missing"
    assert [v.decision for v in cases.verifications(session, case)] == ["verified"], "the decision is kept"
    assert casework.open_tasks(session, case) == []
