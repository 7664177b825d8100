"""Health probes: /healthz says the process answers, /readyz whether the service can work, naming what fails."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from engine.db import utcnow
from engine.models import OutboxModel, ProcessInstanceModel
from services.db import db
from tests.conftest import REDIS_URL
from webapp import health


def test_healthz_answers_any_host_without_a_cookie(client):
    response = client.get("/healthz", headers={"Host": "10.0.3.7:8000"})
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_reports_every_check_passing(client):
    response = client.get("/readyz", headers={"Host": "10.0.3.7"})
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert set(body["checks"]) == {"database", "outbox", "timers", "migrations", "disk"}
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["migrations"]["applied"] == body["checks"]["migrations"]["expected"]
    assert "Set-Cookie" not in response.headers


def _instance(session, submit):
    case = submit(same_village=True)
    return session.get(ProcessInstanceModel, case.instance_id)


def test_a_service_task_waiting_too_long_fails_readiness_as_outbox(client, session, submit):
    instance = _instance(session, submit)
    session.add(OutboxModel(instance_id=instance.id, task_guid=str(uuid.uuid4()), bpmn_id="notify", operator="sms.send",
                            status="pending", next_attempt_at=utcnow() - timedelta(minutes=30)))
    session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["outbox"]
    assert response.json["checks"]["outbox"]["lag_seconds"] >= 30 * 60 - 5


def test_a_suspended_case_waiting_is_no_lag(client, session, submit):
    instance = _instance(session, submit)
    instance.status = "suspended"
    session.add(OutboxModel(instance_id=instance.id, task_guid=str(uuid.uuid4()), bpmn_id="notify", operator="sms.send",
                            status="pending", next_attempt_at=utcnow() - timedelta(hours=3)))
    session.commit()
    assert client.get("/readyz").status_code == 200


def test_an_overdue_timer_fails_readiness_as_timers(client, session, submit):
    instance = _instance(session, submit)
    instance.next_timer_at = utcnow() - timedelta(hours=2)
    session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["timers"]
    assert response.json["checks"]["timers"]["lag_seconds"] >= 2 * 3600 - 5


def test_too_little_free_disk_fails_readiness_as_disk(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "READY_MIN_FREE_MB", 1 << 40)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["disk"]


def test_a_database_behind_the_code_fails_readiness_as_migrations(client, monkeypatch):
    monkeypatch.setattr(health, "expected_heads", lambda: frozenset({"20991231_newer"}))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["migrations"]
    assert response.json["checks"]["migrations"]["expected"] == ["20991231_newer"]


class _Unreachable:
    def __call__(self):
        raise OperationalError("SELECT 1", {}, Exception("connection to server at 10.0.0.9 refused, password=pw"))


def test_an_unreachable_database_fails_every_check_that_reads_it_and_says_no_more(client, monkeypatch):
    monkeypatch.setattr(db, "factory", _Unreachable())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["database", "migrations", "outbox", "timers"]
    assert "10.0.0.9" not in response.text
    assert "password" not in response.text
    # The process itself is still alive: the load balancer's liveness probe does not touch the database.
    assert client.get("/healthz").status_code == 200


def test_with_celery_an_unreachable_broker_fails_readiness_without_its_url(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "BACKGROUND", "celery")
    monkeypatch.setitem(app.config, "CELERY_BROKER_URL", "redis://:s3cret@127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["broker"]
    assert "s3cret" not in response.text
    assert "127.0.0.1" not in response.text


@pytest.mark.celery
def test_with_celery_a_reachable_broker_passes(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "BACKGROUND", "celery")
    monkeypatch.setitem(app.config, "CELERY_BROKER_URL", REDIS_URL)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"]["broker"]["ok"] is True


def test_probes_are_not_rate_limited_nor_logged_as_page_views(client, caplog):
    caplog.set_level("INFO", logger="birthreg.access")
    answers = {client.get("/readyz").status_code for _ in range(60)}
    assert answers == {200}
    assert not [r for r in caplog.records if r.name == "birthreg.access"]


def test_only_get_and_head_reach_a_probe(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code in {400, 404, 405}
