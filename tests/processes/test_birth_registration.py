"""Every path of birth_registration through the service layer: verification, correction, audit, deadlines."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine.calendar import CST
from engine.errors import TaskConflict
from engine.models import AuditEventModel, OutboxModel, ProcessInstanceModel
from processes import background, casework
from processes.casework import CaseworkError, Forbidden
from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE
from processes.runtime import RUNTIME
from services import cases, notifications
from services.documents import SlipModel
from tests.fixtures import decide, forget, open_steps, open_task, refreshed, sms_templates


def test_two_villages_verify_in_parallel_then_township_approves(session, people, submit):
    case = submit()
    assert case.status == "办理中"
    assert open_steps(session, case) == ["verify_hukou", "verify_residence"]
    assert open_task(session, case, "verify_hukou").division_code == HUKOU_VILLAGE
    assert open_task(session, case, "verify_residence").division_code == RESIDENCE_VILLAGE

    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    assert open_steps(session, case) == ["verify_residence"]
    case = decide(session, case, "verify_residence", people.residence, "verified")
    assert open_steps(session, case) == ["township_audit"]
    assert open_task(session, case, "township_audit").role == "township_staff"

    case = decide(session, case, "township_audit", people.township, "approved")
    assert case.status == "登记成功"
    assert sms_templates(session, case) == ["audit_approved"]
    assert session.scalar(select(SlipModel).where(SlipModel.case_id == case.id)) is not None
    assert session.get(ProcessInstanceModel, case.instance_id).status == "completed"
    recorded = [(v.step, v.decision, v.office_division) for v in cases.verifications(session, case)]
    assert recorded == [
        ("verify_hukou", "verified", HUKOU_VILLAGE),
        ("verify_residence", "verified", RESIDENCE_VILLAGE),
        ("township_audit", "approved", HUKOU_VILLAGE),
    ]


def test_same_village_gets_a_single_verification(session, people, submit):
    case = submit(same_village=True)
    assert open_steps(session, case) == ["verify_both"]
    case = decide(session, case, "verify_both", people.hukou, "verified")
    assert open_steps(session, case) == ["township_audit"]


def test_mismatch_sends_sms_and_the_corrected_case_is_verified_again(session, people, submit):
    case = submit()
    case = decide(session, case, "verify_hukou", people.hukou, "mismatch", "户口簿信息与申报不一致")
    assert case.status == "办理中", "one village alone does not decide the outcome"
    case = decide(session, case, "verify_residence", people.residence, "verified")
    assert case.status == "核实有误"
    assert sms_templates(session, case) == ["verification_mismatch"]
    assert open_steps(session, case) == ["correct_application"]
    assert open_task(session, case, "correct_application").role == "citizen"

    casework.resubmit(session, case, people.citizen, residence_division=HUKOU_VILLAGE, note="已更正现居住地")
    session.commit()
    case = refreshed(session, case)
    assert case.status == "办理中"
    assert open_steps(session, case) == ["verify_both"], "the corrected address is one village now"
    case = decide(session, case, "verify_both", people.hukou, "verified")
    assert open_steps(session, case) == ["township_audit"], "the old mismatch must not leak into the new round"


def test_second_round_results_survive_the_parallel_join(session, people, submit):
    case = submit()
    decide(session, case, "verify_hukou", people.hukou, "mismatch", "不符")
    decide(session, case, "verify_residence", people.residence, "verified")
    casework.resubmit(session, case, people.citizen)
    session.commit()
    # Reverse order this time: the residence branch finishes first, the stale hukou value must not win.
    decide(session, case, "verify_residence", people.residence, "verified")
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    assert open_steps(session, case) == ["township_audit"]


def test_township_rejects(session, people, submit):
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    case = decide(session, case, "township_audit", people.township, "rejected", "材料不全")
    assert case.status == "不予登记"
    assert sms_templates(session, case) == ["audit_rejected"]
    assert session.scalar(select(SlipModel).where(SlipModel.case_id == case.id)) is None
    assert open_steps(session, case) == []


def test_staff_outside_the_jurisdiction_or_role_cannot_decide(session, people, submit):
    case = submit()
    task = open_task(session, case, "verify_hukou")
    for outsider in (people.other, people.residence, people.township, people.county):
        with pytest.raises(Forbidden):
            casework.decide(session, task.task_guid, outsider, "verified")
    with pytest.raises(CaseworkError, match="选择「情况不符」时必须填写意见或原因"):
        casework.decide(session, task.task_guid, people.hukou, "mismatch", "  ")
    with pytest.raises(CaseworkError, match="请从给定选项中选择（情况属实、情况不符）"):
        casework.decide(session, task.task_guid, people.hukou, "maybe")
    session.rollback()
    assert cases.verifications(session, case) == [], "a refused decision leaves nothing behind"


def test_completing_a_task_twice_is_a_conflict(session, people, submit):
    case = submit()
    task = open_task(session, case, "verify_hukou")
    decide(session, case, "verify_hukou", people.hukou, "verified")
    with pytest.raises(TaskConflict, match="已经办理完毕"):
        casework.decide(session, task.task_guid, people.hukou, "verified")


MONDAY_MORNING = datetime(2026, 3, 2, 9, 0, tzinfo=CST)


def test_overdue_verification_notifies_the_township_and_shows_a_due_date(session, people, submit):
    with time_machine.travel(MONDAY_MORNING, tick=False) as clock:
        case = submit()
        task = open_task(session, case, "verify_hukou")
        # Three working days after Monday: due by the end of Thursday, China time.
        assert task.due_at.astimezone(CST) == datetime.combine(date(2026, 3, 5), time.max, tzinfo=CST)
        assert background.tick() == {"timers": 0, "outbox": 0}

        clock.move_to(datetime(2026, 3, 6, 0, 30, tzinfo=CST))
        assert background.tick()["timers"] == 1
        forget(session)
        overdue = [m for m in session.scalars(select(notifications.SmsMessageModel))
                   if m.template == "task_overdue"]
        assert sorted(m.phone for m in overdue) == [people.township.phone] * 2
        assert open_steps(session, case) == ["verify_hukou", "verify_residence"], "a reminder does not cancel work"
        fired = session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "timer_fired")).all()
        assert len(fired) == 2


def test_cases_submitted_the_same_day_share_their_deadline(session, submit):
    with time_machine.travel(MONDAY_MORNING, tick=True):
        dues = {open_task(session, submit(), "verify_hukou").due_at for _ in range(3)}
    assert dues == {datetime.combine(date(2026, 3, 5), time.max, tzinfo=CST)}, "the end of the day, not 'now + 3 days'"


def test_overdue_counts_working_days_across_a_holiday(session, submit):
    # Submitted the last working day before the 2026 National Day holiday (Oct 1–7; Oct 10 is a workday).
    with time_machine.travel(datetime(2026, 9, 30, 10, 0, tzinfo=CST), tick=False):
        case = submit()
        due = open_task(session, case, "verify_hukou").due_at.astimezone(CST).date()
    # Oct 8 and 9 are the first working days after the holiday; Saturday Oct 10 is an adjusted workday (调休).
    assert due == datetime(2026, 10, 10).date()


def test_failing_sms_retries_then_becomes_an_incident_that_can_be_retried(session, people, submit, monkeypatch):
    def broken(_session, _phone, _text):
        raise ConnectionError("短信网关无响应")

    monkeypatch.setitem(notifications.PROVIDERS, "record", broken)
    with time_machine.travel(MONDAY_MORNING, tick=False) as clock:
        case = submit(same_village=True)
        decide(session, case, "verify_both", people.hukou, "verified")
        case = decide(session, case, "township_audit", people.township, "approved")
        row = session.scalar(select(OutboxModel).where(OutboxModel.bpmn_id == "notify_approved"))
        assert (row.status, row.attempts) == ("pending", 1)
        assert "短信网关无响应" in row.last_error

        for _ in range(RUNTIME.retry_policy.max_attempts):
            clock.shift(timedelta(hours=12))
            background.tick()
        forget(session)
        row = session.get(OutboxModel, row.id)
        instance = session.get(ProcessInstanceModel, case.instance_id)
        assert (row.status, row.attempts) == ("incident", RUNTIME.retry_policy.max_attempts)
        assert instance.incident
        assert instance.status == "running"
        assert sms_templates(session, case) == [], "a failed send records no message"

        monkeypatch.undo()
        RUNTIME.retry_incident(session, row.id, "user:admin")
        session.commit()
        forget(session)
        assert session.get(OutboxModel, row.id).status == "done"
        assert not session.get(ProcessInstanceModel, case.instance_id).incident
        assert session.get(ProcessInstanceModel, case.instance_id).status == "completed"
        assert sms_templates(session, case) == ["audit_approved"]
        kinds = [e.kind for e in session.scalars(select(AuditEventModel).where(
            AuditEventModel.instance_id == case.instance_id).order_by(AuditEventModel.id))]
        assert kinds.count("service_failed") == RUNTIME.retry_policy.max_attempts - 1
        assert "incident" in kinds
        assert "incident_retried" in kinds


def test_timer_deadline_is_fixed_when_reached(session, submit):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        case = submit()
        first = open_task(session, case, "verify_hukou").due_at
    with time_machine.travel(MONDAY_MORNING + timedelta(days=1), tick=False):
        background.tick()
        forget(session)
        assert open_task(session, case, "verify_hukou").due_at == first
        assert session.get(ProcessInstanceModel, case.instance_id).next_timer_at == first
    assert first > datetime(2026, 3, 5, tzinfo=UTC)
