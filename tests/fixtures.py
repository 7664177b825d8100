"""Factory fixtures: demo people, deployed diagrams, submitted cases, task helpers, and signing in on the web."""

import contextvars
import re
import time
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from engine.db import Base
from processes import applying, casework
from processes.demo import HUKOU_VILLAGE, OTHER_VILLAGE, RESIDENCE_VILLAGE, TOWNSHIP
from processes.roles import CITIZEN, COUNTY_OFFICIAL, STAFF_ROLES, TOWNSHIP_STAFF, VILLAGE_STAFF
from services import accounts, applications, cases, notifications
from services.db import db
from services.notifications import SmsMessageModel
from tests.applications import answers as application_answers


@pytest.fixture
def memory_session():
    """Return a factory of sessions on a private in-memory SQLite database holding only the given tables."""
    engines = []

    def make(*models):
        engine = create_engine("sqlite://")
        engines.append(engine)
        Base.metadata.create_all(engine, tables=[model.__table__ for model in models])
        return Session(engine)

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def people(session):
    """A citizen and the staff around her case: two villages, a third village, the township, the county."""
    def make(phone, name, role, division):
        return accounts.create_user(session, phone=phone, name=name, role=role, password="Test@12345",
                                    division_code=division)

    crew = SimpleNamespace(
        citizen=make("13800000001", "张丽", CITIZEN, None),
        hukou=make("13900000001", "李多福", VILLAGE_STAFF, HUKOU_VILLAGE),
        residence=make("13900000002", "王银闸", VILLAGE_STAFF, RESIDENCE_VILLAGE),
        other=make("13900000003", "赵东厂", VILLAGE_STAFF, OTHER_VILLAGE),
        township=make("13900000010", "陈街道", TOWNSHIP_STAFF, TOWNSHIP),
        county=make("13900000020", "孙区县", COUNTY_OFFICIAL, "110101"),
    )
    session.commit()
    return crew


@pytest.fixture
def deployed(session):
    """The shipped diagrams, deployed."""
    definitions = casework.deploy_shipped(session)
    session.commit()
    return {d.key: d for d, _ in definitions}


@pytest.fixture
def submit(session, people, deployed):  # noqa: ARG001 - deployed must exist before a case starts
    """Submit a case for the demo citizen and commit (which performs its first service tasks)."""
    def _submit(case_type="first_child", same_village=False):
        case = casework.submit(
            session, people.citizen, case_type=case_type, woman_name="张丽", man_name="刘强",
            contact_phone=people.citizen.phone, hukou_division=HUKOU_VILLAGE,
            residence_division=HUKOU_VILLAGE if same_village else RESIDENCE_VILLAGE,
        )
        session.commit()
        return case

    return _submit


@pytest.fixture
def apply(session, people, deployed):  # noqa: ARG001 - deployed must exist before a case starts
    """Submit an application of the demo citizen through the application path (persons, children) and commit."""
    def _apply(case_type="first_child", given=None):
        draft = applications.start(session, people.citizen.id, case_type)
        case = applying.submit(session, people.citizen, draft.token, given or application_answers())
        session.commit()
        return case

    return _apply


def open_task(session, case, bpmn_id):
    """Return the one open task `bpmn_id` of a case (failing if there is not exactly one)."""
    tasks = [t for t in casework.open_tasks(session, case) if t.bpmn_id == bpmn_id]
    assert len(tasks) == 1, f"expected one open {bpmn_id}, found {open_steps(session, case)}"
    return tasks[0]


def open_steps(session, case):
    """Return the element ids of a case's open tasks, sorted."""
    return sorted(t.bpmn_id for t in casework.open_tasks(session, case))


def decide(session, case, bpmn_id, user, decision, reason=""):
    """Decide task `bpmn_id` of a case as `user`, commit, and return the refreshed case."""
    casework.decide(session, open_task(session, case, bpmn_id).task_guid, user, decision, reason)
    session.commit()
    return refreshed(session, case)


def forget(session):
    """End the test's transaction and drop loaded objects, to see what other transactions committed."""
    session.rollback()
    session.expire_all()


def refreshed(session, case):
    """Return the case as stored now."""
    forget(session)
    return cases.get_case(session, case.case_number)


