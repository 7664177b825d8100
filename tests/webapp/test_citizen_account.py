"""Citizen accounts through the pages: registration behind the notice, sign-in and lockout, both ways of recovering
a password, and the profile. Codes and links are read from the recorded SMS and email, as their owner would."""

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from engine.calendar import CST
from engine.models import AuditEventModel
from services import accounts, mail, rate_limits
from services.accounts import UserModel
from services.crypto import blind
from services.db import db
from services.identity import check_character
from services.mail import EmailMessageModel
from services.notifications import SmsMessageModel
from tests.fixtures import PASSWORD, csrf_token, last_sms_code, post_form, sign_in

MONDAY_NINE = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
PHONE = "13700000001"
NEW_PASSWORD = "Xin@2026pw"
WRONG_CODE = "验证码不正确或已失效"


def id_number(first17: str) -> str:
    """Return a valid ID number from its first 17 digits."""
    return first17 + check_character(first17)


ID_NUMBER = id_number("11010119900307002")  # a woman born 1990-03-07
OTHER_ID_NUMBER = id_number("11010119880512001")


def wrong_checksum(number: str) -> str:
    """Return `number` with a check character that does not fit."""
    return number[:17] + ("0" if number[17] != "0" else "1")


def registration(**overrides) -> dict:
    """Return a complete registration form (without the code), with `overrides`."""
    return {"phone": PHONE, "name": "王芳", "id_number": ID_NUMBER, "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD, "email": "wangfang@example.com", **overrides}


def accept_notice(client):
    response = post_form(client, "/auth/register", "/auth/register/notice", {"agree": "y"})
    assert response.status_code == 302
    assert response.location == "/auth/register"


def ask_code(client, page_url, send_url, data):
    """Press 获取验证码 on a form: the whole form goes to the send-code endpoint."""
    return post_form(client, page_url, send_url, data)


def register(client, code=None, **overrides):
    """Fill in and submit the registration form (asking for a code first unless `code` is given)."""
    data = registration(**overrides)
    if code is None:
        response = ask_code(client, "/auth/register", "/auth/register/code", data)
        assert "验证码已发送至" in response.text, response.text
        code = last_sms_code(data["phone"])
    return post_form(client, "/auth/register", "/auth/register", {**data, "code": code})


def account_count() -> int:
    with db.factory() as reader:
        return reader.scalar(select(func.count()).select_from(UserModel))


def stored(phone=PHONE) -> UserModel | None:
    with db.factory() as reader:
        return accounts.find_by_phone(reader, phone)


def emails_to(address: str) -> list[EmailMessageModel]:
    with db.factory() as reader:
        return list(reader.scalars(select(EmailMessageModel).where(EmailMessageModel.to_address == address)
                                   .order_by(EmailMessageModel.id)))


def sms_count(phone: str) -> int:
    with db.factory() as reader:
        return reader.scalar(select(func.count()).select_from(SmsMessageModel)
                             .where(SmsMessageModel.phone_hash == blind(phone)))


def log_in(client, phone, password):
    return post_form(client, "/auth/login", "/auth/login", {"phone": phone, "password": password})


@pytest.fixture
def citizen(session):
    """A registered citizen with an email (one account: hashing is slow)."""
    user = accounts.register_citizen(session, phone=PHONE, name="王芳", id_number=ID_NUMBER, password=NEW_PASSWORD,
                                     email="WangFang@Example.com")
    session.commit()
    return user


# -- registration --------------------------------------------------------------------------------------------------


def test_a_citizen_registers_reading_the_code_from_the_sms_and_lands_signed_in(client):
    notice = client.get("/auth/register")
    assert "注册须知" in notice.text
    for must in ("实名注册", "不可修改", "真实性负责", "身份证", "户口本", "结婚证", "夫妻近期免冠合影", "出生医学证明",
                 "再婚"):
        assert must in notice.text, must
    assert 'name="phone"' not in notice.text, "the form is not shown before the notice is accepted"
    accept_notice(client)
    form = client.get("/auth/register")
    assert "获取验证码" in form.text
    assert 'name="id_number"' in form.text

    response = register(client)
    assert response.status_code == 302
    assert response.location == "/apply", "a new citizen goes on to the application notice"
    home = client.get("/")
    assert "注册成功，您已登录" in home.text
    assert "王芳" in home.text
    me = client.get("/auth/me")
    assert "110101********" + ID_NUMBER[-4:] in me.text
    assert ID_NUMBER not in me.text, "the full ID number is never shown"
    assert "不可修改" in me.text

    account = stored()
    assert account.role == "citizen"
    assert account.id_number == ID_NUMBER
    assert account.email == "wangfang@example.com"
    assert account.password_hash != NEW_PASSWORD
    with db.factory() as reader:
        assert reader.scalar(select(AuditEventModel.kind).where(AuditEventModel.actor == account.actor)) \
            == "account_registered"


def test_registering_without_accepting_the_notice_is_refused(client):
    page = client.get("/auth/register")
    response = client.post("/auth/register/notice", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 200
    assert "请先阅读并勾选同意注册须知" in response.text

    # Posting the form directly, skipping the notice, writes nothing and sends no code.
    data = {"csrf_token": csrf_token(page.text), **registration(), "code": "123456"}
    response = client.post("/auth/register", data=data)
    assert response.status_code == 200
    assert "请先阅读并同意注册须知" in response.text
    response = client.post("/auth/register/code", data=data)
    assert "请先阅读并同意注册须知" in response.text
    assert account_count() == 0
    assert sms_count(PHONE) == 0


def test_a_wrong_id_checksum_gets_the_chinese_message_and_the_fix_goes_through(client):
    accept_notice(client)
    response = ask_code(client, "/auth/register", "/auth/register/code", registration())
    code = last_sms_code(PHONE)
    response = post_form(client, "/auth/register", "/auth/register",
                         {**registration(id_number=wrong_checksum(ID_NUMBER)), "code": code})
    assert response.status_code == 200
    assert "身份证号码校验位不正确，请核对后重新输入" in response.text
    assert 'value="王芳"' in response.text, "what was typed stays"
    assert account_count() == 0
    # The mistake did not use up the code.
    assert register(client, code=code, id_number=ID_NUMBER.lower()).location == "/apply"


@pytest.mark.parametrize(("number", "message"), [
    ("11010119900307", "身份证号码应为18位"),
    (id_number("11010119900230002"), "身份证号码中的出生日期不存在"),
    (id_number("11010121000101002"), "身份证号码中的出生日期不合理"),
])
def test_id_numbers_of_the_wrong_length_or_date_are_explained(client, number, message):
    accept_notice(client)
    response = post_form(client, "/auth/register", "/auth/register",
                         {**registration(id_number=number), "code": "123456"})
    assert message in response.text
    assert account_count() == 0


def test_a_registered_phone_is_not_named_when_a_code_is_asked_for(client, citizen):
    accept_notice(client)
    response = ask_code(client, "/auth/register", "/auth/register/code", registration())
    assert "该手机号码已注册" not in response.text
    assert "验证码已发送至 137****0001" in response.text, "the same answer as for a new phone"
    assert sms_count(citizen.phone) == 1, "the phone's owner gets a notice, not a code"


def test_a_registered_id_number_is_not_named_and_is_kept_as_a_claim(client, citizen):
    accept_notice(client)
    other = "13700000002"
    response = register(client, phone=other)
    assert response.location == "/apply"
    assert "已注册账号" not in client.get("/").text
    assert account_count() == 2
    assert not stored(other).holds_id_number, "the number stays with the first account until a hall confirms"
    assert stored(citizen.phone).holds_id_number


def test_a_wrong_or_expired_code_is_refused(client):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        accept_notice(client)
        ask_code(client, "/auth/register", "/auth/register/code", registration())
        code = last_sms_code(PHONE)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        response = register(client, code=wrong)
        assert WRONG_CODE in response.text
        clock.shift(timedelta(minutes=5, seconds=1))
        response = register(client, code=code)
        assert WRONG_CODE in response.text
    assert account_count() == 0


def test_codes_are_capped_resend_after_sixty_seconds_and_five_an_hour(client):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        accept_notice(client)
        ask_code(client, "/auth/register", "/auth/register/code", registration())
        clock.shift(timedelta(seconds=20))
        response = ask_code(client, "/auth/register", "/auth/register/code", registration())
        assert "操作过于频繁，请于 40 秒后再试" in response.text
        assert 'value="13700000001"' in response.text, "the form comes back as typed"
        for _ in range(4):
            clock.shift(timedelta(minutes=2))
            assert "验证码已发送至 137****0001" in ask_code(client, "/auth/register", "/auth/register/code",
                                                         registration()).text
        clock.shift(timedelta(minutes=2))
        response = ask_code(client, "/auth/register", "/auth/register/code", registration())
        assert response.status_code == 200
        assert "操作过于频繁，请于 50 分钟后再试" in response.text
    assert sms_count(PHONE) == 5


def test_the_code_caps_follow_the_settings(app, client):
    rate_limits.configure("memory://", {"sms_code:phone": "1/10 seconds"})
    try:
        with time_machine.travel(MONDAY_NINE, tick=False) as clock:
            accept_notice(client)
            ask_code(client, "/auth/register", "/auth/register/code", registration())
            clock.shift(timedelta(seconds=5))
            response = ask_code(client, "/auth/register", "/auth/register/code", registration())
            assert "操作过于频繁，请于 5 秒后再试" in response.text
            assert "每个手机号码每 10 秒最多 1 次" in response.text
    finally:
        rate_limits.configure(app.config["RATE_LIMIT_STORAGE_URL"], app.config["RATE_LIMITS"])


# -- sign-in ---------------------------------------------------------------------------------------------------------


def test_the_login_page_links_to_registration_and_recovery(client):
    page = client.get("/auth/login")
    assert 'href="/auth/register"' in page.text
    assert 'href="/auth/forgot"' in page.text


def test_a_citizen_is_locked_after_five_failures_and_an_sms_reset_lifts_it(client, app, citizen):
    other_device = type(client)(app, app.response_class, use_cookies=True)
    assert log_in(other_device, PHONE, NEW_PASSWORD).location == "/"
    assert sms_count(PHONE) == 0, "citizens get no second step"
    with time_machine.travel(MONDAY_NINE, tick=False):
        for _ in range(4):
            assert "手机号或密码不正确" in log_in(client, PHONE, "Wrong@12345").text
        assert "账号已暂时锁定，请于 15 分钟后再试" in log_in(client, PHONE, "Wrong@12345").text
        assert "账号已暂时锁定" in log_in(client, PHONE, NEW_PASSWORD).text

        reset = "Reset#2026a"
        response = ask_code(client, "/auth/forgot/sms", "/auth/forgot/sms/code", {"phone": PHONE})
        assert "验证码已发送至 137****0001" in response.text
        response = post_form(client, "/auth/forgot/sms", "/auth/forgot/sms",
                             {"phone": PHONE, "code": last_sms_code(PHONE), "password": reset, "confirm": reset})
        assert response.location == "/auth/login"
        assert "密码已重置，请使用新密码登录" in client.get("/auth/login").text
        assert log_in(client, PHONE, reset).location == "/"
    assert other_device.get("/auth/me").status_code == 302, "the reset ended the other sessions"


# -- recovery --------------------------------------------------------------------------------------------------------


def test_recovery_by_sms_answers_an_unknown_phone_the_same_and_sends_nothing(client):
    unknown = "13700009999"
    response = ask_code(client, "/auth/forgot/sms", "/auth/forgot/sms/code", {"phone": unknown})
    assert "验证码已发送至 137****9999" in response.text
    assert sms_count(unknown) == 0
    response = ask_code(client, "/auth/forgot/sms", "/auth/forgot/sms/code", {"phone": unknown})
    assert "操作过于频繁，请于 1 分钟后再试" in response.text, "the same limits as for a registered phone"
    response = post_form(client, "/auth/forgot/sms", "/auth/forgot/sms",
                         {"phone": unknown, "code": "123456", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 200
    assert WRONG_CODE in response.text


def reset_link(address: str) -> str:
    """Return the newest recovery link as the mailbox received it (the recorded copy has the link masked)."""
    body = [body for to, _subject, body in mail.DELIVERED if to == address][-1]
    assert mail.SECRET_PLACEHOLDER in emails_to(address)[-1].body, "the recorded email keeps no live link"
    return re.search(r"http://localhost(/auth/reset/\S+)", body).group(1)


def ask_link(client, address):
    response = post_form(client, "/auth/forgot/email", "/auth/forgot/email", {"email": address})
    assert response.status_code == 302
    return client.get(response.location)


def test_recovery_by_email_link_works_once(client, citizen):
    page = ask_link(client, "wangfang@EXAMPLE.com")
    assert "如果该邮箱已绑定账号，我们已向其发送重置密码的链接" in page.text
    [message] = emails_to("wangfang@example.com")
    assert message.provider == "record"
    assert "王芳" in message.body
    assert "尾号 0001" in message.body
    link = reset_link("wangfang@example.com")

    page = client.get(link)
    assert "设置新密码" in page.text
    response = post_form(client, link, link, {"password": "weak", "confirm": "weak"})
    assert response.status_code == 200
    assert "密码至少 8 位" in response.text
    response = post_form(client, link, link, {"password": "Email#2026x", "confirm": "Email#2026x"})
    assert response.location == "/auth/login"
    assert log_in(client, citizen.phone, "Email#2026x").location == "/"
    client.post("/auth/logout", data={"csrf_token": csrf_token(client.get("/").text)})

    used = client.get(link)
    assert "重置密码链接无效、已过期或已使用，请重新申请" in used.text
    assert 'name="password"' not in used.text
    token = csrf_token(client.get("/auth/login").text)
    response = client.post(link, data={"csrf_token": token, "password": "Again#2026x",
                                       "confirm": "Again#2026x"})
    assert "重置密码链接无效" in response.text
    assert log_in(client, citizen.phone, "Again#2026x").status_code == 200


def test_an_email_link_expires_after_thirty_minutes_and_when_the_password_changes(client, citizen):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        ask_link(client, citizen.email)
        link = reset_link(citizen.email)
        clock.shift(timedelta(minutes=29))
        assert 'name="password"' in client.get(link).text
        clock.shift(timedelta(minutes=1, seconds=1))
        assert "重置密码链接无效" in client.get(link).text

        clock.shift(timedelta(minutes=1))
        ask_link(client, citizen.email)
        link = reset_link(citizen.email)
        assert 'name="password"' in client.get(link).text
        log_in(client, citizen.phone, NEW_PASSWORD)
        page = client.get("/auth/me")
        client.post("/auth/me/password", data={"csrf_token": csrf_token(page.text), "current_password": NEW_PASSWORD,
                                               "new_password": "Change#2026", "new_password_confirm": "Change#2026"})
        client.post("/auth/logout", data={"csrf_token": csrf_token(client.get("/").text)})
        assert "重置密码链接无效" in client.get(link).text, "a password change voids earlier links"


def test_an_unknown_email_gets_the_same_answer_and_nothing_is_sent(client, citizen):  # noqa: ARG001
    page = ask_link(client, "nobody@example.com")
    assert "如果该邮箱已绑定账号，我们已向其发送重置密码的链接" in page.text
    assert emails_to("nobody@example.com") == []


def test_recovery_emails_to_one_address_are_capped(client, citizen):
    for _ in range(5):
        ask_link(client, citizen.email)
    assert len(emails_to(citizen.email)) == 3


@pytest.mark.parametrize("token", ["x", "a" * 5000, "eyJ1IjoxfQ.forged.sig", "<script>alert(1)"])
def test_a_forged_link_is_refused(client, token):
    page = client.get(f"/auth/reset/{token}")
    assert page.status_code == 200
    assert "重置密码链接无效" in page.text
    assert "<script>" not in page.text


# -- profile ---------------------------------------------------------------------------------------------------------


def test_the_profile_changes_email_and_password_but_not_identity(client, app, citizen):
    log_in(client, PHONE, NEW_PASSWORD)
    other_device = type(client)(app, app.response_class, use_cookies=True)
    log_in(other_device, PHONE, NEW_PASSWORD)
    page = client.get("/auth/me")
    assert "wangfang@example.com" in page.text
    assert 'name="name"' not in page.text, "identity is not editable"
    assert 'name="id_number"' not in page.text

    response = post_form(client, "/auth/me", "/auth/me/email", {"email": "bad@", "current_password": NEW_PASSWORD})
    assert "邮箱地址格式不正确" in response.text
    response = post_form(client, "/auth/me", "/auth/me/email",
                         {"email": "fang.new@example.cn", "current_password": NEW_PASSWORD})
    assert response.location == "/auth/me"
    # The new address takes effect once confirmed through the link sent to it (tests/webapp/test_account_changes.py).
    (_to, _subject, body), = [m for m in mail.DELIVERED if m[0] == "fang.new@example.cn"]
    link = re.search(r"/auth/email/confirm/\S+", body).group(0)
    client.post(link, data={"csrf_token": csrf_token(client.get(link).text)})
    assert "fang.new@example.cn" in client.get("/auth/me").text

    response = post_form(client, "/auth/me", "/auth/me/password",
                         {"current_password": "Wrong@12345", "new_password": "Next#2026a",
                          "new_password_confirm": "Next#2026a"})
    assert "当前密码不正确" in response.text
    response = post_form(client, "/auth/me", "/auth/me/password",
                         {"current_password": NEW_PASSWORD, "new_password": "Next#2026a",
                          "new_password_confirm": "Next#2026b"})
    assert "两次输入的密码不一致" in response.text
    response = post_form(client, "/auth/me", "/auth/me/password",
                         {"current_password": NEW_PASSWORD, "new_password": "Next#2026a",
                          "new_password_confirm": "Next#2026a"})
    assert response.location == "/auth/me"
    assert "密码已修改" in client.get("/auth/me").text, "this session stays"
    assert other_device.get("/auth/me").status_code == 302, "other sessions end"
    assert accounts.check_password(stored(), "Next#2026a")


def test_the_profile_moves_the_account_to_a_new_phone_with_a_code_sent_there(client, citizen, people):
    log_in(client, PHONE, NEW_PASSWORD)
    taken = ask_code(client, "/auth/me", "/auth/me/phone/code", {"new_phone": people.citizen.phone})
    assert "该手机号码已被其他账号使用" in taken.text
    new_phone = "13700000077"
    response = ask_code(client, "/auth/me", "/auth/me/phone/code", {"new_phone": new_phone})
    assert "验证码已发送至 137****0077" in response.text
    response = post_form(client, "/auth/me", "/auth/me/phone", {"new_phone": new_phone, "phone_code": "000000"
                                                                if last_sms_code(new_phone) != "000000" else "111111",
                                                                "current_password": NEW_PASSWORD})
    assert WRONG_CODE in response.text
    response = post_form(client, "/auth/me", "/auth/me/phone",
                         {"new_phone": new_phone, "phone_code": last_sms_code(new_phone),
                          "current_password": NEW_PASSWORD})
    assert response.location == "/auth/me"
    assert "137****0077" in client.get("/auth/me").text
    assert stored(new_phone).id == citizen.id
    assert stored(PHONE) is None


def test_staff_may_not_change_their_phone_here(client, people):
    from tests.fixtures import sign_in

    sign_in(client, people.hukou)
    page = client.get("/auth/me")
    assert "更换手机号码" not in page.text
    response = client.post("/auth/me/phone/code", data={"csrf_token": csrf_token(page.text),
                                                         "new_phone": "13700000088"})
    assert response.status_code == 403


def test_wrong_current_passwords_count_towards_the_lockout(client, people):
    sign_in(client, people.citizen)
    wrong = {"current_password": "Wrong@12345", "new_password": "Next#2026a", "new_password_confirm": "Next#2026a"}
    for _ in range(4):
        assert "当前密码不正确" in post_form(client, "/auth/me", "/auth/me/password", wrong).text
    locked = post_form(client, "/auth/me", "/auth/me/password", wrong)
    assert "账号已暂时锁定" in locked.text, "a stolen session gets no more guesses than the sign-in form"
    post_form(client, "/auth/me", "/auth/logout", {})
    refused = post_form(client, "/auth/login", "/auth/login", {"phone": people.citizen.phone, "password": PASSWORD})
    assert "账号已暂时锁定" in refused.text
