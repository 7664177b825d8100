"""Service tasks under faults: a broker that is down, workers that die, ticks that repeat, performers that race.

A "queue" here is a list the dispatcher hands outbox ids to (as the Celery dispatcher hands them to the broker);
performing one is what a worker does with a message. The real worker and broker are in tests/webapp/
test_celery_outage.py.
"""

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine.db import utcnow
from engine.models import AuditEventModel, OutboxModel, ProcessInstanceModel
from processes import background
from processes.runtime import RUNTIME
from services import notifications
from services.db import db
from services.notifications import SmsMessageModel, SmsRefused
from tests.fixtures import csrf_token, decide, forget, open_task, sms_templates
from webapp.celery import celery_dispatcher, celery_init_app
from webapp.config import ConfigurationError, check, from_environment

LEASE = RUNTIME.retry_policy.lease
DEAD_BROKER = "redis://127.0.0.1:9/0"  # the discard port: nothing listens, the connection is refused at once


class WorkerKilled(BaseException):
    """What a worker's death looks like from inside: nothing of ours handles it, the transaction never commits."""


def _dies(*_args):
    raise WorkerKilled


@pytest.fixture
def queue(monkeypatch):
    """Outbox ids handed to the queue, in order (nothing performs them until the test does)."""
    handed: list[int] = []
    monkeypatch.setattr(db, "dispatcher", lambda ids: background.hand_to_queue(ids, handed.append))
    return handed


@pytest.fixture
def approved(session, people, submit, queue):
    """An approved case whose slip and SMS wait in the outbox: return the case and the SMS row's id."""

    def make():
        case = submit(same_village=True)
        decide(session, case, "verify_both", people.hukou, "verified")
        case = decide(session, case, "township_audit", people.township, "approved")
        assert queue, "the decision queued the slip"
        background.perform_outbox(queue.pop(0))  # render_slip; its step queues the SMS
        forget(session)
        sms = session.scalar(select(OutboxModel.id).where(OutboxModel.bpmn_id == "notify_approved"))
        assert queue == [sms]
        return case, sms

    return make


def _row(session, outbox_id):
    forget(session)
    return session.get(OutboxModel, outbox_id)


def _sms_audit(session, case):
    return [(e.kind, e.detail.get("attempt") or e.detail.get("attempts"))
            for e in session.scalars(select(AuditEventModel).where(
                AuditEventModel.instance_id == case.instance_id, AuditEventModel.element == "notify_approved")
                .order_by(AuditEventModel.id))]


def test_a_dead_broker_does_not_fail_the_decision_and_a_later_tick_delivers_it_once(
        app, session, people, submit, browser_for, monkeypatch, caplog):
    app.config["CELERY_BROKER_URL"] = DEAD_BROKER
    celery_init_app(app)
    monkeypatch.setattr(db, "dispatcher", celery_dispatcher)
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    task_id = open_task(session, case, "township_audit").id
    session.commit()

    township = browser_for("township")
    page = township.get(f"/staff/tasks/{task_id}")
    answer = township.post(f"/staff/tasks/{task_id}", data={"csrf_token": csrf_token(page.text),
                                                            "decision": "approved"})
    assert answer.status_code in {200, 302}, answer.text
    [row] = session.scalars(select(OutboxModel)).all()
    forget(session)
    row = session.get(OutboxModel, row.id)
    assert (row.bpmn_id, row.status, row.attempts, row.queued_at) == ("render_slip", "pending", 0, None)
    assert f"service tasks [{row.id}] not dispatched" in caplog.text

    handed: list[int] = []  # the broker is back
    monkeypatch.setattr(db, "dispatcher", lambda ids: background.hand_to_queue(ids, handed.append))
    background.tick()
    background.tick()
    assert handed == [row.id], "handed over once, however many ticks"
    background.perform_outbox(handed.pop())
    background.perform_outbox(handed.pop())  # the SMS the slip's step queued
    assert handed == []
    forget(session)
    assert sms_templates(session, case) == ["audit_approved"]
    assert [o.status for o in session.scalars(select(OutboxModel))] == ["done", "done"]