def sms_templates(session, case):
    """Return the SMS templates sent about a case, in order."""
    return [m.template for m in session.scalars(
        select(SmsMessageModel).where(SmsMessageModel.case_number == case.case_number).order_by(SmsMessageModel.id))]


# -- signing in through the web pages ----------------------------------------------------------------------------

PASSWORD = "Test@12345"  # the password of every `people` account
_CSRF_INPUT = re.compile(r"<input\b[^>]*\bname=\"csrf_token\"[^>]*>")
_VALUE = re.compile(r"\bvalue=\"([^\"]+)\"")
_SIX_DIGITS = re.compile(r"(?<![0-9])[0-9]{6}(?![0-9])")


class _ServerLikeClient(FlaskClient):
    """A test client that runs each request in its own app context and database session, as a server does.

    Tests hold an app context (the `session` fixture); a request would otherwise share it, and with it `g`, where
    Flask-Login caches the signed-in user and Flask-WTF the CSRF token, so one request could see the last one's user.
    The test's own session is closed before each request: commit first; loaded objects stay readable (detached).
    """

    def open(self, *args, **kwargs):
        db.session.remove()
        # A server reads the whole response and closes it (and a sent file with it); so does this client, whose
        # response body stays readable. Werkzeug keeps a large request body in a temporary file that it closes only
        # when following redirects: close it here.
        kwargs.setdefault("buffered", True)
        # A server's request thread starts from a fresh context, so its SQLite transactions begin IMMEDIATE, not
        # DEFERRED as the test's own reads do (conftest): a request that reads, then writes, waits for a background
        # writer (a dry run) instead of failing at once.
        response = contextvars.Context().run(self._open_in_app_context, *args, **kwargs)
        response.close()
        response.request.environ["wsgi.input"].close()
        return response

    def _open_in_app_context(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    """A test client whose requests behave as on a server (see _ServerLikeClient)."""
    return _ServerLikeClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def browser_for(app, people):
    """Return a signed-in client (a browser of its own) for one of the `people`, by attribute name."""
    def make(name):
        client = _ServerLikeClient(app, app.response_class, use_cookies=True)
        sign_in(client, getattr(people, name))
        return client

    return make


def csrf_token(html: str) -> str:
    """Return the CSRF token of the first form in a page."""
    tag = _CSRF_INPUT.search(html)
    assert tag, "the page has no form with a CSRF token"
    value = _VALUE.search(tag.group(0))
    assert value, "the CSRF input has no value"
    return value.group(1)


def post_form(client, page_url, action_url, data):
    """GET `page_url`, then POST `data` with that page's CSRF token to `action_url`; return the response."""
    page = client.get(page_url)
    assert page.status_code == 200, f"GET {page_url}: {page.status_code}"
    return client.post(action_url, data={"csrf_token": csrf_token(page.text), **data})


def last_sms_code(phone):
    """Return the code of the newest verification SMS sent to `phone` (read as the phone's owner would)."""
    texts = [text for text in notifications.delivered_to(phone) if "验证码" in text]
    assert texts, f"no verification SMS was sent to {phone}"
    return _SIX_DIGITS.search(texts[-1]).group(0)


def sign_in(client, user, password=PASSWORD, next_url=None):
    """Sign `user` in through the pages (password, and for staff the SMS code); return the final redirect."""
    login_url = "/auth/login" + (f"?{urlencode({'next': next_url})}" if next_url else "")
    response = post_form(client, login_url, login_url, {"phone": user.phone, "password": password})
    if user.role in STAFF_ROLES:
        assert response.status_code == 302, response.text
        assert response.location == "/auth/verify"
        response = post_form(client, "/auth/verify", "/auth/verify", {"code": last_sms_code(user.phone)})
    assert response.status_code == 302, response.text
    return response


def dry_run_done(client, url: str, timeout: float = 30.0):
    """GET a process version's review page until its background dry run is done (the page refreshes till then)."""
    ends_at = time.monotonic() + timeout
    page = client.get(url)
    while "Refresh" in page.headers and time.monotonic() < ends_at:
        time.sleep(0.1)
        page = client.get(url)
    return page
