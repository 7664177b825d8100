"""The applicant withdraws a case before any office decides it: the diagram's message event ends it as 已撤回."""

import threading
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from engine.models import AuditEventModel, HumanTaskModel, OutboxModel, ProcessInstanceModel
from processes import casework, withdrawal
from processes.applying import couple_cases
from processes.casework import DIAGRAMS_DIR, CaseworkError, Forbidden
from processes.runtime import RUNTIME
from services import cases
from services.accounts import UserModel
from services.db import db
from tests.applications import MAN_ID, WOMAN_ID
from tests.fixtures import decide, forget, open_steps, open_task, refreshed

POLICY_2021 = (Path(__file__).resolve().parents[1] / "diagrams" / "birth_registration_2021.bpmn").read_bytes()


def _withdraw(session, case, user):
    withdrawal.withdraw(session, case, user)
    session.commit()
    return refreshed(session, case)


def _tasks(session, case):
    return {t.bpmn_id: t.status for t in session.scalars(
        select(HumanTaskModel).where(HumanTaskModel.business_key == case.case_number))}


def test_withdrawing_during_verification_ends_the_case_and_cancels_both_villages_tasks(session, people, submit):
    case = submit()
    assert withdrawal.may_withdraw(session, case)
    case = _withdraw(session, case, people.citizen)
    assert case.status == "已撤回"
    assert open_steps(session, case) == [], "no village keeps the case in its inbox"
    assert _tasks(session, case) == {"verify_hukou": "cancelled", "verify_residence": "cancelled"}
    instance = session.get(ProcessInstanceModel, case.instance_id)
    assert instance.status == "completed"
    assert instance.milestone == "已撤回"
    assert instance.next_timer_at is None, "no overdue reminder fires for a withdrawn case"
    kinds = [e.kind for e in session.scalars(select(AuditEventModel).where(
        AuditEventModel.instance_id == instance.id).order_by(AuditEventModel.id))]
    assert "message" in kinds


def test_one_village_having_verified_does_not_stop_a_withdrawal(session, people, submit):
    case = submit()
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    case = _withdraw(session, case, people.citizen)
    assert case.status == "已撤回"
    assert _tasks(session, case)["verify_residence"] == "cancelled"


def test_withdrawing_while_the_township_audits_cancels_its_task_and_its_reminder(session, people, submit):
    case = submit(same_village=True)
    case = decide(session, case, "verify_both", people.hukou, "verified")
    assert open_steps(session, case) == ["township_audit"]
    case = _withdraw(session, case, people.citizen)
    assert case.status == "已撤回"
    assert _tasks(session, case)["township_audit"] == "cancelled"
    pending = session.scalars(select(OutboxModel).where(OutboxModel.instance_id == case.instance_id,
                                                        OutboxModel.status == "pending")).all()
    assert pending == []


def test_a_third_child_case_can_be_withdrawn_before_the_townships_review(session, people, submit):
    case = submit(case_type="third_child")
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    assert open_steps(session, case) == ["township_review"]
    assert _withdraw(session, case, people.citizen).status == "已撤回"


def test_after_the_townships_review_passed_a_third_child_case_cannot_be_withdrawn(session, people, submit):
    case = submit(case_type="third_child")
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    case = decide(session, case, "township_review", people.township, "passed")
    assert case.status == "待现场确认"
    with pytest.raises(CaseworkError, match="审核决定环节"):
        withdrawal.withdraw(session, case, people.citizen)


def test_after_registration_the_case_cannot_be_withdrawn(session, people, submit):
    case = submit(same_village=True)
    case = decide(session, case, "verify_both", people.hukou, "verified")
    case = decide(session, case, "township_audit", people.township, "approved")
    assert case.status == "登记成功"
    assert not withdrawal.may_withdraw(session, case)
    with pytest.raises(CaseworkError, match="已办结（登记成功），不能撤回"):
        withdrawal.withdraw(session, case, people.citizen)


