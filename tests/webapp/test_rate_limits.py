"""Every rate limit as a visitor meets it, with the clock frozen; the lock that tells nobody which phones exist.

Limits (services.rate_limits.DEFAULT_LIMITS, overridden per test where a small one reads better): SMS codes per
phone, per client address and for the whole site; sign-in per address and wrong passwords per phone (the lock);
`/track` per address; password recovery per address and per phone or email; the API per token and per address.
Refused pages answer 429 with `Retry-After` and the wait in Chinese. Until the SMS code is proven, the registration
pages read the same byte for byte whether the phone or the ID number is registered. SMS are read as their phone's
owner would (the record provider).
"""

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from engine.calendar import CST
from services import accounts, api_tokens, notifications, rate_limits, sms_codes
from services.crypto import blind
from services.db import db
from services.identity import check_character
from services.notifications import SmsMessageModel
from tests.fixtures import csrf_token, last_sms_code, post_form

MONDAY_NINE_TWENTY = datetime(2026, 3, 2, 9, 20, tzinfo=CST)
PASSWORD = "Xin@2026pw"
PHONE = "13700000001"
OTHER_PHONE = "13700000002"
ID_NUMBER = "11010119900307002" + check_character("11010119900307002")
OTHER_ID_NUMBER = "11010119880512001" + check_character("11010119880512001")
SENT = "验证码已发送至"
TOO_OFTEN = "操作过于频繁，请于 60 分钟后再试"
WRONG_CODE = "654321"
WRONG_PASSWORD = "Wrong@12345"
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
def limits(app):
    """Count with other limits (scope=notation) or another storage for one test, then as the app does."""

    def use(storage="memory://", **overrides):
        rate_limits.configure(storage, {scope.replace("__", ":"): text for scope, text in overrides.items()})

    yield use
    rate_limits.configure(app.config["RATE_LIMIT_STORAGE_URL"], app.config["RATE_LIMITS"])


def another_client(client, address="203.0.113.9"):
    """Return a client of its own (no cookies shared) sending from `address`."""
    return from_address(type(client)(client.application, client.application.response_class, use_cookies=True),
                        address)


def assert_429_page(response, wait: str, seconds: int) -> None:
    """Check the page refused for a limit: status, Retry-After and the wait in Chinese."""
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(seconds)
    assert f"操作过于频繁，请于 {wait}后再试" in response.text


# -- SMS codes per phone, per address and for the whole site ------------------------------------------------------


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

        elsewhere = another_client(client)
        accept_notice(elsewhere)
        assert SENT in ask_registration_code(elsewhere, phones[10]).text, "another address is still served"
    assert sms_count() == 10


def test_the_address_limit_follows_the_setting_and_its_window_moves(client, limits):
    limits(sms_code__address="2/hour")
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False) as clock:
        accept_notice(client)
        assert SENT in ask_registration_code(client, "13700000010").text
        clock.shift(timedelta(minutes=30))
        accept_notice(client)  # the session idled out meanwhile
        assert SENT in ask_registration_code(client, "13700000011").text
        assert "操作过于频繁，请于 30 分钟后再试" in ask_registration_code(client, "13700000012").text
        clock.shift(timedelta(minutes=30, seconds=1))
        accept_notice(client)
        assert SENT in ask_registration_code(client, "13700000012").text


def test_one_phone_gets_one_code_a_minute_and_five_an_hour_whatever_the_purpose(client):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False) as clock:
        accept_notice(client)
        assert SENT in ask_registration_code(client).text
        clock.shift(timedelta(seconds=20))
        assert "操作过于频繁，请于 40 秒后再试" in ask_recovery_code(client, PHONE).text
        for _ in range(4):
            clock.shift(timedelta(minutes=2))
            accept_notice(client)
            assert SENT in ask_registration_code(client).text
        clock.shift(timedelta(minutes=2))
        assert "操作过于频繁，请于 50 分钟后再试" in ask_recovery_code(client, PHONE).text
    assert sms_count(PHONE) == 5