def test_ticks_during_an_outage_queue_a_row_once_until_its_copy_is_given_up_for_lost(session, approved, queue):
    with time_machine.travel(utcnow(), tick=False) as clock:
        _case, sms = approved()
        queue.clear()  # the message is in the queue; no worker takes it
        for _ in range(5):  # ticks until just before the copy is given up for lost
            clock.shift(RUNTIME.retry_policy.requeue_after / 6)
            background.tick()
        assert queue == [], "a queued row is not queued again"

        clock.shift(RUNTIME.retry_policy.requeue_after / 6)
        background.tick()
        background.tick()
        assert queue == [sms], "a copy awaited too long is taken for lost: one more, once"


def test_a_performer_that_dies_has_used_its_attempt_and_the_row_waits_out_its_lease(
        session, approved, queue, monkeypatch):
    with time_machine.travel(utcnow(), tick=False) as clock:
        case, sms = approved()
        queue.clear()
        with monkeypatch.context() as patch:
            patch.setitem(RUNTIME.operators, "sms.send", _dies)
            with pytest.raises(WorkerKilled):
                background.perform_outbox(sms)
        row = _row(session, sms)
        assert (row.status, row.attempts) == ("pending", 1), "the claim was committed before the operator ran"
        assert row.leased_until is not None

        clock.shift(LEASE / 2)
        background.tick()
        assert queue == [], "while the lease runs the row is left alone"
        assert background.perform_outbox(sms).status == "skipped", "and no second performer takes it"

        clock.shift(LEASE)
        background.tick()
        assert queue == [sms]
        assert background.perform_outbox(queue.pop()).status == "done"
        row = _row(session, sms)
        assert (row.status, row.attempts) == ("done", 2)
        assert _sms_audit(session, case) == [("service_failed", 1), ("service_done", 2)]


def test_a_task_that_kills_every_performer_becomes_an_incident_after_the_last_attempt(
        session, approved, queue, monkeypatch):
    with time_machine.travel(utcnow(), tick=False) as clock:
        case, sms = approved()
        monkeypatch.setitem(RUNTIME.operators, "sms.send", _dies)
        for _ in range(RUNTIME.retry_policy.max_attempts):
            with pytest.raises(WorkerKilled):
                background.perform_outbox(sms)
            clock.shift(LEASE + timedelta(seconds=1))
        assert background.perform_outbox(sms).status == "incident"

    row = _row(session, sms)
    assert (row.status, row.attempts) == ("incident", RUNTIME.retry_policy.max_attempts)
    assert "执行进程在报告结果前终止" in row.last_error
    assert session.get(ProcessInstanceModel, case.instance_id).incident
    assert _sms_audit(session, case)[-1] == ("incident", RUNTIME.retry_policy.max_attempts)


def test_a_death_after_the_provider_accepted_does_not_send_the_sms_again(session, approved, queue, monkeypatch):
    accepted = []

    def accepts_then_dies(_session, phone, text):
        accepted.append((phone, text))
        raise WorkerKilled  # the provider has the message; our commit never happens

    with time_machine.travel(utcnow(), tick=False) as clock:
        case, sms = approved()
        monkeypatch.setitem(notifications.PROVIDERS, "record", accepts_then_dies)
        with pytest.raises(WorkerKilled):
            background.perform_outbox(sms)
        forget(session)
        assert [m.status for m in session.scalars(select(SmsMessageModel).where(
            SmsMessageModel.case_number == case.case_number))] == ["sending"]

        monkeypatch.setitem(notifications.PROVIDERS, "record", lambda *args: accepted.append(args[1:]))
        clock.shift(LEASE + timedelta(seconds=1))
        assert background.perform_outbox(sms).status == "done"

    assert len(accepted) == 1, "the second attempt found the message under its key and did not send it"
    forget(session)
    [message] = session.scalars(select(SmsMessageModel).where(SmsMessageModel.case_number == case.case_number))
    assert (message.template, message.status) == ("audit_approved", "sent")


