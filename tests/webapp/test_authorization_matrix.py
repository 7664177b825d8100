"""Who may open what: every route under /staff, /admin and /api/v1, for every kind of user, by status code.

The routes come from `app.url_map`, so a page or endpoint added later is checked too: by its row in POLICY when it
has one, otherwise by FALLBACK rules that still catch a real hole (nobody but the page's audience gets 200,
anonymous never does, citizens always get 403). URL parameters are filled with real ids: the tasks and the case of
a small world where some staff are inside the case's jurisdiction and some outside.

HTML routes are opened with the signed-in session of each person; /api/v1 takes a bearer token
(services.api_tokens) for staff, while a citizen, who cannot hold a token, tries with their signed-in session.
POST routes are checked only for refusing anonymous users, citizens and (HTML forms) a missing CSRF token.
"""

import importlib.util
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import time_machine
from sqlalchemy import select

from engine.models import HumanTaskModel, OutboxModel
from processes.roles import SYSTEM_ADMIN, TOWNSHIP_STAFF
from services import accounts
from services.notifications import SmsMessageModel
from tests.fixtures import PASSWORD, _ServerLikeClient, csrf_token, decide, open_task, post_form, sign_in

PREFIXES = ("/staff", "/admin", "/api/v1")
API = "/api/v1"

# The people, in the columns' order. "in"/"out": inside or outside the jurisdiction of the case the URLs name
# (hukou village 110101001001 and residence village 110101001002 of township 110101001, county 110101).
ROLES = ("anonymous", "citizen", "village_in", "village_out", "township_in", "township_out", "county", "admin")
PERSON = {
    "citizen": "citizen",  # 张丽, the applicant
    "village_in": "hukou",  # 多福巷社区 110101001001, the case's hukou village
    "village_out": "other",  # 东厂社区 110101001005, same township, other village
    "township_in": "township",  # 东华门街道 110101001
    "township_out": "township_out",  # 景山街道 110101002, created below
    "county": "county",  # 东城区 110101, county official
    "admin": "admin",  # system administrator, created below
}

# route pattern, the object its URL parameter names, and what each role gets:
#   login      302 to /auth/login (anonymous on an HTML page)
#   →/path     302 to that page
#   a number   that status code
# Subjects: village_task = the open 户籍地村（居）核实 of a case in verification; audit_task = the open
# 乡镇（街道）审核 of a second case; done_task = that second case's 户籍地村（居）核实, completed by village_in;
# missing_task / missing_case = ids that do not exist; case = the first case's number; person = the woman of a third
# case (applied for through the application path, not yet verified: she is seen through that case's villages);
# missing_person = a person id that does not exist (outside the jurisdiction answers the same 404).
POLICY_TABLE = """
route                             subject       anonymous citizen village_in village_out township_in township_out county        admin
/staff/                           -             login     403     200        200         200         200          200           200
/staff/tasks/<int:task_id>        village_task  login     403     200        403         403         403          403           403
/staff/tasks/<int:task_id>        audit_task    login     403     403        403         200         403          403           403
/staff/tasks/<int:task_id>        done_task     login     403     200        403         403         403          403           403
/staff/tasks/<int:task_id>        missing_task  login     403     404        404         404         404          404           404
/admin/                           -             login     403     →/staff/   →/staff/    →/staff/    →/staff/     →/statistics/ →/admin/staff
/admin/staff                      -             login     403     403        403         403         403          403           200
/admin/messages                   -             login     403     403        403         403         403          403           200
/admin/cases                      -             login     403     403        403         200         200          200           403
/admin/cases/<case_number>        case          login     403     403        403         200         403          200           403
/admin/cases/<case_number>        missing_case  login     403     403        403         404         404          404           403
/api/v1/openapi.json              -             200       200     200        200         200         200          200           200
/api/v1/tasks                     -             401       401     200        200         200         200          200           200
/api/v1/tasks/<int:task_id>       village_task  401       401     200        403         403         403          403           403
/api/v1/tasks/<int:task_id>       audit_task    401       401     403        403         200         403          403           403
/api/v1/tasks/<int:task_id>       done_task     401       401     200        403         403         403          403           403
/api/v1/tasks/<int:task_id>       missing_task  401       401     404        404         404         404          404           404
/staff/people/                    -             login     403     200        200         200         200          200           403
/staff/people/<int:person_id>     person        login     403     200        404         200         404          200           403
/staff/people/<int:person_id>     missing_person login    403     404        404         404         404          404           403
/api/v1/people/<int:person_id>    person        401       401     200        404         200         404          200           403
/api/v1/people/<int:person_id>    missing_person 401      401     404        404         404         404          404           403"""  # noqa: E501 - one line per route and subject, so the table reads as a table

