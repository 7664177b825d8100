"""Every path of third_child_approval through the service layer: verification, review, on-site confirmation, timers."""

from datetime import datetime

import pytest
import time_machine
from sqlalchemy import select

from engine.calendar import CST
from engine.models import ProcessInstanceModel
from processes import background, casework
from processes.casework import CaseworkError, Forbidden
from processes.demo import HUKOU_VILLAGE, OTHER_VILLAGE
from processes.roles import CITIZEN, TOWNSHIP_STAFF, VILLAGE_STAFF
from services import accounts, cases, notifications
from services.documents import SlipModel
from tests.fixtures import decide, forget, open_steps, open_task, refreshed, sms_templates

THIRD_CHILD = "third_child"


def _slip(session, case):
    return session.scalar(select(SlipModel).where(SlipModel.case_id == case.id))


def _messages(session, case):
    return list(session.scalars(
        select(notifications.SmsMessageModel).where(notifications.SmsMessageModel.case_number == case.case_number)
        .order_by(notifications.SmsMessageModel.id)))


def _records(session, case):
    return [(v.step, v.decision, v.reason, v.office_division) for v in cases.verifications(session, case)]


def _instance_status(session, case):
    return session.get(ProcessInstanceModel, case.instance_id).status


def _passed_review(session, people, submit):
    """Submit a third-child case, verify it and pass the township review: it now waits for on-site confirmation."""
    case = submit(case_type=THIRD_CHILD)
    decide(session, case, "verify_hukou", people.hukou, "verified")
    return decide(session, case, "township_review", people.township, "passed")


def test_a_third_child_case_runs_on_its_own_diagram_with_one_hukou_verification(session, people, submit):
    case = submit(case_type=THIRD_CHILD)
    assert case.process_key == "third_child_approval"
    assert case.type_label == "三孩审批"
    assert case.status == "办理中"
    assert open_steps(session, case) == ["verify_hukou"], "a third child is verified by the hukou village only"
    task = open_task(session, case, "verify_hukou")
    assert (task.role, task.division_code, task.form_key) == (VILLAGE_STAFF, HUKOU_VILLAGE, "village_verification")
    with pytest.raises(Forbidden):
        casework.decide(session, task.task_guid, people.residence, "verified")
    assert sms_templates(session, case) == []
    assert _instance_status(session, case) == "running"


def test_approved_after_review_and_on_site_confirmation_issues_the_approval_slip(session, people, submit):
    case = submit(case_type=THIRD_CHILD)

    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    assert case.status == "办理中"
    assert open_steps(session, case) == ["township_review"]
    review = open_task(session, case, "township_review")
    assert (review.role, review.division_code, review.form_key) == (TOWNSHIP_STAFF, HUKOU_VILLAGE, "township_review")

    case = decide(session, case, "township_review", people.township, "passed")
    assert case.status == "待现场确认"
    assert sms_templates(session, case) == ["offline_confirmation"]
    assert open_steps(session, case) == ["offline_confirmation"]
    confirmation = open_task(session, case, "offline_confirmation")
    assert (confirmation.role, confirmation.division_code) == (TOWNSHIP_STAFF, HUKOU_VILLAGE)
    assert _slip(session, case) is None, "no slip before the decision"

    case = decide(session, case, "offline_confirmation", people.township, "approved")
    assert case.status == "已批准"
    assert sms_templates(session, case) == ["offline_confirmation", "approval_granted"]
    assert [m.phone for m in _messages(session, case)] == [people.citizen.phone] * 2
    slip = _slip(session, case)
    assert slip is not None
    assert slip.kind == "再生育审批单"
    assert len(slip.verification_code) == 32
    assert open_steps(session, case) == []
    assert _instance_status(session, case) == "completed"
    assert _records(session, case) == [
        ("verify_hukou", "verified", "", HUKOU_VILLAGE),
        ("township_review", "passed", "", HUKOU_VILLAGE),
        ("offline_confirmation", "approved", "", HUKOU_VILLAGE),
    ]
    actors = [v.actor for v in cases.verifications(session, case)]
    assert actors == [people.hukou.actor, people.township.actor, people.township.actor]


