"""Throttles on the anonymous pages, and registration that tells nobody which phones and ID numbers have accounts.

SMS codes are counted per client address and for the whole site (on top of the per-phone limits), progress lookups
per client address; until the SMS code is proven, the registration pages read the same byte for byte whether the
phone or the ID number is registered. SMS are read as their phone's owner would (the record provider).
"""

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from engine.calendar import CST
from services import accounts, notifications, sms_codes
from services.crypto import blind
from services.db import db
from services.identity import check_character
from services.notifications import SmsMessageModel
from tests.fixtures import csrf_token, last_sms_code, post_form

# 09:20 China time: 40 minutes are left of the hourly window (windows are aligned to the hour).
MONDAY_NINE_TWENTY = datetime(2026, 3, 2, 9, 20, tzinfo=CST)
PASSWORD = "Xin@2026pw"
PHONE = "13700000001"
OTHER_PHONE = "13700000002"
ID_NUMBER = "11010119900307002" + check_character("11010119900307002")
OTHER_ID_NUMBER = "11010119880512001" + check_character("11010119880512001")
SENT = "验证码已发送至"
TOO_OFTEN = "操作过于频繁，请 40 分钟后再试"
WRONG_CODE = "654321"
NOTICE = "【生育登记】该手机号码已注册本系统账号，如需登录请使用找回密码。如非本人操作请忽略。"


def registration(**overrides) -> dict:
    return {"phone": PHONE, "name": "王芳", "id_number": ID_NUMBER, "password": PASSWORD, "confirm": PASSWORD,
            "email": "", **overrides}


def from_address(client, address: str):
    """Make `client` send its requests from `address`."""
    client.environ_base["REMOTE_ADDR"] = address
    return client


def accept_notice(client) -> None:
    assert post_form(client, "/auth/register", "/auth/register/notice", {"agree": "y"}).status_code == 302


def ask_registration_code(client, phone=PHONE, **overrides):
    return post_form(client, "/auth/register", "/auth/register/code", registration(phone=phone, **overrides))


def ask_recovery_code(client, phone):
    return post_form(client, "/auth/forgot/sms", "/auth/forgot/sms/code", {"phone": phone})


def submit_registration(client, code, **overrides):
    return post_form(client, "/auth/register", "/auth/register", {**registration(**overrides), "code": code})


def sms_count(phone: str | None = None) -> int:
    query = select(func.count()).select_from(SmsMessageModel)
    if phone is not None:
        query = query.where(SmsMessageModel.phone_hash == blind(phone))
    with db.factory() as reader:
        return reader.scalar(query)


def register_directly(session, phone=PHONE, id_number=ID_NUMBER):
    accounts.register_citizen(session, phone=phone, name="李娜", id_number=id_number, password=PASSWORD)
    session.commit()


def without_token(html: str) -> str:
    """Return the page with its CSRF token (different in every session) taken out."""
    return html.replace(csrf_token(html), "CSRF")


@pytest.fixture
def fixed_codes(monkeypatch):
    """Make every SMS code 123456, so that one wrong code is wrong in every state compared (and typed the same)."""
    monkeypatch.setattr(sms_codes.secrets, "randbelow", lambda _n: 123456)
    return "123456"


@pytest.fixture
def setting(app):
    """Change a setting for one test."""
    saved = {}

    def change(name, value):
        saved.setdefault(name, app.config[name])
        app.config[name] = value

    yield change
    app.config.update(saved)


# -- SMS codes per address and for the whole site -------------------------------------------------------------------


def test_the_eleventh_phone_from_one_address_gets_the_message_and_no_sms(client, app):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
        accept_notice(client)
        phones = [f"1370000{n:04d}" for n in range(11)]
        for phone in phones[:9]:
            assert SENT in ask_registration_code(client, phone).text
        assert SENT in ask_recovery_code(client, phones[9]).text, "every purpose counts (no SMS: no account)"
        response = ask_registration_code(client, phones[10])
        assert response.status_code == 200
        assert TOO_OFTEN in response.text
        assert SENT not in response.text
        assert f'value="{phones[10]}"' in response.text, "the form comes back as typed"
        assert sms_count(phones[10]) == 0
        assert notifications.delivered_to(phones[10]) == []
        assert TOO_OFTEN in ask_recovery_code(client, phones[10]).text

        elsewhere = from_address(type(client)(app, app.response_class, use_cookies=True), "203.0.113.9")
        accept_notice(elsewhere)
        assert SENT in ask_registration_code(elsewhere, phones[10]).text, "another address is still served"
    assert sms_count() == 10


def test_the_address_limit_follows_the_setting_and_a_new_hour_lifts_it(client, setting):
    setting("SMS_CODE_PER_ADDRESS_HOURLY", 2)
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False) as clock:
        accept_notice(client)
        assert SENT in ask_registration_code(client, "13700000010").text
        assert SENT in ask_registration_code(client, "13700000011").text
        assert TOO_OFTEN in ask_registration_code(client, "13700000012").text
        clock.shift(timedelta(minutes=40))
        accept_notice(client)  # the session idled out meanwhile
        assert SENT in ask_registration_code(client, "13700000012").text


