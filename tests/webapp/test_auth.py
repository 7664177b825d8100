"""Signing in and out through the pages: citizens directly, staff with an SMS code; CSRF, lockout, idle timeout."""

from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
import time_machine
from sqlalchemy import func, select

from engine.calendar import CST
from services.crypto import blind
from services.notifications import SmsMessageModel
from tests.fixtures import PASSWORD, csrf_token, last_sms_code, post_form, sign_in

MONDAY_NINE = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
WRONG = "手机号或密码不正确"


def log_in(client, phone, password, next_url=None):
    """Submit the login form; return the response."""
    url = "/auth/login" + (f"?next={quote(next_url, safe='')}" if next_url else "")
    return post_form(client, url, url, {"phone": phone, "password": password})


def me(client):
    return client.get("/auth/me")


def signed_in_as(client, name):
    """Return whether the account page opens and names `name`."""
    response = me(client)
    return response.status_code == 200 and name in response.text


def verification_sms_count(phone):
    from services.db import db

    with db.factory() as reader:
        return reader.scalar(select(func.count()).select_from(SmsMessageModel)
                             .where(SmsMessageModel.phone_hash == blind(phone)))


def test_a_citizen_signs_in_and_reaches_the_home_page(client, people):
    response = log_in(client, people.citizen.phone, PASSWORD)
    assert response.status_code == 302
    assert response.location == "/"
    home = client.get("/")
    assert "张丽" in home.text
    assert "申请人" in home.text, "the header shows the role"
    assert "退出" in home.text
    account = me(client)
    assert account.status_code == 200
    assert "我的账号" in account.text
    assert "138****0001" in account.text, "the phone is masked"
    assert verification_sms_count(people.citizen.phone) == 0, "citizens get no second step"


def test_a_staff_member_is_signed_in_only_after_the_sms_code(client, people):
    response = log_in(client, people.hukou.phone, PASSWORD)
    assert response.status_code == 302
    assert response.location == "/auth/verify"
    assert me(client).status_code == 302, "the right password alone does not sign staff in"
    assert "李多福" not in client.get("/").text

    page = client.get("/auth/verify")
    assert "请输入发送至 139****0001 的短信验证码" in page.text
    code = last_sms_code(people.hukou.phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    response = client.post("/auth/verify", data={"csrf_token": csrf_token(page.text), "code": wrong})
    assert response.status_code == 200
    assert "验证码不正确或已失效" in response.text
    assert me(client).status_code == 302

    response = client.post("/auth/verify", data={"csrf_token": csrf_token(response.text), "code": code})
    assert response.status_code == 302
    assert response.location == "/staff/", "a clerk lands on the inbox"
    assert signed_in_as(client, "李多福")
    assert "村（居）工作人员" in client.get("/").text


def test_the_staff_code_step_runs_out_after_five_minutes(client, people):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        log_in(client, people.township.phone, PASSWORD)
        page = client.get("/auth/verify")
        code = last_sms_code(people.township.phone)
        clock.shift(timedelta(minutes=5, seconds=1))
        response = client.post("/auth/verify", data={"csrf_token": csrf_token(page.text), "code": code})
        assert response.status_code == 302
        assert response.location == "/auth/login"
        assert "验证已超时，请重新输入手机号码和密码" in client.get("/auth/login").text
        assert not signed_in_as(client, "陈街道")


def test_asking_for_another_code_respects_the_wait_and_voids_the_old_one(client, people):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        log_in(client, people.township.phone, PASSWORD)
        first = last_sms_code(people.township.phone)
        clock.shift(timedelta(seconds=20))
        page = client.get("/auth/verify")
        response = client.post("/auth/verify/resend", data={"csrf_token": csrf_token(page.text)})
        assert response.location == "/auth/verify"
        assert "操作过于频繁，请于 40 秒后再试" in client.get("/auth/verify").text
        assert verification_sms_count(people.township.phone) == 1

        clock.shift(timedelta(seconds=41))  # a code exactly a minute old still counts
        page = client.get("/auth/verify")
        client.post("/auth/verify/resend", data={"csrf_token": csrf_token(page.text)})
        page = client.get("/auth/verify")
        assert "验证码已发送至 139****0010" in page.text
        second = last_sms_code(people.township.phone)
        assert verification_sms_count(people.township.phone) == 2
        if first != second:
            response = client.post("/auth/verify", data={"csrf_token": csrf_token(page.text), "code": first})
            assert "验证码不正确或已失效" in response.text
            page = response
        response = client.post("/auth/verify", data={"csrf_token": csrf_token(page.text), "code": second})
        assert response.location == "/staff/"
        assert signed_in_as(client, "陈街道")


def test_the_code_page_without_a_password_step_sends_to_the_login(client, people):  # noqa: ARG001
    response = client.get("/auth/verify")
    assert response.status_code == 302
    assert response.location == "/auth/login"
    assert "请先输入手机号码和密码" in client.get("/auth/login").text


def test_a_post_without_the_csrf_token_is_refused(client, people):
    response = client.post("/auth/login", data={"phone": people.citizen.phone, "password": PASSWORD})
    assert response.status_code == 400
    assert "页面已过期或表单无效" in response.text
    assert not signed_in_as(client, "张丽")

    client.get("/auth/login")  # a session with a token exists; a forged token still fails
    response = client.post("/auth/login", data={"csrf_token": "forged", "phone": people.citizen.phone,
                                                "password": PASSWORD})
    assert response.status_code == 400
    assert not signed_in_as(client, "张丽")


def test_five_bad_passwords_lock_the_account_with_a_message(client, people):
    with time_machine.travel(MONDAY_NINE, tick=False):
        for _ in range(4):
            response = log_in(client, people.citizen.phone, "Wrong@12345")
            assert response.status_code == 200
            assert WRONG in response.text
        response = log_in(client, people.citizen.phone, "Wrong@12345")
        assert "账号已暂时锁定，请于 15 分钟后再试" in response.text
        response = log_in(client, people.citizen.phone, PASSWORD)
        assert "账号已暂时锁定，请于 15 分钟后再试" in response.text
        assert not signed_in_as(client, "张丽")


def test_an_unknown_phone_gets_the_same_message_as_a_wrong_password(client, people):  # noqa: ARG001
    response = log_in(client, "13812345678", PASSWORD)
    assert response.status_code == 200
    assert WRONG in response.text


@pytest.mark.parametrize("next_url", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "javascript:alert(1)",
    "http:/evil.example",
])
def test_next_pointing_to_another_site_is_ignored(client, people, next_url):
    response = log_in(client, people.citizen.phone, PASSWORD, next_url=next_url)
    assert response.status_code == 302
    assert response.location == "/"