def test_a_village_mismatch_stops_the_withdrawal_until_the_case_is_corrected(session, people, submit):
    case = submit()
    case = decide(session, case, "verify_hukou", people.hukou, "mismatch", "户口簿信息不符")
    # The residence village is still at work (its task could catch the message), but a mismatch was found.
    with pytest.raises(CaseworkError, match="情况不符，不能撤回"):
        withdrawal.withdraw(session, case, people.citizen)
    case = decide(session, case, "verify_residence", people.residence, "verified")
    assert case.status == "核实有误"
    with pytest.raises(CaseworkError, match="核实有误期间不能撤回"):
        withdrawal.withdraw(session, case, people.citizen)
    casework.resubmit(session, case, people.citizen)
    session.commit()
    case = refreshed(session, case)
    assert withdrawal.may_withdraw(session, case), "the corrected case is in a new round of verification"
    assert _withdraw(session, case, people.citizen).status == "已撤回"


def test_only_the_applicant_may_withdraw(session, people, submit):
    case = submit()
    for someone in (people.hukou, people.township, people.county):
        with pytest.raises(Forbidden):
            withdrawal.withdraw(session, case, someone)
    assert refreshed(session, case).status == "办理中"


def test_a_second_withdrawal_is_refused_and_changes_nothing(session, people, submit):
    case = submit()
    case = _withdraw(session, case, people.citizen)
    events = session.scalar(select(AuditEventModel.id).order_by(AuditEventModel.id.desc()).limit(1))
    with pytest.raises(CaseworkError, match="已撤回，无需重复操作"):
        withdrawal.withdraw(session, case, people.citizen)
    session.rollback()
    assert session.scalar(select(AuditEventModel.id).order_by(AuditEventModel.id.desc()).limit(1)) == events


def test_the_engine_refuses_a_message_nobody_waits_for(session, people, submit):
    case = submit()
    with pytest.raises(Exception, match="不能接收「催办」"):
        RUNTIME.send_message(session, case.instance_id, "催办", {}, people.citizen.actor)


def test_a_withdrawn_case_does_not_block_a_new_application_for_the_same_pregnancy(session, people, apply):
    case = apply()
    assert [c.case_number for c in couple_cases(session, WOMAN_ID, MAN_ID)] == [case.case_number]
    case = _withdraw(session, case, people.citizen)
    assert case.status == "已撤回"
    assert couple_cases(session, WOMAN_ID, MAN_ID) == [], "the parity rule no longer sees the withdrawn case"
    again = apply()
    assert again.status == "办理中"


def test_a_version_without_the_event_offers_no_withdrawal(session, people, submit, deployed):
    old_policy, _ = RUNTIME.definitions.deploy(session, POLICY_2021, "policy")  # the newest active version
    session.commit()
    case = submit()
    assert session.get(ProcessInstanceModel, case.instance_id).definition_id == old_policy.id
    assert deployed["birth_registration"].id != old_policy.id
    assert not withdrawal.may_withdraw(session, case)
    with pytest.raises(CaseworkError, match="不能在网上撤回"):
        withdrawal.withdraw(session, case, people.citizen)