def test_two_performers_handed_one_row_send_one_sms(session, approved, queue, monkeypatch):
    _case, sms = approved()
    sends = []

    def slow(_session, phone, _text):
        sends.append(phone)
        time.sleep(0.5)

    monkeypatch.setitem(notifications.PROVIDERS, "record", slow)
    outcomes = []
    workers = [threading.Thread(target=lambda: outcomes.append(background.perform_outbox(sms).status))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert sorted(outcomes) == ["done", "skipped"]
    assert len(sends) == 1
    assert _row(session, sms).attempts == 1


def test_a_message_the_provider_refuses_for_good_is_an_incident_at_once(session, approved, queue, monkeypatch):
    def refuses(*_args):
        raise SmsRefused("手机号码格式不正确（InvalidParameterValue.IncorrectPhoneNumber）")

    monkeypatch.setitem(notifications.PROVIDERS, "record", refuses)
    case, sms = approved()
    assert background.perform_outbox(sms).status == "incident"
    row = _row(session, sms)
    assert (row.status, row.attempts) == ("incident", 1)
    assert "手机号码格式不正确" in row.last_error
    assert session.get(ProcessInstanceModel, case.instance_id).incident
    assert sms_templates(session, case) == [], "a message never sent is not recorded as sent"


def test_a_row_whose_queued_copy_came_while_its_case_was_suspended_goes_again_on_resumption(
        session, approved, queue):
    case, sms = approved()
    queue.clear()
    RUNTIME.suspend(session, case.instance_id, "user:admin", "核对材料")
    session.commit()
    assert background.perform_outbox(sms).status == "skipped", "the copy arrives while the case is suspended"

    RUNTIME.resume(session, case.instance_id, "user:admin")
    session.commit()
    assert queue == [sms], "resumption hands it over at once, not after the queued copy's time runs out"
    assert background.perform_outbox(queue.pop()).status == "done"
    assert _row(session, sms).attempts == 1


# -- how long a killed worker's task waits --------------------------------------------------------------------------


def test_a_killed_workers_row_is_handed_over_within_a_minute_and_the_lease_follows_the_settings(
        app, session, approved, queue, monkeypatch):
    with time_machine.travel(utcnow(), tick=False) as clock:
        _case, sms = approved()
        queue.clear()
        with monkeypatch.context() as patch:
            patch.setitem(RUNTIME.operators, "sms.send", _dies)
            with pytest.raises(WorkerKilled):
                background.perform_outbox(sms)
        clock.shift(timedelta(seconds=50))
        background.tick()
        assert queue == [sms], "with the default 45 s lease the sweeper takes the row back within a minute"
        queue.clear()

        monkeypatch.setitem(app.config, "OUTBOX_LEASE_SECONDS", 120)
        with monkeypatch.context() as patch:
            patch.setitem(RUNTIME.operators, "sms.send", _dies)
            with pytest.raises(WorkerKilled):
                background.perform_outbox(sms)
        clock.shift(timedelta(seconds=100))
        background.tick()
        assert queue == [], "a longer configured lease is waited out"
        clock.shift(timedelta(seconds=30))
        background.tick()
        assert queue == [sms]


def test_a_service_task_attempt_ends_before_its_lease_does(app):
    celery = celery_init_app(app)
    task = celery.tasks["birthreg.perform_outbox"]
    assert task.soft_time_limit < task.time_limit < app.config["OUTBOX_LEASE_SECONDS"]
    assert app.config["OUTBOX_LEASE_SECONDS"] <= 60, "a killed worker's case waits under a minute"
    assert app.config["OUTBOX_REQUEUE_SECONDS"] <= 60, "and so does a copy a killed worker held prefetched"
    assert celery.conf.task_time_limit > task.time_limit, "the tick and dry runs keep their longer limits"


@pytest.mark.parametrize(("changed", "named"), [
    ({"OUTBOX_LEASE_SECONDS": 30}, "OUTBOX_LEASE_SECONDS"),
    ({"OUTBOX_REQUEUE_SECONDS": 25}, "OUTBOX_REQUEUE_SECONDS"),
    ({"SERVICE_TASK_SOFT_TIME_LIMIT_SECONDS": 30}, "SERVICE_TASK_SOFT_TIME_LIMIT_SECONDS"),
    ({"OUTBOX_LEASE_SECONDS": 0}, "OUTBOX_LEASE_SECONDS"),
])
def test_leases_that_a_running_attempt_could_outlive_are_refused(tmp_path, changed, named):
    settings = from_environment() | {"INSTANCE_DIR": tmp_path, "SECRET_KEY": "x"}
    check(dict(settings))
    with pytest.raises(ConfigurationError, match=named):
        check(settings | changed)