def test_the_site_wide_ceiling_refuses_every_address_and_counts_only_codes_sent(client, limits):
    limits(sms_code__global="2/hour")
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
        accept_notice(client)
        assert SENT in ask_registration_code(client, "13700000010").text
        refused = ask_registration_code(client, "13700000010")
        assert "操作过于频繁，请于 1 分钟后再试" in refused.text, "refused for the phone: spends nothing of the ceiling"

        other = another_client(client)
        accept_notice(other)
        assert SENT in ask_registration_code(other, "13700000011").text
        assert TOO_OFTEN in ask_registration_code(other, "13700000012").text
        third = another_client(client, "198.51.100.4")
        accept_notice(third)
        assert TOO_OFTEN in ask_registration_code(third, "13700000013").text, "a fresh address is refused too"
    assert sms_count() == 2
    assert sms_count("13700000012") == 0


def test_a_staff_sign_in_code_counts_against_the_address(client, people, limits):
    limits(sms_code__address="1/hour")
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
        accept_notice(client)
        assert SENT in ask_registration_code(client).text
        response = post_form(client, "/auth/login", "/auth/login",
                             {"phone": people.township.phone, "password": "Test@12345"})
        assert response.location == "/auth/verify"
        assert TOO_OFTEN in client.get("/auth/verify").text
    assert sms_count(people.township.phone) == 0


def test_with_the_storage_down_no_sms_goes_out_but_pages_still_work(client, people, limits):
    limits(storage="redis://127.0.0.1:1/0")  # nothing listens there
    accept_notice(client)
    response = ask_registration_code(client)
    assert response.status_code == 200
    assert "验证码服务暂时不可用，请稍后再试" in response.text
    assert sms_count() == 0
    assert track(client).status_code == 200, "a lookup is let through"
    assert post_form(client, "/auth/login", "/auth/login",
                     {"phone": people.citizen.phone, "password": "Test@12345"}).location == "/"


# -- sign-in: per address, and the lock per phone ------------------------------------------------------------------


def log_in(client, phone, password=WRONG_PASSWORD):
    return post_form(client, "/auth/login", "/auth/login", {"phone": phone, "password": password})


def test_sign_in_answers_429_after_thirty_attempts_from_one_address_in_ten_minutes(client, people):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False) as clock:
        for number in range(30):
            assert log_in(client, f"1370000{number:04d}").status_code == 200
        response = log_in(client, people.citizen.phone, "Test@12345")
        assert_429_page(response, "10 分钟", 600)
        assert log_in(another_client(client), people.citizen.phone, "Test@12345").location == "/"
        clock.shift(timedelta(minutes=10, seconds=1))
        assert log_in(client, people.citizen.phone, "Test@12345").location == "/"


def test_the_lock_reads_the_same_for_a_registered_and_an_unregistered_phone(client, people):
    def six_tries(phone):
        pages = []
        with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
            for _ in range(6):
                response = log_in(another_client(client), phone)
                pages.append((response.status_code, without_token(response.text).replace(phone, "PHONE")))
        return pages

    registered, unregistered = six_tries(people.citizen.phone), six_tries("13811112222")
    assert registered == unregistered
    assert [status for status, _ in registered] == [200] * 6
    assert "手机号或密码不正确" in registered[3][1]
    assert "密码错误次数过多，账号已暂时锁定，请于 15 分钟后再试" in registered[4][1]
    assert "账号已暂时锁定" in registered[5][1]


def test_a_locked_account_recovers_by_sms_and_the_new_password_signs_in(client, people):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
        for _ in range(5):
            log_in(another_client(client, "198.51.100.66"), people.citizen.phone)
        assert "账号已暂时锁定" in log_in(client, people.citizen.phone, "Test@12345").text
        assert SENT in ask_recovery_code(client, people.citizen.phone).text, "recovery is not blocked by the lock"
        reset = "Reset#2026a"
        response = post_form(client, "/auth/forgot/sms", "/auth/forgot/sms",
                             {"phone": people.citizen.phone, "code": last_sms_code(people.citizen.phone),
                              "password": reset, "confirm": reset})
        assert response.location == "/auth/login"
        assert log_in(client, people.citizen.phone, reset).location == "/", "the recovery lifted the lock"


def test_a_stranger_locks_a_staff_account_only_for_a_while(client, people):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False) as clock:
        for _ in range(5):
            log_in(another_client(client, "198.51.100.66"), people.township.phone)
        assert "账号已暂时锁定" in log_in(client, people.township.phone, "Test@12345").text
        clock.shift(timedelta(minutes=15, seconds=1))
        assert log_in(client, people.township.phone, "Test@12345").location == "/auth/verify"