def test_offline_confirmation_sms_names_the_office_and_what_to_bring(session, people, submit):
    case = _passed_review(session, people, submit)
    [message] = _messages(session, case)
    assert message.template == "offline_confirmation"
    assert message.phone == people.citizen.phone
    assert case.case_number in message.text
    assert "夫妻双方" in message.text
    assert "身份证、户口簿、结婚证原件" in message.text
    assert "于工作日到北京市东城区东华门街道卫生健康办公室现场确认" in message.text, "the township of the hukou place"
    assert "{" not in message.text, "every placeholder is filled"


def test_review_failed_requires_a_reason_and_ends_not_approved_without_a_slip(session, people, submit):
    case = submit(case_type=THIRD_CHILD)
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    task = open_task(session, case, "township_review")
    for blank in ("", "   "):
        with pytest.raises(CaseworkError, match="时必须填写意见或原因"):
            casework.decide(session, task.task_guid, people.township, "failed", blank)
    with pytest.raises(CaseworkError, match="请从给定选项中选择"):
        casework.decide(session, task.task_guid, people.township, "approved")
    session.rollback()
    assert open_steps(session, case) == ["township_review"], "a refused decision leaves the task open"

    case = decide(session, case, "township_review", people.township, "failed", "  不符合再生育条件  ")
    assert case.status == "不予批准"
    assert sms_templates(session, case) == ["review_failed"]
    assert _slip(session, case) is None
    assert open_steps(session, case) == []
    assert _instance_status(session, case) == "completed"
    assert _records(session, case) == [
        ("verify_hukou", "verified", "", HUKOU_VILLAGE),
        ("township_review", "failed", "不符合再生育条件", HUKOU_VILLAGE),
    ]


def test_rejected_at_on_site_confirmation_ends_not_approved_without_a_slip(session, people, submit):
    case = _passed_review(session, people, submit)
    task = open_task(session, case, "offline_confirmation")
    with pytest.raises(CaseworkError, match="时必须填写意见或原因"):
        casework.decide(session, task.task_guid, people.township, "rejected")
    session.rollback()

    case = decide(session, case, "offline_confirmation", people.township, "rejected", "夫妻双方未到场确认")
    assert case.status == "不予批准"
    assert sms_templates(session, case) == ["offline_confirmation", "approval_rejected"]
    assert _slip(session, case) is None
    assert open_steps(session, case) == []
    assert _instance_status(session, case) == "completed"
    assert _records(session, case)[-1] == ("offline_confirmation", "rejected", "夫妻双方未到场确认", HUKOU_VILLAGE)


def test_mismatch_is_corrected_by_the_citizen_and_the_case_goes_on_to_approval(session, people, submit):
    case = submit(case_type=THIRD_CHILD)
    case = decide(session, case, "verify_hukou", people.hukou, "mismatch", "户口簿信息与申报不一致")
    assert case.status == "核实有误"
    assert sms_templates(session, case) == ["verification_mismatch"]
    assert open_steps(session, case) == ["correct_application"]
    correction = open_task(session, case, "correct_application")
    assert (correction.role, correction.division_code) == (CITIZEN, None)

    casework.resubmit(session, case, people.citizen, note=" 已更正户口簿信息 ")
    session.commit()
    case = refreshed(session, case)
    assert case.status == "办理中"
    assert open_steps(session, case) == ["verify_hukou"], "the corrected case is verified again"
    assert open_task(session, case, "verify_hukou").division_code == HUKOU_VILLAGE

    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    assert open_steps(session, case) == ["township_review"], "the old mismatch must not leak into the new round"
    case = decide(session, case, "township_review", people.township, "passed")
    assert case.status == "待现场确认"
    case = decide(session, case, "offline_confirmation", people.township, "approved")
    assert case.status == "已批准"
    assert sms_templates(session, case) == ["verification_mismatch", "offline_confirmation", "approval_granted"]
    assert _slip(session, case).kind == "再生育审批单"
    assert _instance_status(session, case) == "completed"
    assert _records(session, case) == [
        ("verify_hukou", "mismatch", "户口簿信息与申报不一致", HUKOU_VILLAGE),
        ("correct_application", "resubmitted", "已更正户口簿信息", None),
        ("verify_hukou", "verified", "", HUKOU_VILLAGE),
        ("township_review", "passed", "", HUKOU_VILLAGE),
        ("offline_confirmation", "approved", "", HUKOU_VILLAGE),
    ]


