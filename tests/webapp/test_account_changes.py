"""Sensitive account changes: who holds a borrowed session cannot take the account over.

The attack: with someone's signed-in browser for a moment, move the account's email (or phone) to one's own, then
recover the password through it. Every change now needs the current password; a new email or phone takes effect only
once confirmed there, and the old one is told. Staff who lost their password get a temporary one from the system
administrator, which must be changed at the next sign-in; a locked staff account can be unlocked by the administrator.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine.models import AuditEventModel
from processes.roles import SYSTEM_ADMIN
from services import accounts, mail, notifications
from services.db import db
from services.mail import EmailMessageModel
from tests.fixtures import PASSWORD, csrf_token, last_sms_code, post_form, sign_in

OLD_EMAIL = "zhangli@example.com"
NEW_EMAIL = "attacker@example.net"
NEW_PHONE = "13700000077"
LINK = re.compile(r"https?://\S+/auth/email/confirm/\S+")


def stored(user) -> accounts.UserModel:
    with db.factory() as reader:
        return reader.get(accounts.UserModel, user.id)


def mailbox(address: str) -> list[tuple[str, str]]:
    """Return (subject, body) of what the address received, oldest first."""
    return [(subject, body) for to, subject, body in mail.DELIVERED if to == address]


def confirmation_link(address: str) -> str:
    (_subject, body), = [m for m in mailbox(address) if "确认" in m[0]]
    return LINK.search(body).group(0).removeprefix("http://localhost")


def audit_kinds(user) -> list[tuple[str, str]]:
    with db.factory() as reader:
        rows = reader.scalars(select(AuditEventModel).order_by(AuditEventModel.id))
        return [(row.kind, row.actor) for row in rows if (row.detail or {}).get("user_id") == user.id]


@pytest.fixture
def citizen(session, people):
    people.citizen.email = OLD_EMAIL
    session.commit()
    return people.citizen


@pytest.fixture
def admin(session):
    user = accounts.create_user(session, phone="13700000001", name="管理员", role=SYSTEM_ADMIN, password=PASSWORD,
                                division_code="11")
    session.commit()
    return user


# -- email -------------------------------------------------------------------------------------------------------------


def test_a_borrowed_session_cannot_change_the_email_without_the_password(client, citizen):
    sign_in(client, citizen)
    missing = post_form(client, "/auth/me", "/auth/me/email", {"email": NEW_EMAIL})
    assert missing.status_code == 200
    assert "请输入当前密码" in missing.text
    wrong = post_form(client, "/auth/me", "/auth/me/email", {"email": NEW_EMAIL, "current_password": "Guess@12345"})
    assert "当前密码不正确" in wrong.text
    assert stored(citizen).email == OLD_EMAIL
    assert mailbox(NEW_EMAIL) == []


def test_a_new_email_takes_effect_only_through_the_link_sent_to_it(client, citizen):
    sign_in(client, citizen)
    response = post_form(client, "/auth/me", "/auth/me/email", {"email": NEW_EMAIL, "current_password": PASSWORD})
    assert response.location == "/auth/me"
    page = client.get("/auth/me").text
    assert f"确认链接已发送至 {NEW_EMAIL}" in page
    assert stored(citizen).email == OLD_EMAIL, "nothing changes before the new address confirms"
    with db.factory() as reader:
        kept = reader.scalars(select(EmailMessageModel.body).where(EmailMessageModel.to_address == NEW_EMAIL)).all()
    assert len(kept) == 1
    assert "/auth/email/confirm/" not in kept[0], "the live link is not kept in the database"

    link = confirmation_link(NEW_EMAIL)
    shown = client.get(link)
    assert shown.status_code == 200
    assert NEW_EMAIL in shown.text
    assert stored(citizen).email == OLD_EMAIL, "opening the link (a mail scanner does) changes nothing"
    confirmed = client.post(link, data={"csrf_token": csrf_token(shown.text)})
    assert confirmed.status_code == 302
    assert stored(citizen).email == NEW_EMAIL
    assert f"电子邮箱已更换为 {NEW_EMAIL}" in client.get("/auth/me").text

    again = client.get(link)
    assert "确认链接无效、已过期或已使用" in again.text, "a link works once"
    assert ("email_changed", citizen.actor) in audit_kinds(citizen)


def test_the_old_address_is_told_of_the_change(client, citizen):
    sign_in(client, citizen)
    post_form(client, "/auth/me", "/auth/me/email", {"email": NEW_EMAIL, "current_password": PASSWORD})
    assert mailbox(OLD_EMAIL) == [], "the old address hears of a change only when it happens"
    link = confirmation_link(NEW_EMAIL)
    client.post(link, data={"csrf_token": csrf_token(client.get(link).text)})
    ((subject, body),) = mailbox(OLD_EMAIL)
    assert "电子邮箱已更改" in subject
    assert "a***@example.net" in body
    assert NEW_EMAIL not in body
    assert "如果这不是您本人的操作" in body


def test_removing_the_email_needs_the_password_and_tells_the_old_address(client, citizen):
    sign_in(client, citizen)
    refused = post_form(client, "/auth/me", "/auth/me/email", {"email": ""})
    assert "请输入当前密码" in refused.text
    assert stored(citizen).email == OLD_EMAIL
    post_form(client, "/auth/me", "/auth/me/email", {"email": "", "current_password": PASSWORD})
    assert stored(citizen).email is None
    ((_subject, body),) = mailbox(OLD_EMAIL)
    assert "已删除" in body


def test_a_forged_confirmation_link_is_refused(client, citizen):
    response = client.get("/auth/email/confirm/eyJ1IjoxLCJlIjoiYUBiLmNuIn0.forged.signature")
    assert "确认链接无效" in response.text
    assert stored(citizen).email == OLD_EMAIL


def test_wrong_current_passwords_on_the_email_form_count_towards_the_lock(client, citizen):
    sign_in(client, citizen)
    data = {"email": NEW_EMAIL, "current_password": "Guess@12345"}
    answers = [post_form(client, "/auth/me", "/auth/me/email", data).text for _ in range(6)]
    assert "锁定" in answers[-1], "a borrowed session gets no more guesses than the sign-in form"


# -- phone -------------------------------------------------------------------------------------------------------------


def test_a_new_phone_needs_the_password_and_the_code_sent_to_it_and_the_old_number_is_told(client, citizen):
    old_phone = citizen.phone
    sign_in(client, citizen)
    sent = post_form(client, "/auth/me", "/auth/me/phone/code", {"new_phone": NEW_PHONE})
    assert "验证码已发送至 137****0077" in sent.text
    code = last_sms_code(NEW_PHONE)

    without = post_form(client, "/auth/me", "/auth/me/phone", {"new_phone": NEW_PHONE, "phone_code": code})
    assert "请输入当前密码" in without.text
    wrong = post_form(client, "/auth/me", "/auth/me/phone",
                      {"new_phone": NEW_PHONE, "phone_code": code, "current_password": "Guess@12345"})
    assert "当前密码不正确" in wrong.text
    assert stored(citizen).phone == old_phone

    moved = post_form(client, "/auth/me", "/auth/me/phone",
                      {"new_phone": NEW_PHONE, "phone_code": code, "current_password": PASSWORD})
    assert moved.location == "/auth/me"
    assert stored(citizen).phone == NEW_PHONE
    notices = [text for text in notifications.delivered_to(old_phone) if "尾号0077" in text]
    assert len(notices) == 1, "the number the account left is told"
    assert "如非本人操作" in notices[0]


# -- staff: administrator's reset and unlock ---------------------------------------------------------------------------


def temporary_password_on(page: str) -> str:
    match = re.search(r"临时密码</dt><dd><strong>([^<]+)</strong>", page)
    assert match, "the page shows the temporary password"
    return match.group(1)


def test_an_administrator_resets_a_staff_password_which_must_be_changed_at_next_sign_in(app, client, people, admin):
    staff = type(client)(app, app.response_class, use_cookies=True)
    sign_in(staff, people.hukou)
    sign_in(client, admin)

    page = post_form(client, "/admin/staff", f"/admin/staff/{people.hukou.id}/reset-password", {"confirm": "1"})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    temporary = temporary_password_on(page.text)
    assert not accounts.check_password(stored(people.hukou), PASSWORD)
    assert staff.get("/staff/").location.startswith("/auth/login"), "the staff member's sessions ended"
    assert ("password_changed", admin.actor) in audit_kinds(people.hukou)

    fresh = type(client)(app, app.response_class, use_cookies=True)
    # A minute on, when the phone may get another sign-in code (the rest happens then too: a cookie signed later
    # than the clock reads is refused).
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61)):
        sign_in(fresh, stored(people.hukou), password=temporary)
        for path in ("/staff/", "/", "/api/v1/openapi.json"):
            response = fresh.get(path)
            if path.startswith("/api"):
                assert response.status_code == 200
                continue
            assert response.status_code == 302, path
            assert response.location == "/auth/me#password"
        assert "管理员已重置您的密码，请先设置新密码" in fresh.get("/auth/me").text

        changed = post_form(fresh, "/auth/me", "/auth/me/password", {
            "current_password": temporary, "new_password": "Next#2026a", "new_password_confirm": "Next#2026a"})
        assert changed.location == "/auth/me"
        assert fresh.get("/staff/").status_code == 200
        assert not stored(people.hukou).password_change_required


def test_an_administrator_cannot_reset_their_own_password_there(client, admin):
    sign_in(client, admin)
    response = post_form(client, "/admin/staff", f"/admin/staff/{admin.id}/reset-password", {"confirm": "1"})
    assert response.status_code == 302
    assert accounts.check_password(stored(admin), PASSWORD)


def test_an_administrator_unlocks_a_locked_staff_account(app, client, people, admin):
    guesser = type(client)(app, app.response_class, use_cookies=True)
    for _ in range(5):
        answer = post_form(guesser, "/auth/login", "/auth/login",
                           {"phone": people.township.phone, "password": "Guess@12345"})
    assert "锁定" in answer.text
    refused = post_form(guesser, "/auth/login", "/auth/login", {"phone": people.township.phone, "password": PASSWORD})
    assert "锁定" in refused.text

    sign_in(client, admin)
    listing = client.get("/admin/staff?search=陈街道").text
    assert "已锁定" in listing
    assert "解锁" in listing
    response = post_form(client, "/admin/staff", f"/admin/staff/{people.township.id}/unlock", {})
    assert response.status_code == 302
    assert "已解锁账号：陈街道" in client.get("/admin/staff").text
    assert ("account_unlocked", admin.actor) in audit_kinds(people.township)

    owner = type(client)(app, app.response_class, use_cookies=True)
    sign_in(owner, people.township)
    assert owner.get("/staff/").status_code == 200


def test_only_the_system_administrator_resets_or_unlocks(client, people):
    sign_in(client, people.county)
    for action in ("reset-password", "unlock"):
        response = post_form(client, "/staff/", f"/admin/staff/{people.hukou.id}/{action}", {})
        assert response.status_code == 403
    assert accounts.check_password(stored(people.hukou), PASSWORD)