# -- /track ---------------------------------------------------------------------------------------------------------


def track(client, number=0):
    return post_form(client, "/track", "/track", {"case_number": f"{20260302000000 + number}", "phone": PHONE})


def test_track_answers_429_after_twenty_lookups_from_one_address_in_ten_minutes(client):
    with time_machine.travel(datetime(2026, 3, 2, 9, 3, tzinfo=CST), tick=False) as clock:
        for number in range(20):
            response = track(client, number)
            assert response.status_code == 200
            assert "未找到该申请" in response.text
            clock.shift(timedelta(seconds=6))  # sixty guesses a minute no longer go through
        response = track(client, 20)
        assert_429_page(response, "8 分钟", 480)
        assert "未找到该申请" not in response.text, "refused before looking"
        assert 'value="20260302000020"' in response.text, "the normal page, as typed"
        assert client.get("/track").status_code == 200, "showing the page is not a lookup"

        assert track(another_client(client), 21).status_code == 200

        clock.shift(timedelta(minutes=8, seconds=1))
        assert track(client, 22).status_code == 200


def test_a_malformed_lookup_is_not_counted(client, limits):
    limits(track__address="1/10 minutes")
    for _ in range(3):
        assert post_form(client, "/track", "/track", {"case_number": "123", "phone": PHONE}).status_code == 200
    assert track(client).status_code == 200
    assert track(client).status_code == 429


# -- password recovery ----------------------------------------------------------------------------------------------


def prove_code(client, phone, code=WRONG_CODE):
    return post_form(client, "/auth/forgot/sms", "/auth/forgot/sms",
                     {"phone": phone, "code": code, "password": "Reset#2026a", "confirm": "Reset#2026a"})


def test_recovery_codes_are_tried_five_times_an_hour_per_phone(client, people):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False) as clock:
        for _ in range(5):
            assert prove_code(another_client(client, "198.51.100.7"), people.citizen.phone).status_code == 200
        assert_429_page(prove_code(client, people.citizen.phone), "60 分钟", 3600)
        assert prove_code(client, "13811112222").status_code == 200, "another phone is not affected"
        clock.shift(timedelta(hours=1, seconds=1))
        assert prove_code(client, people.citizen.phone).status_code == 200


def test_recovery_takes_ten_attempts_an_hour_from_one_address(client):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
        for number in range(10):
            assert prove_code(client, f"1370000{number:04d}").status_code == 200
        assert_429_page(prove_code(client, "13700000099"), "60 分钟", 3600)
        response = post_form(client, "/auth/forgot/email", "/auth/forgot/email", {"email": "a@example.com"})
        assert_429_page(response, "60 分钟", 3600)


def test_reset_links_are_asked_for_five_times_an_hour_per_address(client):
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
        for _ in range(5):
            response = post_form(another_client(client, "198.51.100.7"), "/auth/forgot/email", "/auth/forgot/email",
                                 {"email": "Li.Na@example.com"})
            assert response.status_code == 302
        response = post_form(client, "/auth/forgot/email", "/auth/forgot/email", {"email": "li.na@example.com"})
        assert_429_page(response, "60 分钟", 3600)


# -- the JSON API ---------------------------------------------------------------------------------------------------


def test_the_api_answers_429_in_json_per_token_and_per_address(client, session, people, limits):
    limits(api__token="3/minute", api__address="5/minute")
    secret = api_tokens.issue_token(session, people.hukou, "limits")
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    with time_machine.travel(MONDAY_NINE_TWENTY, tick=False):
        for _ in range(3):
            assert client.get("/api/v1/tasks", headers=headers).status_code == 200
        response = client.get("/api/v1/tasks", headers=headers)
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "60"
        assert response.json == {"error": {"code": "too_many_requests", "message": "操作过于频繁，请于 1 分钟后再试"}}
        assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer brt_guess"}).status_code == 401
        assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer brt_guess"}).status_code == 429, \
            "the address has had its five"


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
        assert "操作过于频繁，请于 40 秒后再试" in ask_registration_code(client, id_number=OTHER_ID_NUMBER).text
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