def test_a_corrected_hukou_village_moves_the_new_verification_to_that_village(session, people, submit):
    case = submit(case_type=THIRD_CHILD)
    case = decide(session, case, "verify_hukou", people.hukou, "mismatch", "户籍不在本村")
    casework.resubmit(session, case, people.citizen, hukou_division=OTHER_VILLAGE, note="户籍地应为东厂社区")
    session.commit()
    case = refreshed(session, case)
    assert case.hukou_division == OTHER_VILLAGE
    task = open_task(session, case, "verify_hukou")
    assert task.division_code == OTHER_VILLAGE
    with pytest.raises(Forbidden):
        casework.decide(session, task.task_guid, people.hukou, "verified")
    session.rollback()
    case = decide(session, case, "verify_hukou", people.other, "verified")
    assert open_task(session, case, "township_review").division_code == OTHER_VILLAGE


def test_a_mismatch_twice_loops_twice(session, people, submit):
    case = submit(case_type=THIRD_CHILD)
    for round_ in (1, 2):
        case = decide(session, case, "verify_hukou", people.hukou, "mismatch", f"第{round_}次不符")
        assert case.status == "核实有误"
        casework.resubmit(session, case, people.citizen)
        session.commit()
        case = refreshed(session, case)
        assert case.status == "办理中"
    assert sms_templates(session, case) == ["verification_mismatch"] * 2
    assert open_steps(session, case) == ["verify_hukou"]


def test_only_the_applicant_may_resubmit_and_only_when_a_correction_is_due(session, people, submit):
    case = submit(case_type=THIRD_CHILD)
    with pytest.raises(CaseworkError, match="无需更正"):
        casework.resubmit(session, case, people.citizen)
    case = decide(session, case, "verify_hukou", people.hukou, "mismatch", "不符")

    stranger = accounts.create_user(session, phone="13800000002", name="王芳", role=CITIZEN, password="Test@12345")
    session.commit()
    for intruder in (stranger, people.hukou, people.township):
        with pytest.raises(Forbidden):
            casework.resubmit(session, case, intruder)
    session.rollback()
    case = refreshed(session, case)
    assert case.status == "核实有误"
    assert open_steps(session, case) == ["correct_application"], "a refused resubmission leaves the correction open"


def test_only_township_staff_of_the_case_township_may_review(session, people, submit):
    case = submit(case_type=THIRD_CHILD)
    decide(session, case, "verify_hukou", people.hukou, "verified")
    other_township = accounts.create_user(session, phone="13900000012", name="景山街道", role=TOWNSHIP_STAFF,
                                          password="Test@12345", division_code="110101002")
    session.commit()
    task = open_task(session, case, "township_review")
    for outsider in (people.hukou, people.residence, people.county, people.citizen, other_township):
        with pytest.raises(Forbidden):
            casework.decide(session, task.task_guid, outsider, "passed")
    session.rollback()
    assert cases.verifications(session, case)[-1].step == "verify_hukou", "refused decisions record nothing"

    case = decide(session, case, "township_review", people.township, "passed")
    task = open_task(session, case, "offline_confirmation")
    for outsider in (people.hukou, people.county, other_township):
        with pytest.raises(Forbidden):
            casework.decide(session, task.task_guid, outsider, "approved")


MONDAY_MORNING = datetime(2026, 3, 2, 9, 0, tzinfo=CST)


