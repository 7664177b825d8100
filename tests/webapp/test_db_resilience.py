"""A PostgreSQL restart or a lost connection costs nobody an error: pooled connections are tested before use, and a
task completion whose connection died before it committed runs once more. Statistics may read from a replica.

These tests start a PostgreSQL cluster of their own (the machine's is never restarted) and point the app at it for
their duration; the suite's own database is bound again afterwards.
"""

import shutil
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import has_request_context, request
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine.models import HumanTaskModel, OutboxModel
from processes import casework
from processes.background import perform_outbox
from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE
from processes.roles import CITIZEN, VILLAGE_STAFF
from services import accounts, api_tokens, divisions, holidays
from services.accounts import UserModel
from services.cases import CaseModel
from services.db import EngineSettings, InlineDispatcher, db, may_have_committed, retry_transaction, tracking_commits
from services.sessions import SignInSessionModel
from tests.fixtures import sign_in
from tests.services_harness import PrivatePostgres, missing_tools, require
from webapp import create_app
from webapp.migrations import upgrade


@pytest.fixture(scope="module")
def cluster():
    """A private PostgreSQL cluster, migrated."""
    require(missing_tools())
    # Outside pytest's own temporary folders: the cluster's owner (postgres, when the tests run as root) must reach it.
    folder = Path(tempfile.mkdtemp(prefix="birthreg-resilience-"))
    folder.chmod(0o755)
    postgres = PrivatePostgres(folder / "pg")
    postgres.init()
    postgres.start()
    upgrade(postgres.url)
    yield postgres
    postgres.stop("immediate")
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def private_app(cluster, tmp_path, app):
    """The app on the private cluster with the demo divisions, a citizen, a village worker and her API token; the
    suite's app is bound to its own database again afterwards."""
    private = create_app(DATABASE_URL=cluster.url, INSTANCE_DIR=tmp_path, TESTING=True, TICK_SECONDS=0,
                         BACKGROUND="inline", SECRET_KEY="test", WTF_CSRF_ENABLED=True)
    try:
        with private.app_context():
            crew = _crew(db.session)
            db.session.remove()
        yield private, crew
    finally:
        with private.app_context():
            db.session.remove()
        db.configure(app.config["DATABASE_URL"], InlineDispatcher(perform_outbox),
                     EngineSettings.from_config(app.config))


def _crew(session) -> SimpleNamespace:
    if not session.scalar(select(func.count()).select_from(divisions.DivisionModel)):
        divisions.import_demo_divisions(session)
        holidays.import_holidays(session)
        casework.deploy_shipped(session)
        session.commit()
    # What an earlier test of the module left: accounts, cases and everything hanging from them.
    session.execute(text("TRUNCATE user_account, process_instance RESTART IDENTITY CASCADE"))
    crew = SimpleNamespace(
        citizen=accounts.create_user(session, phone="13800000001", name="张丽", role=CITIZEN, password="Test@12345"),
        hukou=accounts.create_user(session, phone="13900000001", name="李多福", role=VILLAGE_STAFF,
                                   password="Test@12345", division_code=HUKOU_VILLAGE),
        residence=accounts.create_user(session, phone="13900000002", name="王银闸", role=VILLAGE_STAFF,
                                       password="Test@12345", division_code=RESIDENCE_VILLAGE))
    crew.token = api_tokens.issue_token(session, crew.hukou, "resilience", 1)
    session.commit()
    return crew


def _case(app, crew):
    with app.app_context():
        case = casework.submit(db.session, crew.citizen, case_type="first_child", woman_name="张丽", man_name="刘强",
                               contact_phone=crew.citizen.phone, hukou_division=HUKOU_VILLAGE,
                               residence_division=RESIDENCE_VILLAGE)
        db.session.commit()
        task = db.session.scalar(select(HumanTaskModel).where(HumanTaskModel.business_key == case.case_number,
                                                              HumanTaskModel.bpmn_id == "verify_hukou"))
        return case.case_number, task.id


def test_the_first_page_after_a_restart_of_an_idle_database_is_served(private_app, cluster):
    app, crew = private_app
    client = app.test_client()
    sign_in(client, crew.citizen)
    assert client.get("/my").status_code == 200  # the pool now holds a connection
    cluster.restart()
    page = client.get("/my")
    assert page.status_code == 200, "a dead pooled connection was handed to the request"
    assert "我的申请" in page.text


