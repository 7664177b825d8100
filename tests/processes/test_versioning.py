"""Diagram versions in service: running cases finish on the version they started on, new cases take the newest."""

from sqlalchemy import func, select

from engine.models import ProcessDefinitionModel, ProcessInstanceModel
from processes.casework import DIAGRAMS_DIR
from processes.overview import all_tasks
from processes.runtime import RUNTIME
from tests.fixtures import decide, forget, open_task

OLD_NAME = "乡镇（街道）审核"
NEW_NAME = "乡镇（街道）审核（新版）"


def changed_birth_registration() -> bytes:
    """Return birth_registration.bpmn with the township audit renamed (so a different sha256)."""
    original = (DIAGRAMS_DIR / "birth_registration.bpmn").read_text(encoding="utf-8")
    old = f'<bpmn:userTask id="township_audit" name="{OLD_NAME}"'
    assert original.count(old) == 1
    return original.replace(old, f'<bpmn:userTask id="township_audit" name="{NEW_NAME}"').encode("utf-8")


def versions(session) -> list[int]:
    """Return the stored versions of birth_registration."""
    return list(session.scalars(select(ProcessDefinitionModel.version)
                                .where(ProcessDefinitionModel.key == "birth_registration")
                                .order_by(ProcessDefinitionModel.version)))


def instance_of(session, case) -> ProcessInstanceModel:
    """Return the process instance of a case."""
    return session.get(ProcessInstanceModel, case.instance_id)


def audit_task_names(session, case) -> list[str]:
    """Return the names of every township_audit task row of a case."""
    return [t.name for t in all_tasks(session, case) if t.bpmn_id == "township_audit"]


def test_new_version_takes_new_cases_while_running_cases_finish_on_theirs(session, people, deployed, submit):
    assert deployed["birth_registration"].version == 1
    before = submit(same_village=True)

    v2, created = RUNTIME.definitions.deploy(session, changed_birth_registration(), "user:policy")
    session.commit()
    assert created
    assert v2.version == 2
    assert RUNTIME.definitions.latest_active(session, "birth_registration").id == v2.id
    after = submit(same_village=True)

    for case in (before, after):
        decide(session, case, "verify_both", people.hukou, "verified")
    assert open_task(session, before, "township_audit").name == OLD_NAME
    assert open_task(session, after, "township_audit").name == NEW_NAME

    before = decide(session, before, "township_audit", people.township, "approved")
    after = decide(session, after, "township_audit", people.township, "approved")
    for case, version, name in ((before, 1, OLD_NAME), (after, 2, NEW_NAME)):
        instance = instance_of(session, case)
        assert (instance.status, instance.definition.version) == ("completed", version)
        assert case.status == "登记成功"
        assert audit_task_names(session, case) == [name]

    again, created_again = RUNTIME.definitions.deploy(session, changed_birth_registration(), "user:policy")
    session.commit()
    assert not created_again
    assert again.id == v2.id
    forget(session)
    assert versions(session) == [1, 2]
    assert session.scalar(select(func.count()).select_from(ProcessDefinitionModel)) == 3, (
        "birth_registration v1 and v2, third_child_approval v1: nothing else")


def test_running_case_survives_a_restart_on_its_stored_version(session, people, submit):
    case = submit(same_village=True)
    v1 = instance_of(session, case).definition
    RUNTIME.definitions.deploy(session, changed_birth_registration(), "user:policy")
    session.commit()

    # A restarted process has no parsed specs in memory: they must come back from the XML stored with each version.
    RUNTIME.definitions._parsed.clear()
    forget(session)
    decide(session, case, "verify_both", people.hukou, "verified")
    assert open_task(session, case, "township_audit").name == OLD_NAME
    assert set(RUNTIME.definitions._parsed) == {v1.sha256}

    RUNTIME.definitions._parsed.clear()
    case = decide(session, case, "township_audit", people.township, "approved")
    instance = instance_of(session, case)
    assert (instance.status, instance.definition.version) == ("completed", 1)
    assert case.status == "登记成功"