# POST (and any other writing method), every route: anonymous is sent to sign in (HTML) or gets 401 (API), a citizen
# gets 403 (HTML) or 401 (API: a session cookie is no credential there), an HTML form without its CSRF token 400.
POST_RULE = {"html": {"anonymous": "login", "citizen": 403, "no_csrf": 400}, "api": {"anonymous": 401, "citizen": 401}}


def _parse(table: str) -> dict[tuple[str, str], dict[str, int | str]]:
    lines = [line.split() for line in table.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[2:]) == ROLES, header
    policy = {}
    for route, subject, *cells in rows:
        assert len(cells) == len(ROLES), f"{route} {subject}: {len(cells)} cells"
        assert (route, subject) not in policy, f"{route} {subject} twice"
        policy[route, subject] = {role: int(c) if c.isdigit() else c for role, c in zip(ROLES, cells, strict=True)}
    return policy


POLICY = _parse(POLICY_TABLE)


# -- the fallback for routes without a row -------------------------------------------------------------------------

def never_200(pattern: str) -> set[str]:
    """Return the roles that must not get 200 from a GET route POLICY does not list (the rule, not a guess).

    Anonymous users and citizens never reach a staff, admin or API page. The admin pages are for system
    administrators and case readers (township staff, officials), never village staff. A route naming a task, a
    case or an account (it has a URL parameter) is never open to staff outside that case's jurisdiction.
    """
    refused = {"anonymous", "citizen"}
    if pattern.startswith("/admin"):
        refused |= {"village_in", "village_out"}
    if "<" in pattern:
        refused |= {"village_out", "township_out"}
    return refused


def fallback_exact(pattern: str) -> dict[str, int | str]:
    """Return the exact answers every unlisted GET route owes anonymous users and citizens."""
    if pattern.startswith(API):
        return {"anonymous": 401, "citizen": 401}
    return {"anonymous": "login", "citizen": 403}


# -- the world the URLs point into ---------------------------------------------------------------------------------

@pytest.fixture
def world(session, people, submit, apply):
    """Two cases (one in verification, one awaiting the township audit), a third with its spouses as persons, and the
    people around them, by role name."""
    people.township_out = accounts.create_user(session, phone="13900000012", name="景山街", role=TOWNSHIP_STAFF,
                                               password=PASSWORD, division_code="110101002")
    people.admin = accounts.create_user(session, phone="13900000040", name="吴系统", role=SYSTEM_ADMIN,
                                        password=PASSWORD, division_code="11")
    session.commit()
    waiting = submit()
    audited = submit()
    audited = decide(session, audited, "verify_hukou", people.hukou, "verified")
    audited = decide(session, audited, "verify_residence", people.residence, "verified")
    done = session.scalar(select(HumanTaskModel).where(HumanTaskModel.business_key == audited.case_number,
                                                       HumanTaskModel.bpmn_id == "verify_hukou"))
    subjects = {
        "village_task": open_task(session, waiting, "verify_hukou").id,
        "audit_task": open_task(session, audited, "township_audit").id,
        "done_task": done.id,
        "missing_task": 987654,
        "case": waiting.case_number,
        "missing_case": "99999999999999",
        "person": apply().woman_id,
        "missing_person": 987654,
    }
    ids = {
        "user": people.other.id,
        "outbox": session.scalar(select(OutboxModel.id).order_by(OutboxModel.id.desc()).limit(1)) or 1,
        "message": session.scalar(select(SmsMessageModel.id).order_by(SmsMessageModel.id.desc()).limit(1)) or 1,
        "case_id": waiting.id,
    }
    for user in vars(people).values():  # loaded again (decide expired them), so they stay readable when detached
        session.refresh(user)
    session.commit()
    return SimpleNamespace(people=people, subjects=subjects, ids=ids, case=waiting)


def _value(name: str, converter: str, world) -> str:
    """Return a real value for URL parameter `name` of a route POLICY does not list (the first case's objects)."""
    lowered = name.lower()
    if "task" in lowered:
        return str(world.subjects["village_task"])
    if "case" in lowered or "number" in lowered:
        return str(world.ids["case_id"]) if converter == "int" else world.case.case_number
    for key, fragments in {"user": ("user", "account", "staff"), "outbox": ("outbox",),
                           "message": ("message", "sms")}.items():
        if any(f in lowered for f in fragments):
            return str(world.ids[key])
    return "1"


_PARAMETER = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def url_for_rule(pattern: str, world, subject: str = "-") -> str:
    """Return `pattern` with its parameters filled: the row's subject, or a real object chosen by parameter name."""
    def fill(match: re.Match) -> str:
        if subject != "-":
            return str(world.subjects[subject])
        return _value(match["name"], match["converter"] or "string", world)

    return _PARAMETER.sub(fill, pattern)