def test_a_service_task_performed_without_celery_after_a_restart_succeeds(private_app, cluster):
    app, crew = private_app
    number, task_id = _case(app, crew)
    queued: list[int] = []
    db.dispatcher = queued.extend  # hold the outbox rows back instead of performing them after the commit
    with app.app_context():
        hukou = db.session.get(HumanTaskModel, task_id)
        casework.decide(db.session, hukou.task_guid, crew.hukou, "verified")
        residence = db.session.scalar(select(HumanTaskModel).where(
            HumanTaskModel.business_key == number, HumanTaskModel.bpmn_id == "verify_residence"))
        casework.decide(db.session, residence.task_guid, crew.residence, "mismatch", "现居住地不符")
        db.session.commit()
    assert queued, "a mismatch queues the SMS that tells the applicant"
    cluster.restart()
    with app.app_context():
        outcomes = [perform_outbox(outbox_id).status for outbox_id in queued]
        assert "incident" not in outcomes
        assert "retry" not in outcomes
        assert db.session.scalar(select(func.count()).select_from(OutboxModel)
                                 .where(OutboxModel.status == "pending")) == 0


def test_a_completion_whose_connection_dies_before_the_commit_runs_again_once(private_app, monkeypatch):
    app, crew = private_app
    _number, task_id = _case(app, crew)
    real_decide = casework.decide
    calls = []

    def decide_on_a_dying_connection(session, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the server ends this backend (a failover, an admin's pg_terminate_backend)
            pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            with db.engine.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return real_decide(session, *args, **kwargs)

    monkeypatch.setattr(casework, "decide", decide_on_a_dying_connection)
    client = app.test_client()
    done = client.post(f"/api/v1/tasks/{task_id}/complete", json={"decision": "verified"},
                       headers={"Authorization": f"Bearer {crew.token}"})
    assert done.status_code == 200, done.text
    assert done.json["task"]["status"] == "completed"
    assert len(calls) == 2
    with app.app_context():
        completed = db.session.scalars(select(HumanTaskModel.status).where(HumanTaskModel.id == task_id)).all()
        assert completed == ["completed"]


def _terminate_own_backend() -> None:
    """End the backend of the request's connection, as a restart or a failover does to every connection."""
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def test_a_page_whose_connection_dies_mid_request_is_run_again_whole(private_app):
    app, crew = private_app
    runs = []

    @app.before_request
    def _die_on_the_first_run():
        if request.path == "/my":
            runs.append(1)
            if len(runs) == 1:
                _terminate_own_backend()

    client = app.test_client()
    sign_in(client, crew.citizen)
    page = client.get("/my")
    assert page.status_code == 200, page.text
    assert "我的申请" in page.text
    assert len(runs) == 2


def test_a_sign_in_whose_commit_the_server_refused_is_run_again_and_recorded_once(private_app):
    app, crew = private_app
    commits = []

    def die_at_the_first_commit(_session):
        if has_request_context() and request.method == "POST":
            commits.append(1)
            if len(commits) == 1:
                _terminate_own_backend()

    event.listen(db.factory, "before_commit", die_at_the_first_commit)
    try:
        sign_in(app.test_client(), crew.citizen)
    finally:
        event.remove(db.factory, "before_commit", die_at_the_first_commit)
    with app.app_context():
        signed_in = db.session.scalar(select(func.count()).select_from(SignInSessionModel)
                                      .where(SignInSessionModel.user_id == crew.citizen.id))
    assert signed_in == 1, "the refused commit left nothing, the second run one session"


def test_while_the_database_is_down_pages_and_the_api_answer_503_in_chinese_and_serve_again_after(
        private_app, cluster):
    app, crew = private_app
    client = app.test_client()
    sign_in(client, crew.citizen)
    api = app.test_client()
    cluster.stop("fast")
    try:
        started = time.monotonic()
        page = client.get("/my")
        waited = time.monotonic() - started
        tasks = api.get("/api/v1/tasks", headers={"Authorization": f"Bearer {crew.token}"})
    finally:
        cluster.start()
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert "系统暂时无法处理您的请求，请稍后再试" in page.text
    assert page.mimetype == "text/html"
    assert 2 <= waited <= 10, "the request was tried again for about three seconds before it gave up"
    assert tasks.status_code == 503
    assert tasks.headers["Retry-After"] == "5"
    assert tasks.json["error"]["code"] == "service_unavailable"
    assert client.get("/my").status_code == 200


def test_requests_during_a_restart_are_all_served(private_app, cluster):
    app, crew = private_app
    client = app.test_client()
    sign_in(client, crew.citizen)
    restart = threading.Thread(target=cluster.restart)
    statuses = []
    restart.start()
    while restart.is_alive():
        statuses.append(client.get("/my").status_code)
    statuses.append(client.get("/my").status_code)
    assert set(statuses) == {200}, statuses


def test_work_that_may_have_committed_is_not_run_again(app):
    def refuse(_session):
        raise RuntimeError("refused")

    lost = OperationalError("COMMIT", {}, _Failure("08006"))
    refused_by_shutdown = OperationalError("COMMIT", {}, _Failure("57P01"))
    with app.app_context(), tracking_commits():
        assert not may_have_committed(lost), "nothing was committed yet"
        event.listen(db.factory, "before_commit", refuse)
        try:
            with pytest.raises(RuntimeError):
                db.session.commit()
        finally:
            event.remove(db.factory, "before_commit", refuse)
        db.session.rollback()
        assert may_have_committed(lost), "a COMMIT whose answer was lost may have landed"
        assert not may_have_committed(refused_by_shutdown), "a COMMIT the server ended never landed"
        db.session.commit()
        assert may_have_committed(refused_by_shutdown), "an earlier commit landed"


class _Failure(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("sqlstate", "runs"), [("40001", 2), ("40P01", 2), ("23505", 1)])
def test_only_serialization_failures_and_deadlocks_are_run_again(app, sqlstate, runs):
    runs_made = []

    @retry_transaction
    def work():
        runs_made.append(1)
        if len(runs_made) == 1:
            raise OperationalError("UPDATE …", {}, _Failure(sqlstate))
        return "done"

    with app.app_context():
        if runs == 1:
            with pytest.raises(OperationalError):
                work()
        else:
            assert work() == "done"
    assert len(runs_made) == runs


def test_a_failure_that_keeps_coming_is_given_up_after_two_more_runs(app):
    runs_made = []

    @retry_transaction
    def work():
        runs_made.append(1)
        raise OperationalError("UPDATE …", {}, _Failure("40001"))

    with app.app_context(), pytest.raises(OperationalError):
        work()
    assert len(runs_made) == 3


def test_the_database_limits_each_statement_and_idle_transactions(private_app):
    app, _crew = private_app
    with app.app_context():
        assert db.session.execute(text("SHOW statement_timeout")).scalar() == "15s"
        assert db.session.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "1min"
        db.session.execute(text("SET LOCAL statement_timeout = 50"))
        with pytest.raises(OperationalError, match="statement timeout"):
            db.session.execute(text("SELECT pg_sleep(1)"))
        db.session.rollback()


# -- statistics from a read replica -----------------------------------------------------------------------------------


@pytest.fixture
def replica(app, tmp_path):
    """A second database standing in for a read replica (migrated, with the divisions and holidays), bound as the
    statistics database for the test; yields a session on it."""
    url = f"sqlite:///{tmp_path / 'replica.db'}"
    upgrade(url)
    db.configure_statistics(url)
    with Session(db.statistics_engine) as session:
        divisions.import_demo_divisions(session)
        holidays.import_holidays(session)
        session.commit()
        yield session
    db.configure_statistics(app.config["STATISTICS_DATABASE_URL"])


def _replica_cases(session, count: int) -> None:
    applicant = UserModel(phone="13800000009", name="周敏", role=CITIZEN, password_hash="x")
    session.add(applicant)
    session.flush()
    for number in range(count):
        session.add(CaseModel(case_number=f"R{number:05d}", case_type="first_child", process_key="birth_registration",
                              applicant_id=applicant.id, woman_name="周敏", man_name="吴刚",
                              contact_phone="13800000009", hukou_division=HUKOU_VILLAGE,
                              residence_division=RESIDENCE_VILLAGE, parity=1))
    session.commit()


def test_statistics_read_the_replica_when_one_is_configured(app, session, people, submit, replica):
    submit()  # one case on the main database
    _replica_cases(replica, 3)
    token = api_tokens.issue_token(session, people.county, "statistics", 1)
    session.commit()
    client = app.test_client()

    def total():
        answer = client.get("/api/v1/statistics", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        return answer.json["total"]

    assert total() == 3, "the figures come from the replica"
    db.configure_statistics("")
    assert total() == 1, "without a replica they come from the main database"