def test_overdue_verification_reminds_the_township_and_leaves_the_task_open(session, people, submit):
    with time_machine.travel(MONDAY_MORNING, tick=False) as clock:
        case = submit(case_type=THIRD_CHILD)
        due = open_task(session, case, "verify_hukou").due_at
        # Three working days after Monday: due by the end of Thursday, China time.
        # (The timer is set in whole seconds, so the deadline is Thursday 23:59:59 rather than its last microsecond.)
        assert datetime(2026, 3, 5, 23, 59, 59, tzinfo=CST) <= due <= datetime(2026, 3, 6, tzinfo=CST)
        assert background.tick() == {"timers": 0, "outbox": 0}

        clock.move_to(datetime(2026, 3, 5, 23, 0, tzinfo=CST))
        assert background.tick()["timers"] == 0, "still within Thursday"

        clock.move_to(datetime(2026, 3, 6, 0, 30, tzinfo=CST))
        assert background.tick()["timers"] == 1
        forget(session)
        [reminder] = _messages(session, case)
        assert reminder.template == "task_overdue"
        assert reminder.phone == people.township.phone
        assert case.case_number in reminder.text
        assert open_steps(session, case) == ["verify_hukou"], "a reminder does not cancel work"
        assert refreshed(session, case).status == "办理中"

        assert background.tick()["timers"] == 0, "the reminder is sent once"
        case = decide(session, case, "verify_hukou", people.hukou, "verified")
        assert open_steps(session, case) == ["township_review"]


def test_township_review_is_due_two_working_days_after_it_opens(session, people, submit):
    with time_machine.travel(datetime(2026, 3, 5, 10, 0, tzinfo=CST), tick=False):  # a Thursday
        case = submit(case_type=THIRD_CHILD)
        decide(session, case, "verify_hukou", people.hukou, "verified")
        due = open_task(session, case, "township_review").due_at
    # Friday, then the weekend, then Monday.
    assert due.astimezone(CST).date() == datetime(2026, 3, 9).date()


def test_overdue_on_site_confirmation_reminds_the_township_and_keeps_waiting(session, people, submit):
    with time_machine.travel(MONDAY_MORNING, tick=False) as clock:
        case = _passed_review(session, people, submit)
        task = open_task(session, case, "offline_confirmation")
        # Two working days after Monday: due by the end of Wednesday.
        assert task.due_at.astimezone(CST).date() == datetime(2026, 3, 4).date()

        clock.move_to(datetime(2026, 3, 5, 0, 30, tzinfo=CST))
        assert background.tick()["timers"] == 1
        forget(session)
        case = refreshed(session, case)
        assert case.status == "待现场确认", "the reminder does not change what the citizen sees"
        assert open_task(session, case, "offline_confirmation").task_guid == task.task_guid
        overdue = [m for m in _messages(session, case) if m.template == "task_overdue"]
        assert [m.phone for m in overdue] == [people.township.phone]
        assert [m.phone for m in _messages(session, case) if m.template != "task_overdue"] == [people.citizen.phone]

        case = decide(session, case, "offline_confirmation", people.township, "approved")
        assert case.status == "已批准"
        assert _instance_status(session, case) == "completed"


def test_overdue_reminder_names_the_task_that_is_overdue(session, people, submit):
    # BUG: processes/operators.py sms_send fills {task} with params.get("task", call.element_name); the escalation
    # service tasks set no `task` property, so the township is told that 「超期提醒乡镇」 (the reminder itself) is
    # overdue, and cannot tell verification, review and on-site confirmation reminders apart.
    with time_machine.travel(MONDAY_MORNING, tick=False) as clock:
        case = submit(case_type=THIRD_CHILD)
        decide(session, case, "verify_hukou", people.hukou, "verified")
        clock.move_to(datetime(2026, 3, 5, 0, 30, tzinfo=CST))  # township_review was due by the end of Wednesday
        assert background.tick()["timers"] == 1
        forget(session)
        [reminder] = _messages(session, case)
    assert reminder.template == "task_overdue"
    assert reminder.text == notifications.render(
        "task_overdue", {"case_number": case.case_number, "task": "乡镇（街道）审查"})
