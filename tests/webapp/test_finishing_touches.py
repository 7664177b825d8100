"""The small things a first visitor notices: the site icon, 获取验证码 without a reload, birth dates taken from ID
numbers, and the wording of quotes and decision notes."""

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from services import applications
from services.db import db
from tests.fixtures import decide, forget, post_form, sign_in
from tests.webapp.test_application import MAN_ID, WOMAN_ID, form_fields, new_draft, post_application
from tests.webapp.test_citizen_account import accept_notice, ask_code, registration

ROOT = Path(__file__).resolve().parents[2]
UI_SOURCES = [*ROOT.glob("webapp/**/*.html"), *ROOT.glob("webapp/**/*.py"), *ROOT.glob("services/*.py"),
              *ROOT.glob("processes/*.py"), *ROOT.glob("forms/*.py")]


def test_every_page_links_a_site_icon_that_is_served(client, app):  # noqa: ARG001
    page = client.get("/")
    icon = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', page.text)
    assert icon, "no icon link: browsers ask for /favicon.ico and get a 404 on every page"
    served = client.get(icon.group(1))
    assert served.status_code == 200
    assert served.mimetype == "image/svg+xml"
    assert served.data.startswith(b"<svg")
    assert icon.group(1) in client.get("/auth/login").text


@pytest.fixture
def registering(client, app):  # noqa: ARG001
    accept_notice(client)
    return client


def test_the_code_button_is_enhanced_by_a_static_script_and_still_submits_without_it(registering):
    page = registering.get("/auth/register").text
    button = re.search(r"<button[^>]*data-send-code[^>]*>获取验证码</button>", page)
    assert button, "the button carries the marker the script looks for"
    assert 'type="submit"' in button.group(0)
    assert 'formaction="/auth/register/code"' in button.group(0)
    script = re.search(r'<script src="([^"]*send-code\.js)" defer></script>', page)
    assert script, "the countdown is a static script (the CSP allows no inline script)"
    served = registering.get(script.group(1))
    assert served.status_code == 200
    assert "javascript" in served.mimetype
    assert b"countDown" in served.data
    assert b"fetch(" in served.data
    assert " onclick=" not in page
    assert "<script>" not in page


def test_the_code_view_still_answers_the_page_with_its_message_and_the_limit_still_rules(registering):
    data = registration()
    first = ask_code(registering, "/auth/register", "/auth/register/code", data)
    assert first.status_code == 200
    assert re.search(r'class="alert alert-info" role="status">验证码已发送至', first.text), \
        "the script reads the sent message from the page the view answers with"
    again = ask_code(registering, "/auth/register", "/auth/register/code", data)
    refused = r'class="alert alert-warning" role="status">操作过于频繁，请于 (\d+ 秒|1 分钟)后再试'
    assert re.search(refused, again.text), "a second code within the minute is refused by the server"


@pytest.fixture
def citizen(client, people, deployed):  # noqa: ARG001 - the diagrams must be deployed
    sign_in(client, people.citizen)
    post_form(client, "/apply", "/apply", {"read": "y"})
    return client


def _answers(token: str) -> dict:
    with db.factory() as reader:
        return reader.scalar(select(applications.ApplicationModel)
                             .where(applications.ApplicationModel.token == token)).answers


def test_a_blank_birth_date_is_taken_from_the_id_number(citizen):
    url = new_draft(citizen)
    response = post_application(citizen, url, form_fields(woman={"birth_date": ""}, man={"birth_date": ""}))
    assert response.status_code == 302, "请填写出生日期 was asked although the ID number holds it"
    answers = _answers(url.rsplit("/", 1)[1])
    assert str(answers["man"]["birth_date"]).startswith(f"{MAN_ID[6:10]}-{MAN_ID[10:12]}-{MAN_ID[12:14]}")
    assert str(answers["woman"]["birth_date"]).startswith(f"{WOMAN_ID[6:10]}-{WOMAN_ID[10:12]}-{WOMAN_ID[12:14]}")


def test_a_typed_birth_date_must_still_agree_with_the_id_number(citizen):
    url = new_draft(citizen)
    page = post_application(citizen, url, form_fields(man={"birth_date": "1991-05-13"}))
    assert "身份证号码中的出生日期为 1991-05-12，与填写的出生日期不一致" in page.text


def test_the_form_fills_each_birth_date_from_the_id_number_as_it_is_typed(citizen):
    page = citizen.get(new_draft(citizen)).text
    for side in ("woman", "man"):
        assert re.search(rf'data-birth-date="{side}-birth_date"[^>]*id="{side}-id_number"'
                         rf'|id="{side}-id_number"[^>]*data-birth-date="{side}-birth_date"', page)
    script = re.search(r'<script src="([^"]*birth-date\.js)" defer></script>', page)
    assert script
    assert citizen.get(script.group(1)).status_code == 200


def test_a_note_on_a_positive_decision_is_not_called_a_reason(citizen, apply, session, people):
    case = apply()
    decide(session, case, "verify_hukou", people.hukou, "verified", "已电话联系本人确认")
    decide(session, case, "verify_residence", people.residence, "mismatch", "现居住地址不符")
    forget(session)
    page = citizen.get(f"/my/cases/{case.case_number}").text
    assert "说明：已电话联系本人确认" in page
    assert "原因：已电话联系本人确认" not in page
    assert "原因：现居住地址不符" in page, "a refusal still gives its reason"


def test_quoted_names_use_corner_brackets_throughout_the_interface():
    mixed = [f"{path.relative_to(ROOT)}:{number}" for path in UI_SOURCES if path.name != "pdf_fonts.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search("[“”]", line)]
    assert mixed == [], "names are quoted 「」 in the interface, as in the form messages"