def protected_rules(app):
    """Return (pattern, methods) of every non-static rule under /staff, /admin and /api/v1."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        if any(rule.rule == p or rule.rule.startswith(p + "/") for p in PREFIXES):
            found.append((rule.rule, set(rule.methods or ()) - {"HEAD", "OPTIONS"}))
    return sorted(found, key=lambda item: item[0])


# -- who is asking -------------------------------------------------------------------------------------------------

def api_token_headers(session, user) -> dict[str, str] | None:
    """Return the Authorization header of a fresh API token for staff `user`, or None without services.api_tokens.

    Until the API's token service exists the API columns are checked for anonymous users and citizens only.
    """
    if importlib.util.find_spec("services.api_tokens") is None:
        return None
    from services import api_tokens

    secret = api_tokens.issue_token(session, user, "authorization-matrix")
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


class Asker:
    """One role's way of asking: a browser session for HTML pages, a bearer token (staff) for the API."""

    def __init__(self, app, session, user):
        self.client = _ServerLikeClient(app, app.response_class, use_cookies=True)
        self.user = user
        self.api_headers = {}
        if user is not None:
            sign_in(self.client, user)
            if user.role != "citizen":
                self.api_headers = api_token_headers(session, user)

    def get(self, url: str):
        """GET `url` as this role, or None when the role has no way to ask the API yet."""
        if url.startswith(API + "/") or url == API:
            if self.api_headers is None:
                return None
            return answer(self.client, url, "GET", headers=self.api_headers)
        return answer(self.client, url, "GET")


class Raised:
    """An exception a request raised (the test app propagates them), kept so the whole matrix is still checked."""

    status_code = 500

    def __init__(self, exc: Exception):
        self.text = f"raised {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def answer(client, url: str, method: str, **kwargs):
    """Send one request; an exception in the view becomes a Raised (a 500 to the user) instead of ending the test."""
    try:
        return client.open(url, method=method, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported with the route in the test's failure message
        return Raised(exc)


def outcome(response) -> int | str:
    """Return a response as POLICY writes it: login, →/path, or the status code (or what the view raised)."""
    if isinstance(response, Raised):
        return response.text
    if response.status_code in {301, 302, 303, 307, 308}:
        path = urlsplit(response.location).path
        return "login" if path == "/auth/login" else f"→{path}"
    return response.status_code


# -- the tests -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role_as_the_policy_says(app, session, world, role):
    user = getattr(world.people, PERSON[role]) if role != "anonymous" else None
    asker = Asker(app, session, user)
    wrong = []
    for pattern, methods in protected_rules(app):
        if "GET" not in methods:
            continue
        rows = {subject: row for (route, subject), row in POLICY.items() if route == pattern}
        if rows:
            for subject, row in rows.items():
                url = url_for_rule(pattern, world, subject)
                response = asker.get(url)
                if response is not None and outcome(response) != row[role]:
                    wrong.append(f"GET {url} ({pattern}, {subject}): expected {row[role]}, got {outcome(response)}")
            continue
        url = url_for_rule(pattern, world)
        response = asker.get(url)
        if response is None:
            continue
        exact = fallback_exact(pattern)
        if role in exact and outcome(response) != exact[role]:
            wrong.append(f"GET {url} ({pattern}, no POLICY row): expected {exact[role]}, got {outcome(response)}")
        elif role in never_200(pattern) and response.status_code == 200:
            wrong.append(f"GET {url} ({pattern}, no POLICY row): must not be 200 for {role}")
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)


def test_every_post_refuses_anonymous_users_citizens_and_forms_without_a_csrf_token(app, world):
    anonymous = _ServerLikeClient(app, app.response_class, use_cookies=True)
    anonymous_token = csrf_token(anonymous.get("/auth/login").text)
    citizen = _ServerLikeClient(app, app.response_class, use_cookies=True)
    sign_in(citizen, world.people.citizen)
    citizen_token = csrf_token(citizen.get("/auth/me").text)
    staff = _ServerLikeClient(app, app.response_class, use_cookies=True)
    sign_in(staff, world.people.hukou)

    wrong, checked = [], 0
    for pattern, methods in protected_rules(app):
        for method in sorted(methods - {"GET"}):
            url = url_for_rule(pattern, world)
            if pattern.startswith(API):
                expected = POST_RULE["api"]
                answers = {"anonymous": answer(anonymous, url, method, json={}),
                           "citizen": answer(citizen, url, method, json={})}
            else:
                expected = POST_RULE["html"]
                answers = {
                    # With a valid token of their own session, so that the refusal comes from the sign-in check.
                    "anonymous": answer(anonymous, url, method, data={"csrf_token": anonymous_token}),
                    "citizen": answer(citizen, url, method, data={"csrf_token": citizen_token}),
                    "no_csrf": answer(staff, url, method, data={}),
                }
            checked += 1
            for who, response in answers.items():
                if outcome(response) != expected[who]:
                    wrong.append(f"{method} {url} ({pattern}) as {who}: expected {expected[who]}, "
                                 f"got {outcome(response)}")
    assert checked >= 5, "the workbench alone has five POST routes"
    assert not wrong, "\n".join(wrong)


