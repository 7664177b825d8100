"""Diagram code that never ends holds neither the review page, the CLI nor the rest of the site (SQLite, PostgreSQL).

Each request runs in a thread of its own, as under a threaded server; one that has not answered in time fails the
test, and is then interrupted so that it lets go of the database for the tests after it.
"""

import threading
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.db import utcnow
from engine.dryrun_reports import DryRunReportModel
from engine.watchdog import interrupt
from processes import casework
from processes import definitions_admin as admin
from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE
from services.accounts import UserModel
from services.db import db
from tests.conftest import REDIS_URL
from tests.fixtures import csrf_token, dry_run_done, forget, sign_in
from tests.webapp.test_celery_worker import worker  # noqa: F401 - a fixture: a Celery worker process
from tests.webapp.test_process_admin_pages import policy, upload, with_script  # noqa: F401 - policy: a fixture (signs `client` in)
from webapp.celery import celery_init_app

ENDLESS_FILE = Path(__file__).resolve().parents[1] / "engine" / "diagrams" / "dry_run_endless_script.bpmn"
ENDLESS = ENDLESS_FILE.read_bytes()
PROMPT = 5.0  # seconds a request may take while diagram code spins elsewhere


class Stuck(BaseException):  # noqa: N818 - raised into a request that never answered
    """Stops a request thread that never answered."""


class Running:
    """A request running in a thread of its own, as under a threaded server."""

    def __init__(self, request) -> None:
        self.outcome: dict[str, object] = {}
        self.thread = threading.Thread(target=self._work, args=(request,), name="request", daemon=True)
        self.thread.start()

    def _work(self, request) -> None:
        try:
            self.outcome["result"] = request()
        except BaseException as exc:  # noqa: BLE001 - handed back by result()
            self.outcome["error"] = exc

    def result(self, within: float = PROMPT):
        """Return what the request returned; fail when it has not answered `within` seconds (and stop it)."""
        self.thread.join(within)
        if self.thread.is_alive():
            self.stop()
            pytest.fail(f"no answer within {within:g} s")
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["result"]

    def stop(self) -> None:
        """Interrupt the request if it still runs, so that it lets go of the database."""
        if self.thread.is_alive():
            interrupt(self.thread.ident, Stuck)
            self.thread.join(30)


def answered(request, within: float = PROMPT):
    """Run `request` in a thread of its own and return its result; fail when it does not answer `within` seconds."""
    return Running(request).result(within)


@pytest.mark.usefixtures("policy")
def test_the_review_of_an_endless_script_answers_at_once_and_the_site_stays_up(app, session, client, people,
                                                                                monkeypatch):
    monkeypatch.setitem(app.config, "DRY_RUN_SECONDS", 3)
    session.commit()
    uploaded = answered(lambda: upload(client, ENDLESS))
    assert uploaded.status_code == 302, "the upload runs no diagram code"
    review = uploaded.location

    first = answered(lambda: client.get(review))
    assert first.status_code == 200
    assert "仍在模拟" in first.text
    assert first.headers["Refresh"] == "2"
    assert '<meta http-equiv="refresh" content="2">' in first.text

    citizen = app.test_client()
    assert answered(lambda: sign_in(citizen, people.citizen)).status_code == 302
    assert answered(lambda: citizen.get("/my")).status_code == 200

    page = dry_run_done(client, review)
    assert "有路径未正常结束" in page.text
    # The script's own time budget stops it, or else the run's deadline does.
    assert "超出时间预算" in page.text or "模拟超时（3 秒），已完成 0 条路径" in page.text
    assert "仍在模拟" not in page.text


def test_a_case_started_on_an_endless_script_does_not_hold_the_site(app, session, people, deployed):  # noqa: ARG001
    definition, _ = admin.upload(session, with_script("while True: pass"), "user:policy")
    admin.activate(session, definition)
    session.commit()
    citizen_id = people.citizen.id
    citizen = SimpleNamespace(phone=people.citizen.phone, role=people.citizen.role)  # usable from any thread
    forget(session)

    def submit() -> None:
        with db.factory() as own:
            casework.submit(own, own.get(UserModel, citizen_id), case_type="first_child", woman_name="张丽",
                            man_name="刘强", contact_phone="13800000001", hukou_division=HUKOU_VILLAGE,
                            residence_division=RESIDENCE_VILLAGE)
            own.commit()

    submitting = Running(submit)
    try:
        time.sleep(0.5)  # the case has started and its script runs
        browser = app.test_client()
        assert answered(lambda: sign_in(browser, citizen)).status_code == 302
        assert answered(lambda: browser.get("/my")).status_code == 200
        submitting.result(within=15)  # with the budgets, the case stops at the script with an incident
    finally:
        submitting.stop()


@pytest.mark.celery
@pytest.mark.usefixtures("policy", "worker")
def test_in_production_a_celery_worker_runs_the_dry_run(app, client, deployed, monkeypatch):
    monkeypatch.setitem(app.config, "CELERY_BROKER_URL", REDIS_URL)
    monkeypatch.setitem(app.config, "BACKGROUND", "celery")
    celery_init_app(app)
    review = f"/admin/processes/{deployed['birth_registration'].id}"
    assert "仍在模拟" in client.get(review).text
    page = dry_run_done(client, review, timeout=60)
    assert "全部路径均正常结束" in page.text


@pytest.mark.usefixtures("policy")
def test_the_report_shows_each_outcome_in_words(client):
    uploaded = upload(client, (ENDLESS_FILE.parent / "dry_run_no_true_condition.bpmn").read_bytes())
    page = dry_run_done(client, uploaded.location)
    assert "试运行（4 条路径）" in page.text
    assert page.text.count('<tr class="path-error">') == 2
    assert page.text.count("网关「核实结果？」的条件都不成立，且没有默认流") == 2
    assert page.text.count('<span class="badge badge-bad">出错</span>') == 2
    assert page.text.count('<span class="badge badge-ok">正常结束</span>') == 2
    assert "No conditions" not in page.text


@pytest.mark.usefixtures("policy")
def test_a_dry_run_that_died_shows_as_failed_and_runs_again_on_request(session, client, deployed):
    definition = deployed["birth_registration"]
    session.add(DryRunReportModel(sha256=definition.sha256, status="running", started_at=utcnow() - timedelta(hours=1)))
    session.commit()
    review = f"/admin/processes/{definition.id}"
    page = client.get(review)
    assert "试运行未能完成" in page.text
    assert "仍未结束，已中止" in page.text
    assert "Refresh" not in page.headers, "a dead run is not waited for"

    again = client.post(f"{review}/dry-run", data={"csrf_token": csrf_token(page.text)})
    assert again.status_code == 302
    assert "仍在模拟" in client.get(review).text
    assert "全部路径均正常结束" in dry_run_done(client, review).text


def test_the_cli_dry_run_of_an_endless_script_ends_and_fails(app, monkeypatch):
    monkeypatch.setitem(app.config, "DRY_RUN_SECONDS", 2)
    started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["processes", "dry-run", str(ENDLESS_FILE)])
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert "有路径未正常结束" in result.output
    assert "超出时间预算" in result.output or "模拟超时（2 秒），已完成 0 条路径" in result.output
