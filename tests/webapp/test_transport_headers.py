"""Transport: personal data is never cached, HTTPS is pinned once cookies are, no server banner, no codes in logs."""

import http.client
import logging
import threading

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from services import api_tokens, applications
from tests.fixtures import last_sms_code, sign_in
from webapp.demo_server import QuietRequestHandler
from webapp.security_headers import HSTS


@pytest.mark.parametrize(("who", "url"), [
    ("citizen", "/my"),
    ("citizen", "/auth/me"),
    ("citizen", "/apply"),
    ("hukou", "/staff/"),
    ("township", "/staff/hall"),
    (None, "/auth/login"),
    (None, "/"),
])
def test_every_page_is_marked_no_store(people, browser_for, client, who, url):  # noqa: ARG001
    response = (browser_for(who) if who else client).get(url)
    assert response.status_code in {200, 302}, (url, response.status_code)
    assert "no-store" in response.headers.get("Cache-Control", ""), url


def test_the_application_form_is_marked_no_store(session, people, browser_for):
    draft = applications.start(session, people.citizen.id, "first_child")
    session.commit()
    response = browser_for("citizen").get(f"/apply/{draft.token}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_api_answers_and_error_pages_are_marked_no_store(session, people, client):
    secret = api_tokens.issue_token(session, people.hukou, "headers")
    session.commit()
    assert "no-store" in client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"}).headers[
        "Cache-Control"]
    assert client.get("/no-such-page").headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached(client):
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_hsts_only_once_cookies_are_https_only(app, client, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/").headers
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    assert client.get("/").headers["Strict-Transport-Security"] == HSTS


def _server_header(app, handler) -> str | None:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        connection.request("GET", "/healthz", headers={"Host": "localhost"})
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.getheader("Server")
    finally:
        server.shutdown()
        server.server_close()


def test_the_demo_server_sends_no_banner(app):
    assert "Werkzeug" in (_server_header(app, WSGIRequestHandler) or ""), "Werkzeug's own handler names itself"
    assert _server_header(app, QuietRequestHandler) is None


def test_sms_codes_never_reach_the_log(people, client, caplog):
    # The staff sign-in sends a code by SMS; outside the demo terminal of `flask start`, no log line may carry it.
    caplog.set_level(logging.DEBUG)
    sign_in(client, people.hukou)
    code = last_sms_code(people.hukou.phone)
    assert code not in caplog.text
