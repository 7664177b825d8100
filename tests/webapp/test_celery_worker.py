"""A real Celery worker on Redis performs a case's service tasks and the case advances."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import OutboxModel
from services.db import db
from tests.conftest import REDIS_URL
from tests.fixtures import decide, forget, refreshed, sms_templates
from webapp.celery import celery_dispatcher, celery_init_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(app, tmp_path):
    """A `celery worker` process on the test database and a private Redis queue database."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    # The worker shares the app's instance folder, so it opens with the same keys what the app sealed (production
    # gives both the same DATA_KEYS and INDEX_KEY).
    env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"], "CELERY_BROKER_URL": REDIS_URL,
           "SECRET_KEY": "test", "BIRTHREG_INSTANCE_DIR": str(app.config["INSTANCE_DIR"])}
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webapp.celery_worker", "worker", "--pool=solo",
             "--loglevel=INFO", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            yield log
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.mark.celery
def test_worker_performs_the_sms_of_a_submitted_case(app, session, people, submit, worker, monkeypatch):
    app.config["CELERY_BROKER_URL"] = REDIS_URL
    celery_init_app(app)
    monkeypatch.setattr(db, "dispatcher", celery_dispatcher)

    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    decide(session, case, "township_audit", people.township, "approved")

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        case = refreshed(session, case)
        if sms_templates(session, case) == ["audit_approved"]:
            break
        time.sleep(0.3)
    forget(session)
    assert sms_templates(session, case) == ["audit_approved"], worker.read_text()[-3000:]
    outbox = session.scalars(select(OutboxModel).order_by(OutboxModel.id)).all()
    assert [(o.bpmn_id, o.status) for o in outbox] == [("render_slip", "done"), ("notify_approved", "done")]
    assert refreshed(session, case).status == "登记成功"
    assert "birthreg.perform_outbox" in worker.read_text()
