"""Trusted hosts: links that leave the site (reset emails, the slip's QR code) name the site, never a forged Host.

With PUBLIC_BASE_URL set, every link is built from it and a request naming any other host gets 400. Without it (the
embedded default) only loopback names are served, so a forged Host header is refused before any email is written.
Production (HTTPS cookies) refuses to start without it.
"""

import re
import subprocess

import pytest

from services import mail, slips
from tests.fixtures import csrf_token, decide, sign_in
from webapp import demo_server
from webapp.config import ConfigurationError, check, from_environment, trusted_hosts

PUBLIC = "https://birth.example.gov.cn"
EMAIL = "zhangli@example.com"


@pytest.fixture
def citizen_with_email(session, people):
    people.citizen.email = EMAIL
    session.commit()
    return people.citizen


@pytest.fixture
def public_address(app, monkeypatch):
    """The site as deployed behind its public address."""
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", trusted_hosts(PUBLIC))


def _ask_reset_link(client, host: str):
    """Ask for a reset email through the page, every request naming `host`; return the answer to the POST."""
    headers = {"Host": host}
    page = client.get("/auth/forgot/email", headers=headers)
    token = csrf_token(page.text) if page.status_code == 200 else ""
    return client.post("/auth/forgot/email", data={"csrf_token": token, "email": EMAIL}, headers=headers)


def _mailed_links() -> list[str]:
    return [link for to, _subject, body in mail.DELIVERED if to == EMAIL
            for link in re.findall(r"https?://\S+", body)]


def test_a_forged_host_is_refused_and_never_reaches_an_email(client, citizen_with_email):  # noqa: ARG001
    response = _ask_reset_link(client, "attacker.example")
    assert response.status_code == 400
    assert "请求无效" in response.text
    assert _mailed_links() == []


def test_without_a_public_address_a_loopback_request_still_gets_its_link(client, citizen_with_email):  # noqa: ARG001
    assert _ask_reset_link(client, "localhost").status_code == 302
    [link] = _mailed_links()
    assert link.startswith("http://localhost/auth/reset/")


def test_with_a_public_address_the_email_link_names_it(client, citizen_with_email, public_address):  # noqa: ARG001
    assert _ask_reset_link(client, "birth.example.gov.cn").status_code == 302
    [link] = _mailed_links()
    assert link.startswith(f"{PUBLIC}/auth/reset/")


@pytest.mark.parametrize("host", ["localhost", "attacker.example", "birth.example.gov.cn.attacker.example"])
def test_with_a_public_address_any_other_host_gets_400(client, public_address, host):  # noqa: ARG001
    response = client.get("/", headers={"Host": host})
    assert response.status_code == 400
    assert "请求无效" in response.text


@pytest.mark.poppler
def test_the_slip_qr_and_verification_url_use_the_public_address(app, session, people, submit, client, public_address,
                                                                 tmp_path, monkeypatch):  # noqa: ARG001
    # Behind a TLS-terminating proxy the request arrives over plain HTTP; the printed address must still be the
    # site's own https:// one, which is where the QR code leads.
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    case = decide(session, case, "township_audit", people.township, "approved")
    code = slips.slip_of_case(session, case).verification_code
    monkeypatch.setitem(app.config, "SERVER_NAME", "birth.example.gov.cn")  # the test client's Host
    sign_in(client, people.citizen)
    response = client.get(f"/slips/{case.case_number}.pdf")
    assert response.status_code == 200
    path = tmp_path / "slip.pdf"
    path.write_bytes(response.data)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert f"{PUBLIC}/slips/verify/{code}" in "".join(text.split())


def _settings(tmp_path, **overrides):
    return from_environment() | {"INSTANCE_DIR": tmp_path, "SECRET_KEY": "x", **overrides}


def test_production_refuses_to_start_without_a_public_address(tmp_path):
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        check(_settings(tmp_path, SESSION_COOKIE_SECURE=True, PUBLIC_BASE_URL=""))
    settings = _settings(tmp_path, SESSION_COOKIE_SECURE=True, PUBLIC_BASE_URL=PUBLIC)
    check(settings)
    assert settings["TRUSTED_HOSTS"] == ["birth.example.gov.cn"]


@pytest.mark.parametrize("address", ["birth.example.gov.cn", "ftp://birth.example.gov.cn",
                                     "https://birth.example.gov.cn/apply", "https://user@birth.example.gov.cn"])
def test_a_public_address_that_is_not_a_site_address_is_refused(tmp_path, address):
    with pytest.raises(ConfigurationError, match="PUBLIC_BASE_URL"):
        check(_settings(tmp_path, PUBLIC_BASE_URL=address))


def test_the_embedded_default_serves_loopback_names_only(tmp_path):
    settings = _settings(tmp_path, PUBLIC_BASE_URL="")
    check(settings)
    assert settings["TRUSTED_HOSTS"] == ["localhost", "127.0.0.1"]


def test_start_on_every_interface_needs_a_public_address(app):
    result = app.test_cli_runner().invoke(args=["start", "--host", "0.0.0.0"])  # noqa: S104
    assert result.exit_code == 1
    assert "PUBLIC_BASE_URL" in result.output


def test_start_on_one_address_makes_it_the_public_address(app, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "")
    monkeypatch.setitem(app.config, "TRUSTED_HOSTS", app.config["TRUSTED_HOSTS"])
    demo_server.trust_listening_address(app, "192.168.1.10", 5000)
    assert app.config["PUBLIC_BASE_URL"] == "http://192.168.1.10:5000"
    assert app.config["TRUSTED_HOSTS"] == ["192.168.1.10"]
