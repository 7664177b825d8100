"""Prometheus metrics at /metrics: request latency by endpoint, user task completions, Celery outcomes, the backlog
of background work read at scrape time; served to the loopback or the metrics token's bearer, never to the public."""

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from flask import request
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from engine.db import utcnow
from engine.models import HumanTaskModel
from processes.roles import VILLAGE_STAFF
from tests.fixtures import decide
from webapp import proxies
from webapp.observability.metrics import ProcessFiles

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "birthreg.json"


def _samples(response) -> dict[tuple[str, tuple], float]:
    assert response.status_code == 200, response.text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_request_latency_is_counted_by_endpoint_name_and_status_class(client):
    client.get("/")
    client.get("/no-such-page/13800000001")
    samples = _samples(client.get("/metrics"))
    count = "birthreg_http_request_duration_seconds_count"
    assert samples[(count, (("endpoint", "portal.index"), ("status_class", "2xx")))] >= 1
    assert samples[(count, (("endpoint", "unmatched"), ("status_class", "4xx")))] >= 1
    # Series are per route, never per raw path (which would hold numbers and grow without bound).
    assert not any("13800000001" in str(key) for key in samples)


def test_open_and_overdue_tasks_are_counted_by_role_at_scrape_time(client, session, submit):
    case = submit()  # different villages: two verification tasks
    tasks = session.query(HumanTaskModel).filter_by(status="open").all()
    tasks[0].due_at = utcnow() - timedelta(days=1)
    session.commit()
    samples = _samples(client.get("/metrics"))
    assert samples[("birthreg_open_tasks", (("role", VILLAGE_STAFF),))] == len(tasks) == 2
    assert samples[("birthreg_overdue_tasks", (("role", VILLAGE_STAFF),))] == 1
    assert samples[("birthreg_database_up", ())] == 1
    assert case.case_number not in client.get("/metrics").text


def _completed(process: str, task: str) -> float:
    return REGISTRY.get_sample_value("birthreg_human_tasks_completed_total",
                                     {"process": process, "task": task}) or 0.0


def test_a_completed_user_task_is_counted_once_its_transaction_commits(session, submit, people):
    case = submit(same_village=True)
    task = session.query(HumanTaskModel).filter_by(status="open").one()
    before = _completed(task.process_key, "verify_both")
    task.status = "completed"
    session.flush()
    session.rollback()
    assert _completed(task.process_key, "verify_both") == before
    decide(session, case, "verify_both", people.hukou, "verified")
    assert _completed(task.process_key, "verify_both") == before + 1


def test_metrics_are_refused_to_other_addresses(client):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403
    assert "birthreg_" not in response.text


def test_a_proxied_request_is_refused_when_no_proxy_is_trusted(client):
    # nginx forwards from the loopback: without TRUSTED_PROXIES the real client is unknown, so not allowed.
    response = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert response.status_code == 403


def test_the_metrics_token_opens_metrics_from_anywhere(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "scrape-secret-0123456789")
    remote = {"REMOTE_ADDR": "198.51.100.20"}
    assert client.get("/metrics", environ_base=remote,
                      headers={"Authorization": "Bearer scrape-secret-0123456789"}).status_code == 200
    assert client.get("/metrics", environ_base=remote,
                      headers={"Authorization": "Bearer scrape-secret-012345678"}).status_code == 403
    assert client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer "}).status_code == 403


@pytest.fixture
def behind_nginx(app, monkeypatch):
    """The app as deployed: one trusted proxy (TRUSTED_PROXIES=1) in front."""
    monkeypatch.setitem(app.config, "TRUSTED_PROXIES", 1)
    monkeypatch.setattr(app, "wsgi_app", app.wsgi_app)  # restored after the test
    proxies.register(app)


@pytest.mark.parametrize(("forwarded", "status"), [
    ("127.0.0.1", 200),  # a scrape on the proxy's own host
    ("203.0.113.9", 403),  # a visitor
    ("127.0.0.1, 203.0.113.9", 403),  # a visitor claiming to be the loopback: only the proxy's entry counts
])
def test_behind_a_trusted_proxy_the_forwarded_client_decides(client, behind_nginx, forwarded, status):  # noqa: ARG001
    assert client.get("/metrics", headers={"X-Forwarded-For": forwarded}).status_code == status


def test_behind_a_trusted_proxy_the_app_sees_the_client_address_and_scheme(app, client, behind_nginx,  # noqa: ARG001
                                                                          monkeypatch):
    seen = {}

    def note():
        seen.update(address=request.remote_addr, scheme=request.scheme)

    monkeypatch.setitem(app.before_request_funcs, None, [*app.before_request_funcs[None], note])
    client.get("/", headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.9", "X-Forwarded-Proto": "https"})
    assert seen == {"address": "203.0.113.9", "scheme": "https"}


COUNT_IN = """
import os, sys
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
from webapp.observability import metrics
metrics.count_task_outcome("birthreg.perform_outbox", "success")
metrics.observe_request("portal.index", 200, 0.02)
"""


def test_counts_of_web_and_worker_processes_are_added_up(tmp_path):
    web, worker = tmp_path / "web", tmp_path / "worker"
    for directory, processes in ((web, 2), (worker, 1)):
        directory.mkdir()
        for _ in range(processes):
            subprocess.run([sys.executable, "-c", COUNT_IN, str(directory)], cwd=ROOT, check=True)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in ProcessFiles([str(web), str(worker), str(tmp_path / "missing")]).collect()
               for s in family.samples}
    assert samples[("birthreg_celery_tasks_total", (("outcome", "success"), ("task", "birthreg.perform_outbox")))] == 3
    assert samples[("birthreg_http_request_duration_seconds_count",
                    (("endpoint", "portal.index"), ("status_class", "2xx")))] == 3


def _dashboard_metrics() -> set[str]:
    expressions = [target["expr"] for panel in json.loads(DASHBOARD.read_text())["panels"]
                   for target in panel["targets"]]
    names = {name for expr in expressions for name in re.findall(r"\bbirthreg_[a-z_]+", expr)}
    return {re.sub(r"_(bucket|count|sum|total)$", "", name) for name in names}


def test_the_grafana_dashboard_charts_only_metrics_the_app_exports(client):
    exported = {family.name for family in text_string_to_metric_families(client.get("/metrics").text)}
    charted = _dashboard_metrics()
    assert charted <= exported, charted - exported
    assert {"birthreg_http_request_duration_seconds", "birthreg_outbox_lag_seconds", "birthreg_timer_lag_seconds",
            "birthreg_open_tasks", "birthreg_overdue_tasks", "birthreg_celery_tasks",
            "birthreg_human_tasks_completed"} <= charted
