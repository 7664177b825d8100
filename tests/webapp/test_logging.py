"""JSON logs: one object a line, the request id of the request (or of the request that queued a Celery task), who by
kind only, the path without its query."""

import io
import json
import logging
import re
import time
import uuid

import pytest

from engine.models import OutboxModel
from tests.conftest import REDIS_URL
from tests.fixtures import sign_in
from tests.webapp import test_celery_worker
from webapp.celery import celery_init_app, perform_outbox_task
from webapp.observability import celery_signals, context, logs
from webapp.observability.logs import JsonFormatter


@pytest.fixture
def json_lines():
    """Every record logged during the test, as the JSON objects production writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines():
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


def _access(lines):
    return [line for line in lines() if line["logger"] == "birthreg.access"]


def test_a_request_is_one_json_line_with_its_id_and_no_query(client, json_lines):
    response = client.get("/track?phone=13800000001&case=SY2026", headers={"X-Request-ID": "lb-7f3a9c21"})
    assert response.headers["X-Request-ID"] == "lb-7f3a9c21"
    [line] = _access(json_lines)
    assert line["request_id"] == "lb-7f3a9c21"
    assert line["path"] == "/track"
    assert line["method"] == "GET"
    assert line["status"] == response.status_code
    assert line["endpoint"] == "citizen.track"
    assert line["user"] == "anonymous"
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert "13800000001" not in json.dumps(json_lines())


@pytest.mark.parametrize("offered", [None, "", "short", "has space in it", "x" * 200, 'abc"}{"level": "x"}',
                                     "名字-12345678"])
def test_a_missing_or_malformed_request_id_is_replaced_by_a_fresh_one(client, json_lines, offered):
    headers = {"X-Request-ID": offered} if offered is not None else {}
    response = client.get("/", headers=headers)
    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert [line["request_id"] for line in _access(json_lines)] == [generated]


def test_each_request_gets_its_own_id(client):
    assert client.get("/").headers["X-Request-ID"] != client.get("/").headers["X-Request-ID"]


def test_a_signed_in_person_is_logged_by_kind_never_by_phone_or_name(client, people, json_lines):
    sign_in(client, people.citizen)
    client.get("/my")
    kinds = {line["user"] for line in _access(json_lines) if line["path"] == "/my"}
    assert kinds == {"citizen"}
    written = json.dumps(json_lines(), ensure_ascii=False)
    assert people.citizen.phone not in written
    assert "张丽" not in written


def test_an_error_inside_a_request_carries_its_id_and_traceback(app, client, json_lines, monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setitem(app.view_functions, "portal.index", broken)
    monkeypatch.setattr(app, "testing", False)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    response = client.get("/", headers={"X-Request-ID": "req-error-0001"})
    assert response.status_code == 500
    [error] = [line for line in json_lines() if line["level"] == "ERROR"]
    assert error["request_id"] == "req-error-0001"
    assert "RuntimeError: boom" in error["exception"]
    assert _access(json_lines)[0]["status"] == 500


def test_json_logging_is_installed_once_and_text_leaves_logging_alone():
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    try:
        logs.configure("json", "INFO")
        logs.configure("json", "WARNING")
        ours = [h for h in root.handlers if h not in before]
        assert len(ours) == 1
        assert isinstance(ours[0].formatter, JsonFormatter)
        assert root.level == logging.WARNING
        logs.configure("text", "INFO")
        assert root.handlers == before
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
        root.setLevel(level)


def test_a_published_task_carries_the_current_request_id_and_a_worker_binds_it():
    headers = {}
    token = context.bind("req-publish-01")
    try:
        celery_signals._publish_with_request_id(headers=headers)
    finally:
        context.unbind(token)
    assert headers == {"request_id": "req-publish-01"}

    class Task:
        name = "birthreg.perform_outbox"

        class request:  # noqa: N801 - Celery's task.request, as the worker fills it from the message headers
            @staticmethod
            def get(key, default=None):
                return headers.get(key, default)

    celery_signals._start(task_id="t-1", task=Task)
    assert context.current() == "req-publish-01"
    celery_signals._finish(task_id="t-1", task=Task, state="SUCCESS")
    assert context.current() is None


# The real worker of the Celery tests; requested after json_worker_logs, so it starts logging JSON.
worker = test_celery_worker.worker


@pytest.fixture
def json_worker_logs(monkeypatch):
    """Make the worker started next log JSON."""
    monkeypatch.setenv("LOG_FORMAT", "json")


@pytest.mark.celery
def test_the_worker_logs_an_outbox_row_under_the_id_of_the_request_that_queued_it(
        app, session, submit, json_worker_logs, worker):  # noqa: ARG001
    app.config["CELERY_BROKER_URL"] = REDIS_URL
    celery_init_app(app)
    case = submit(same_village=True)
    row = OutboxModel(instance_id=case.instance_id, task_guid=str(uuid.uuid4()), bpmn_id="notify_verified",
                      operator="sms.send", params={"template": "audit_approved"})
    session.add(row)
    session.commit()
    token = context.bind("req-outbox-42")
    try:
        perform_outbox_task.delay(row.id)  # as the commit of a request that queued the row hands it over
    finally:
        context.unbind(token)

    deadline = time.monotonic() + 60
    outbox_lines = []
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in worker.read_text().splitlines() if line.startswith("{")]
        outbox_lines = [line for line in lines if line.get("task") == "birthreg.perform_outbox"]
        if any(line.get("outcome") for line in outbox_lines):
            break
        time.sleep(0.3)
    assert [line["message"].split()[-1] for line in outbox_lines][:1] == ["started"], worker.read_text()[-3000:]
    assert len(outbox_lines) == 2
    assert {line["request_id"] for line in outbox_lines} == {"req-outbox-42"}
    assert outbox_lines[1]["duration_ms"] >= 0