def test_the_site_wide_cap_refuses_every_address_and_counts_only_codes_issued(client, app, setting):
    setting("SMS_CODE_GLOBAL_HOURLY", 2)
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
        accept_notice(client)
        assert SENT in ask_registration_code(client, "13700000010").text
        refused = ask_registration_code(client, "13700000010")
        assert "秒后再获取验证码" in refused.text, "refused for the phone: spends nothing of the site's cap"

        other = from_address(type(client)(app, app.response_class, use_cookies=True), "203.0.113.9")
        accept_notice(other)
        assert SENT in ask_registration_code(other, "13700000011").text
        response = ask_registration_code(other, "13700000012")
        assert TOO_OFTEN in response.text
        assert TOO_OFTEN in ask_registration_code(client, "13700000013").text
    assert sms_count() == 2
    assert sms_count("13700000012") == 0


def test_a_staff_sign_in_code_counts_against_the_address(client, people, setting):
    setting("SMS_CODE_PER_ADDRESS_HOURLY", 1)
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
        accept_notice(client)
        assert SENT in ask_registration_code(client).text
        response = post_form(client, "/auth/login", "/auth/login",
                             {"phone": people.township.phone, "password": "Test@12345"})
        assert response.location == "/auth/verify"
        assert TOO_OFTEN in client.get("/auth/verify").text
    assert sms_count(people.township.phone) == 0


# -- /track ---------------------------------------------------------------------------------------------------------


def track(client, number=0):
    return post_form(client, "/track", "/track", {"case_number": f"{20260302000000 + number}", "phone": PHONE})


def test_track_answers_429_after_twenty_lookups_from_one_address_in_ten_minutes(client, app):
    with time_machine.travel(datetime(2026, 3, 2, 9, 3, tzinfo=CST), tick=False) as clock:
        for number in range(20):
            response = track(client, number)
            assert response.status_code == 200
            assert "未找到该申请" in response.text
        response = track(client, 20)
        assert response.status_code == 429
        assert "操作过于频繁，请 7 分钟后再试" in response.text
        assert "未找到该申请" not in response.text, "refused before looking"
        assert 'value="20260302000020"' in response.text, "the normal page, as typed"
        assert client.get("/track").status_code == 200, "showing the page is not a lookup"

        elsewhere = from_address(type(client)(app, app.response_class, use_cookies=True), "203.0.113.9")
        assert track(elsewhere, 21).status_code == 200

        clock.shift(timedelta(minutes=7))
        assert track(client, 22).status_code == 200


def test_a_malformed_lookup_is_not_counted(client, setting):
    setting("TRACK_PER_ADDRESS", 1)
    for _ in range(3):
        assert post_form(client, "/track", "/track", {"case_number": "123", "phone": PHONE}).status_code == 200
    assert track(client).status_code == 200
    assert track(client).status_code == 429


# -- registration tells nothing before the code --------------------------------------------------------------------


def test_a_code_request_for_a_registered_phone_reads_the_same_and_sends_a_notice(client, session):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False) as clock:
        accept_notice(client)
        unused = ask_registration_code(client)
        assert SENT in unused.text
        register_directly(session, id_number=OTHER_ID_NUMBER)
        clock.shift(timedelta(minutes=2))  # past the per-phone resend wait
        used = ask_registration_code(client)
        assert (used.status_code, without_token(used.text)) == (unused.status_code, without_token(unused.text))


def test_a_registered_phone_gets_the_notice_not_a_code_and_the_same_limits(client, session):
    register_directly(session)
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False) as clock:
        accept_notice(client)
        assert SENT in ask_registration_code(client, id_number=OTHER_ID_NUMBER).text
        assert notifications.delivered_to(PHONE) == [NOTICE]
        with db.factory() as reader:
            assert reader.scalar(select(SmsMessageModel.template).where(SmsMessageModel.phone_hash == blind(PHONE))) \
                == "phone_already_registered"
        clock.shift(timedelta(seconds=20))
        assert "请 40 秒后再获取验证码" in ask_registration_code(client, id_number=OTHER_ID_NUMBER).text
        assert sms_count(PHONE) == 1
        response = submit_registration(client, "123456", id_number=OTHER_ID_NUMBER)
        assert "验证码不正确或已失效" in response.text, "no code was sent, so none can be proven"
        assert "该手机号码已注册" not in response.text


@pytest.mark.parametrize("taken", [{"id_number": OTHER_ID_NUMBER}, {"phone": OTHER_PHONE}],
                         ids=["phone taken", "id number taken"])
def test_a_wrong_code_reads_the_same_for_a_used_and_an_unused_phone_or_id_number(client, session, fixed_codes,
                                                                                  taken):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False) as clock:
        accept_notice(client)
        ask_registration_code(client)
        assert last_sms_code(PHONE) == fixed_codes
        unused = submit_registration(client, WRONG_CODE)
        assert "验证码不正确或已失效" in unused.text
        register_directly(session, **taken)  # the other of the two is the form's
        clock.shift(timedelta(minutes=2))
        ask_registration_code(client)
        used = submit_registration(client, WRONG_CODE)
    assert (used.status_code, without_token(used.text)) == (unused.status_code, without_token(unused.text))
    assert "已注册" not in used.text
    assert "已注册" not in used.text


def test_after_the_code_a_phone_registered_meanwhile_is_named(client, session):
    accept_notice(client)
    ask_registration_code(client)
    code = last_sms_code(PHONE)
    register_directly(session, id_number=OTHER_ID_NUMBER)
    response = submit_registration(client, code)
    assert response.status_code == 200
    assert accounts.PHONE_TAKEN in response.text, "the code proved the person holds the phone"