def test_next_on_this_site_is_followed_for_citizens_and_staff(client, people):
    assert log_in(client, people.citizen.phone, PASSWORD, next_url="/auth/me?tab=1").location == "/auth/me?tab=1"
    client.post("/auth/logout", data={"csrf_token": csrf_token(client.get("/").text)})
    assert sign_in(client, people.hukou, next_url="/auth/me").location == "/auth/me"


def test_a_protected_page_sends_to_the_login_and_back(client, people):
    response = me(client)
    assert response.status_code == 302
    assert response.location == "/auth/login?next=%2Fauth%2Fme"
    page = client.get(response.location)
    assert "请先登录" in page.text
    assert 'action="/auth/login?next=/auth/me"' in page.text, "the form keeps where to go"
    response = client.post(response.location, data={"csrf_token": csrf_token(page.text),
                                                     "phone": people.citizen.phone, "password": PASSWORD})
    assert response.location == "/auth/me"


def test_a_session_ends_after_thirty_idle_minutes(client, people):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        sign_in(client, people.citizen)
        clock.shift(timedelta(minutes=29))
        assert signed_in_as(client, "张丽")
        clock.shift(timedelta(minutes=29))
        assert signed_in_as(client, "张丽"), "each request restarts the idle time"
        cookie = client.get_cookie("session").value

        clock.shift(timedelta(minutes=31))
        response = me(client)
        assert response.status_code == 302
        assert response.location.startswith("/auth/login")

        # The server itself refuses the old cookie: a copy replayed later does not work either.
        client.set_cookie("session", cookie)
        assert me(client).status_code == 302


def test_logout_signs_out(client, people):
    sign_in(client, people.citizen)
    home = client.get("/")
    response = client.post("/auth/logout", data={"csrf_token": csrf_token(home.text)})
    assert response.status_code == 302
    assert response.location == "/auth/login"
    assert "您已退出登录" in client.get("/auth/login").text
    assert me(client).status_code == 302
    assert "张丽" not in client.get("/").text


def test_logout_is_post_only(client, people):
    sign_in(client, people.citizen)
    response = client.get("/auth/logout")
    assert response.status_code == 405
    assert "不支持此操作方式" in response.text
    assert signed_in_as(client, "张丽")


HOSTILE = [
    ("1" * 10_000, PASSWORD, "请输入以 1 开头的 11 位手机号码"),
    ("138\x00\x01\x1b0000001", PASSWORD, "请输入以 1 开头的 11 位手机号码"),
    ("<script>alert(1)</script>", PASSWORD, "请输入以 1 开头的 11 位手机号码"),
    ("13800000001", "<script>alert(1)</script>", WRONG),
    ("13800000001", "\x00\x07\u202e" + "A1!" * 10, WRONG),
    ("13800000001", "x" * 100_000, "密码不能超过 128 位"),
    ("", "", "请输入手机号码"),
    ("   ", "   ", "请输入密码"),
    ("١٣٨٠٠٠٠٠٠٠١", PASSWORD, "请输入以 1 开头的 11 位手机号码"),  # Arabic-Indic digits are not a phone
]


@pytest.mark.parametrize(("phone", "password", "message"), HOSTILE)
def test_hostile_input_gets_a_chinese_message_and_is_never_reflected_raw(client, people, phone, password, message):
    response = log_in(client, phone, password)
    assert response.status_code == 200
    assert message in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "\x00" not in response.text
    assert not signed_in_as(client, "张丽")
    assert log_in(client, people.citizen.phone, PASSWORD).location == "/", "one hostile try does not lock"


def test_a_phone_typed_with_spaces_or_full_width_digits_is_understood(client, people):
    assert log_in(client, "１３８ ００００ ０００１", PASSWORD).location == "/"
    assert signed_in_as(client, "张丽")


def test_an_oversized_form_gets_a_chinese_page(client, people):
    page = client.get("/auth/login")
    response = client.post("/auth/login", data={"csrf_token": csrf_token(page.text), "phone": people.citizen.phone,
                                                "password": "x" * 21 * 1024 * 1024})
    assert response.status_code == 413
    assert "提交的内容过大" in response.text


def test_an_unknown_page_is_a_chinese_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "您访问的页面不存在" in response.text
    assert '<html lang="zh-CN">' in response.text


def test_pages_refuse_framing_and_sign_in_pages_are_not_cached(client):
    response = client.get("/auth/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie, "a permanent session: the browser drops it too"