def test_the_api_takes_no_session_cookie_and_no_bad_token(app, world):
    """A signed-in staff browser is no credential for the API (it is exempt from CSRF), nor is a made-up token."""
    staff = _ServerLikeClient(app, app.response_class, use_cookies=True)
    sign_in(staff, world.people.hukou)
    wrong = []
    for pattern, methods in protected_rules(app):
        if not pattern.startswith(API) or POLICY.get((pattern, "-"), {}).get("anonymous") == 200:
            continue
        url = url_for_rule(pattern, world)
        for method in sorted(methods):
            for label, headers in (("session cookie", {}), ("bad token", {"Authorization": "Bearer brt_nothing"}),
                                   ("basic auth", {"Authorization": "Basic eDp5"})):
                response = answer(staff, url, method, headers=headers, json={} if method != "GET" else None)
                if outcome(response) != 401:
                    wrong.append(f"{method} {url} with a {label}: expected 401, got {outcome(response)}")
    assert not wrong, "\n".join(wrong)


def test_the_policy_table_names_only_routes_that_exist(app):
    get_routes = {pattern for pattern, methods in protected_rules(app) if "GET" in methods}
    stale = sorted({route for route, _ in POLICY} - get_routes)
    assert not stale, f"POLICY rows for routes the app does not have (renamed? removed?): {stale}"


def test_the_enumeration_finds_the_workbench_and_skips_static_files(app):
    patterns = {pattern for pattern, _ in protected_rules(app)}
    assert {"/staff/", "/staff/tasks/<int:task_id>", "/staff/tasks/claim", "/staff/tasks/<int:task_id>/claim",
            "/staff/tasks/<int:task_id>/release", "/staff/tasks/<int:task_id>/reveal"} <= patterns
    assert not any("static" in p for p in patterns)


# -- sessions that have ended --------------------------------------------------------------------------------------

def _end_by_logout(_session, asker, _world):
    post_form(asker.client, "/auth/me", "/auth/logout", {})


def _end_by_password_change(_session, asker, world):
    # Changed from another device: the copied session is one of the "other sessions" that end. That device signs
    # in a minute later, when the phone may get another SMS code.
    elsewhere = _ServerLikeClient(asker.client.application, asker.client.application.response_class,
                                  use_cookies=True)
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61)):
        sign_in(elsewhere, world.people.township)
        response = post_form(elsewhere, "/auth/me", "/auth/me/password", {
            "current_password": PASSWORD, "new_password": "Next#2026a", "new_password_confirm": "Next#2026a"})
    assert response.status_code == 302, response.text


def _end_by_deactivation(session, asker, _world):
    user = session.get(accounts.UserModel, asker.user.id)
    accounts.set_active(session, user, False, "user:0")
    session.commit()
    accounts.set_active(session, user, True, "user:0")  # reactivated: nothing from before may come back
    session.commit()


SESSION_ENDINGS = {"logout": _end_by_logout, "password_change": _end_by_password_change,
                   "deactivation": _end_by_deactivation}


@pytest.mark.parametrize("ending", SESSION_ENDINGS)
def test_a_session_copied_before_it_ended_opens_nothing_after(app, session, world, ending):
    """Session replay: a copy of a township member's cookie, taken while it was live, tried on every GET route after
    the session ended (and, after a deactivation and reactivation, the API token issued before it)."""
    asker = Asker(app, session, world.people.township)
    thief = _ServerLikeClient(app, app.response_class, use_cookies=True)
    thief.set_cookie("session", asker.client.get_cookie("session").value)
    assert thief.get("/staff/").status_code == 200, "the copy works while the session lives"

    SESSION_ENDINGS[ending](session, asker, world)
    wrong, checked = [], 0
    for pattern, methods in protected_rules(app):
        if "GET" not in methods or POLICY.get((pattern, "-"), {}).get("anonymous") == 200:
            continue
        subjects = [subject for route, subject in POLICY if route == pattern] or ["-"]
        for subject in subjects:
            url = url_for_rule(pattern, world, subject)
            if pattern.startswith(API):
                if ending != "deactivation" or asker.api_headers is None:
                    continue  # a session cookie is no API credential at all (tested above); tokens outlive sign-outs
                response, expected = answer(thief, url, "GET", headers=asker.api_headers), 401
            else:
                response, expected = answer(thief, url, "GET"), "login"
            checked += 1
            if outcome(response) != expected:
                wrong.append(f"GET {url} ({pattern}, {subject}) after {ending}: expected {expected}, "
                             f"got {outcome(response)}")
    assert checked >= 10
    assert not wrong, "\n".join(wrong)
