"""Hostile path values never make a server error: every route of app.url_map, every method, every kind of visitor.

Each route's parameters are filled with values no record has: ids beyond any database integer, negative, not a
number, Chinese, a NUL byte, a very long segment. Each is requested with GET and POST (with and without a CSRF token)
by an anonymous visitor and by a citizen, a village clerk, a policy administrator and a system administrator. A
value no record can have must be answered 404 (or refused earlier with 400, 401, 403, 405); never 500.
"""

import re

import pytest

from processes.roles import POLICY_ADMIN, SYSTEM_ADMIN
from services import accounts, api_tokens
from services.db import db
from tests.fixtures import _ServerLikeClient, csrf_token, sign_in
from webapp.routing import MAX_ID

API = "/api/v1/"
HOSTILE = [
    "99999999999999999999",  # beyond 64 bits: SQLite refuses to bind it
    str(MAX_ID + 1),  # beyond a PostgreSQL INTEGER
    str(2**63),
    "-1",
    "0",
    "abc",
    "%E5%90%8D%E5%AD%97",  # 名字
    "%00",
    "1%00",
    "%FF%FE",  # not UTF-8
    "x" * 4000,
    "1.5",
]
PARAMETER = re.compile(r"<[^>]+>")


def _routes(app) -> list[tuple[str, str]]:
    """Return (pattern, method) for every route that takes a path value, and GET/POST only."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.arguments:
            found += [(rule.rule, method) for method in ("GET", "POST") if method in (rule.methods or ())]
    return sorted(found)


def _visitor(app, session, user):
    """Return a client signed in as `user` (anonymous for None), its CSRF token and its API headers."""
    client = _ServerLikeClient(app, app.response_class, use_cookies=True)
    if user is None:
        return client, csrf_token(client.get("/auth/login").text), {}
    sign_in(client, user)
    headers = {}
    if api_tokens.is_staff(user):
        headers = {"Authorization": f"Bearer {api_tokens.issue_token(session, user, 'walk')}"}
        session.commit()
    return client, csrf_token(client.get("/auth/me").text), headers


@pytest.fixture
def visitors(app, session, people):
    """The kinds of visitor, by name: (client, CSRF token, API headers)."""
    admins = {role: accounts.create_user(session, phone=phone, name=name, role=role, password="Test@12345",
                                         division_code="11")
              for role, phone, name in ((POLICY_ADMIN, "13900000030", "周流程"),
                                        (SYSTEM_ADMIN, "13900000040", "吴系统"))}
    session.commit()
    users = {"anonymous": None, "citizen": people.citizen, "village_clerk": people.hukou,
             "policy_admin": admins[POLICY_ADMIN], "system_admin": admins[SYSTEM_ADMIN]}
    return {name: _visitor(app, session, user) for name, user in users.items()}


def test_no_hostile_path_value_gets_a_server_error_on_any_route(app, visitors):
    routes = _routes(app)
    assert len(routes) > 40, "the walk must cover the whole site"
    failures, answered = [], 0
    for name, (client, token, api_headers) in visitors.items():
        for pattern, method in routes:
            for value in HOSTILE:
                url = PARAMETER.sub(value, pattern)
                headers = api_headers if url.startswith(API) else {}
                bodies = [None] if method == "GET" else [{}, {"csrf_token": token}]
                for body in bodies:
                    try:
                        response = client.open(url, method=method, data=body, headers=headers)
                    except Exception as exc:  # noqa: BLE001 - reported with the request, and the walk goes on
                        failures.append(f"[{name}] {method} {url[:80]}: raised {type(exc).__name__}: {exc}")
                        continue
                    answered += 1
                    if response.status_code >= 500:
                        failures.append(f"[{name}] {method} {url[:80]} {body and 'with CSRF'}: "
                                        f"{response.status_code}")
        db.session.remove()
    assert not failures, f"{len(failures)} of {answered} requests failed:\n" + "\n".join(failures[:60])


@pytest.mark.parametrize("url", [
    "/staff/tasks/99999999999999999999",
    "/admin/processes/2147483648",
    "/staff/people/9223372036854775808",
])
def test_an_id_beyond_the_database_range_is_not_found(url, people, browser_for):  # noqa: ARG001
    for name in ("hukou", "county"):
        response = browser_for(name).get(url)
        assert response.status_code == 404, (name, url)
        assert "您访问的页面不存在" in response.text


def test_an_id_beyond_the_database_range_is_not_found_in_the_api(session, people, client):
    secret = api_tokens.issue_token(session, people.hukou, "walk")
    session.commit()
    response = client.get(f"{API}tasks/99999999999999999999", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 404
    assert response.is_json


def test_a_nul_byte_in_a_path_value_is_not_found(client):
    assert client.get("/slips/verify/abc%00def").status_code == 404


def test_an_anonymous_oversize_upload_gets_the_413_page_and_no_process_list(app, session, client):
    token = csrf_token(client.get("/auth/login").text)
    too_big = app.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post("/admin/processes/upload", data={"csrf_token": token, "diagram": "x" * too_big})
    assert response.status_code == 413
    assert "提交的内容过大" in response.text
    assert "流程图文件上限" not in response.text  # the administrators' page is not shown to a stranger


def test_every_error_page_answers_an_anonymous_visitor(app, client, monkeypatch):
    token = csrf_token(client.get("/auth/login").text)
    answers = {
        400: client.post("/auth/login", data={"phone": "13800000001"}),
        404: client.get("/slips/verify/99999999999999999999"),
        405: client.get("/auth/logout"),
        413: client.post("/admin/processes/upload", data={"csrf_token": token, "padding": "x" * (
            app.config["MAX_CONTENT_LENGTH"] + 1)}),
    }

    def broken():
        raise RuntimeError("the database went away")

    monkeypatch.setitem(app.view_functions, "portal.index", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    answers[500] = client.get("/")
    for code, response in answers.items():
        assert response.status_code == code, (code, response.status_code)
        assert response.mimetype == "text/html"
