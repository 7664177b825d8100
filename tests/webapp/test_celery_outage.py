"""A Redis outage while a worker performs a service task: the worker lives on and every row ends done, once.

The broker is a private redis-server of the test's own, without persistence, stopped for 15 s while the worker's
first SMS is with the provider; the worker runs as in production (prefork, gossip, mingle and heartbeats on).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import OutboxModel
from services.db import db
from services.notifications import SmsMessageModel
from tests.fixtures import decide, forget, sms_templates
from tests.services_harness import PrivateRedis, require
from webapp.celery import celery_dispatcher, celery_init_app

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_SECONDS = 15


def _wait_for(condition, timeout: float, what: str, log: Path):
    ends_at = time.monotonic() + timeout
    while time.monotonic() < ends_at:
        if condition():
            return
        time.sleep(0.3)
    pytest.fail(f"{what} after {timeout} s; worker log:\n{log.read_text()[-4000:]}")


@pytest.fixture
def redis_server(tmp_path):
    """A private redis-server on a free port."""
    require(None if shutil.which("redis-server") else "needs redis-server (apt-get install redis-server)")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def worker(app, tmp_path, redis_server):
    """The production worker (slow first SMS) on the test database and the private Redis."""
    env = {**os.environ, "DATABASE_URL": app.config["DATABASE_URL"], "CELERY_BROKER_URL": redis_server.url(14),
           "SECRET_KEY": "test", "BIRTHREG_INSTANCE_DIR": str(app.config["INSTANCE_DIR"]), "SLOW_SMS_SECONDS": "10"}
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.webapp.slow_sms_worker", "worker", "--pool=prefork",
             "--concurrency=1", "--loglevel=INFO"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_for(lambda: "ready." in log.read_text(), 60, "the worker did not start", log)
            yield process, log
        finally:
            process.terminate()
            process.wait(timeout=30)


def _messages(session, case, status=None):
    forget(session)
    query = select(SmsMessageModel).where(SmsMessageModel.case_number == case.case_number,
                                          SmsMessageModel.template == "audit_approved")
    return [m for m in session.scalars(query) if status is None or m.status == status]


def _approve(session, people, submit):
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    return decide(session, case, "township_audit", people.township, "approved")


def _all_done(session):
    forget(session)
    return {o.status for o in session.scalars(select(OutboxModel))} == {"done"}


@pytest.mark.celery
def test_the_worker_outlives_a_broker_outage_in_mid_task_and_goes_on(
        app, session, people, submit, worker, redis_server, monkeypatch):
    process, log = worker
    app.config["CELERY_BROKER_URL"] = redis_server.url(14)
    celery_init_app(app)
    monkeypatch.setattr(db, "dispatcher", celery_dispatcher)

    first = _approve(session, people, submit)
    _wait_for(lambda: _messages(session, first, "sending"), 60, "the SMS never reached the provider", log)
    redis_server.stop()  # the SMS is with the provider for 10 s; the broker is gone for 15
    time.sleep(OUTAGE_SECONDS)
    assert process.poll() is None, f"the worker died during the outage:\n{log.read_text()[-4000:]}"
    redis_server.start()

    forget(session)  # end the test's read (on SQLite a read begun before the worker's commit cannot then write)
    second = _approve(session, people, submit)  # dispatched through the restarted broker
    _wait_for(lambda: _all_done(session) and len(session.scalars(select(OutboxModel)).all()) == 4, 90,
              "the service tasks were not all done", log)
    assert process.poll() is None, f"the worker died after the outage:\n{log.read_text()[-4000:]}"
    for case in (first, second):
        assert sms_templates(session, case) == ["audit_approved"], "each case's SMS sent once"
        assert [m.status for m in _messages(session, case)] == ["sent"]
    assert "Unrecoverable error" not in log.read_text()