# -- cases running on a version from before withdrawal ---------------------------------------------------------------

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def without_withdrawal(xml: bytes) -> bytes:
    """Return a shipped diagram as it was before withdrawal: no message events, no 已撤回 end, no message."""
    root = etree.fromstring(xml)
    message_events = {el.getparent().get("id") for el in root.iter(f"{BPMN}messageEventDefinition")}
    gone = message_events | {"withdrawn", "withdraw_message"}
    gone |= {flow.get("id") for flow in root.iter(f"{BPMN}sequenceFlow") if flow.get("targetRef") == "withdrawn"}
    for el in list(root.iter()):
        if el.get("id") in gone or el.get("bpmnElement") in gone or (el.tag == f"{BPMN}flowNodeRef"
                                                                      and el.text in gone):
            el.getparent().remove(el)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_a_case_migrated_from_a_version_without_withdrawal_can_be_withdrawn(session, people, submit, deployed):
    shipped = (DIAGRAMS_DIR / "birth_registration.bpmn").read_bytes()
    old, _ = RUNTIME.definitions.deploy(session, without_withdrawal(shipped), "policy")
    session.commit()
    case = submit()
    assert not withdrawal.may_withdraw(session, case)
    new = deployed["birth_registration"]  # the shipped version, older than the one the case started on
    assert RUNTIME.migration_blockers(session, case.instance_id, new) == []
    RUNTIME.migrate(session, case.instance_id, new, "policy")
    session.commit()
    case = refreshed(session, case)
    assert session.get(ProcessInstanceModel, case.instance_id).definition_id == new.id != old.id
    assert withdrawal.may_withdraw(session, case), "the waiting steps take the new version's withdrawal event"
    case = _withdraw(session, case, people.citizen)
    instance = session.get(ProcessInstanceModel, case.instance_id)
    errors = [e.detail for e in session.scalars(select(AuditEventModel).where(
        AuditEventModel.instance_id == instance.id, AuditEventModel.kind == "error"))]
    assert (case.status, instance.status, errors) == ("已撤回", "completed", [])
    assert open_steps(session, case) == []


# -- at the same instant -------------------------------------------------------------------------------------------

def _together(*actions) -> list[BaseException]:
    """Run each action (given a session of its own) at the same instant; return what they raised."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def work(action):
        with db.factory() as session:
            try:
                barrier.wait(timeout=10)
                action(session)
                session.commit()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                session.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def _withdrawing(case_number, user_id):
    def action(session):
        withdrawal.withdraw(session, cases.get_case(session, case_number), session.get(UserModel, user_id))
    return action


def test_two_simultaneous_withdrawals_withdraw_once(session, people, submit):
    case = submit()
    forget(session)
    errors = _together(*[_withdrawing(case.case_number, people.citizen.id)] * 2)
    assert [str(e) for e in errors] == ["该申请已撤回，无需重复操作"]
    case = refreshed(session, case)
    assert case.status == "已撤回"
    messages = session.scalars(select(AuditEventModel).where(AuditEventModel.instance_id == case.instance_id,
                                                             AuditEventModel.kind == "message")).all()
    assert len(messages) == 1


def test_a_withdrawal_racing_the_township_decision_lets_exactly_one_win(session, people, submit):
    case = submit(same_village=True)
    case = decide(session, case, "verify_both", people.hukou, "verified")
    guid = open_task(session, case, "township_audit").task_guid
    forget(session)

    def approving(session):
        casework.decide(session, guid, session.get(UserModel, people.township.id), "approved")

    errors = _together(_withdrawing(case.case_number, people.citizen.id), approving)
    assert len(errors) == 1, errors
    case = refreshed(session, case)
    assert case.status in {"已撤回", "登记成功"}
    assert session.get(ProcessInstanceModel, case.instance_id).status in {"completed", "running"}
    assert open_steps(session, case) == []


def test_a_case_migrated_to_a_version_without_withdrawal_stays_at_its_step(session, people, submit, deployed):
    case = submit()
    shipped = (DIAGRAMS_DIR / "birth_registration.bpmn").read_bytes()
    older, _ = RUNTIME.definitions.deploy(session, without_withdrawal(shipped), "policy")
    session.commit()
    assert RUNTIME.migration_blockers(session, case.instance_id, older) == [], "a dropped event blocks nothing"
    RUNTIME.migrate(session, case.instance_id, older, "policy")
    session.commit()
    case = refreshed(session, case)
    assert open_steps(session, case) == ["verify_hukou", "verify_residence"]
    assert not withdrawal.may_withdraw(session, case)
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    case = decide(session, case, "verify_residence", people.residence, "verified")
    assert open_steps(session, case) == ["township_audit"]
    assert deployed["birth_registration"].id != older.id
