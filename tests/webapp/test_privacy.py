"""The privacy policy, consent to it by version, and a citizen's download of their own data."""

import json
from datetime import date

import pytest
from sqlalchemy import select

from engine.db import utcnow
from engine.models import AuditEventModel
from processes import applying
from processes.roles import CITIZEN
from services import accounts, applications, consents, notifications
from services import people as people_records
from services.consents import ConsentModel
from tests.applications import answers
from tests.fixtures import csrf_token, last_sms_code, post_form, sign_in
from tests.identities import id_number

PHONE = "13700000031"
ID_NUMBER = id_number("19900307", "2", serial=30)
PASSWORD = "Xin@2026pw"
OLD_VERSION = "2025-01-01"
# The other family: a couple with nothing in common with the demo citizen's.
OTHER_PHONE = "13800000077"
OTHER_WOMAN_ID = id_number("19920101", "2")
OTHER_MAN_ID = id_number("19900202", "1")


def _register(client) -> None:
    assert post_form(client, "/auth/register", "/auth/register/notice", {"agree": "y"}).status_code == 302
    form = {"phone": PHONE, "name": "王芳", "id_number": ID_NUMBER, "password": PASSWORD, "confirm": PASSWORD,
            "email": ""}
    post_form(client, "/auth/register", "/auth/register/code", form)
    answer = post_form(client, "/auth/register", "/auth/register", {**form, "code": last_sms_code(PHONE)})
    assert answer.status_code == 302, answer.text


def _consents(session, user_id: int) -> list[tuple[str, str]]:
    session.expire_all()
    return [(c.version, c.way) for c in session.scalars(
        select(ConsentModel).where(ConsentModel.user_id == user_id).order_by(ConsentModel.id))]


def test_the_policy_is_public_and_linked_from_the_footer_and_the_registration_notice(client):
    page = client.get("/privacy")
    assert page.status_code == 200
    for promise in ("身份证号码", "结婚证", "出生医学证明", "核实", "村（居）", "乡镇（街道）", "保存",
                    "查阅、复制", "更正", "删除", "12345", f"版本 {consents.current_version()}"):
        assert promise in page.text, promise
    assert 'href="/privacy"' in client.get("/").text
    notice = client.get("/auth/register").text
    assert 'href="/privacy"' in notice
    assert "个人信息保护" in notice


def test_registration_records_consent_to_the_version_in_force(client, session):
    _register(client)
    account = accounts.find_by_phone(session, PHONE)
    assert _consents(session, account.id) == [(consents.current_version(), consents.REGISTRATION)]


def test_a_new_version_must_be_accepted_before_anything_else_and_staff_are_not_asked(
        client, session, people, browser_for, monkeypatch):
    for account in (people.citizen, people.hukou):
        session.add(ConsentModel(user_id=account.id, version=OLD_VERSION, way=consents.REGISTRATION))
    session.commit()
    sign_in(client, people.citizen)

    held = client.get("/my")
    assert (held.status_code, held.location) == (303, "/privacy/accept")
    token = csrf_token(client.get("/privacy/accept").text)
    changed = client.post("/auth/me/email", data={"csrf_token": token, "email": "a@example.cn"})
    assert changed.location == "/privacy/accept"  # a form's POST waits too
    assert client.get("/privacy").status_code == 200  # the policy itself stays readable
    refused = post_form(client, "/privacy/accept", "/privacy/accept", {})
    assert "请先阅读并勾选同意隐私政策" in refused.text
    assert _consents(session, people.citizen.id) == [(OLD_VERSION, consents.REGISTRATION)]

    accepted = post_form(client, "/privacy/accept", "/privacy/accept", {"agree": "y"})
    assert accepted.location == "/my"  # back to where the citizen was going
    assert client.get("/my").status_code == 200
    assert _consents(session, people.citizen.id) == [
        (OLD_VERSION, consents.REGISTRATION), (consents.current_version(), consents.RENEWAL)]

    # Another change of the text: asked again.
    monkeypatch.setattr(consents, "PRIVACY_POLICY_VERSION", "2099-01-01")
    assert client.get("/my").location == "/privacy/accept"
    # Staff work under their employment, not consent: never held up.
    assert browser_for("hukou").get("/staff/").status_code == 200


@pytest.fixture
def two_families(session, people, apply):
    """The demo citizen's application, and another family's, each with the SMS its phone received."""
    own = apply()
    other = accounts.create_user(session, phone=OTHER_PHONE, name="吴敏", role=CITIZEN, password=PASSWORD)
    session.commit()
    draft = applications.start(session, other.id, "first_child")
    given = answers(woman_id=OTHER_WOMAN_ID, man_id=OTHER_MAN_ID)
    for side, name in (("woman", "吴敏"), ("man", "郑强")):
        given[side].update(name=name, phone=OTHER_PHONE)
    theirs = applying.submit(session, other, draft.token, given)
    for phone in (people.citizen.phone, OTHER_PHONE):
        notifications.send_sms(session, [phone], "phone_already_registered", {})
    session.commit()
    return own, theirs


def _download(client):
    page = client.get("/auth/me")
    assert "下载我的信息" in page.text
    return post_form(client, "/auth/me", "/privacy/my-data", {})


def test_a_citizen_downloads_their_own_data_and_nothing_of_another_family(client, session, people, two_families):
    own, theirs = two_families
    sign_in(client, people.citizen)
    response = _download(client)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="my-data-')
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.get_data(as_text=True))

    assert data["account"]["phone"] == people.citizen.phone
    assert [c["case_number"] for c in data["cases"]] == [own.case_number]
    assert data["cases"][0]["claims"][0]["answers"]["woman"]["name"] == "张丽"  # what she submitted, as submitted
    assert [a["case_number"] for a in data["applications"]] == [own.case_number]
    assert data["text_messages"]
    assert all(m["case_number"] in {None, own.case_number} for m in data["text_messages"])
    assert data["verified_record"] is None  # the account claims no ID number it holds
    text = response.get_data(as_text=True)
    for stranger in (theirs.case_number, OTHER_PHONE, OTHER_WOMAN_ID, OTHER_MAN_ID, "吴敏", "郑强"):
        assert stranger not in text, stranger


def test_each_download_is_audited_and_only_citizens_download(client, session, people, browser_for, two_families):
    sign_in(client, people.citizen)
    _download(client)
    session.expire_all()
    events = session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "personal_data_exported")).all()
    assert [(e.actor, e.detail["user_id"], e.detail["cases"]) for e in events] == [
        (people.citizen.actor, people.citizen.id, 1)]
    assert "下载我的信息" not in browser_for("hukou").get("/auth/me").text
    assert client.post("/privacy/my-data", data={}).status_code in {302, 400}  # no CSRF token, no file


def test_the_own_verified_record_comes_with_the_download_and_the_spouses_never(client, session):
    _register(client)  # the account holds its ID number: no other account had it
    spouse_number = id_number("19880512", "1", serial=31)
    for number, birth, sex, employer in ((ID_NUMBER, date(1990, 3, 7), "2", "东城区某医院"),
                                         (spouse_number, date(1988, 5, 12), "1", "东城区某工厂")):
        person = people_records.ensure_person(session, number, birth, sex)
        person.employer, person.verified_at = employer, utcnow()
    session.commit()

    data = json.loads(_download(client).get_data(as_text=True))
    assert data["verified_record"]["id_number"] == ID_NUMBER
    assert data["verified_record"]["employer"] == "东城区某医院"
    text = json.dumps(data, ensure_ascii=False)
    assert spouse_number not in text
    assert "东城区某工厂" not in text
