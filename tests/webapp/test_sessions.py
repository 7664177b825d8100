"""Signed-in sessions kept on the server: a copied cookie is worth nothing once its session has ended.

The attacker of these tests holds a copy of someone's session cookie (a shared hall computer, a stolen backup of a
browser profile) and replays it after the owner signed out, changed the password, was deactivated, signed out
everywhere, or simply stopped using the site.
"""

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine.calendar import CST
from processes.roles import SYSTEM_ADMIN
from services import accounts, api_tokens
from services.db import db
from services.sessions import SignInSessionModel
from tests.fixtures import PASSWORD, _ServerLikeClient, csrf_token, post_form, sign_in

MONDAY_NINE = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
NEW_PASSWORD = "Next#2026a"
PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 MicroMessenger/8.0.47")
DESKTOP_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
              "Safari/537.36 Edg/120.0")


def browser(app, user_agent=None, address="127.0.0.1"):
    """Return a fresh browser (a client with its own cookies) that sends this User-Agent from this address."""
    client = _ServerLikeClient(app, app.response_class, use_cookies=True)
    if user_agent:
        client.environ_base["HTTP_USER_AGENT"] = user_agent
    client.environ_base["REMOTE_ADDR"] = address
    return client


def copy_of_cookie(client, app):
    """Return a second browser holding a copy of `client`'s session cookie."""
    thief = browser(app)
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def signed_in(client) -> bool:
    """Return whether the account page opens (rather than sending to the sign-in page)."""
    return client.get("/auth/me").status_code == 200


def sessions_of(user) -> list[SignInSessionModel]:
    with db.factory() as reader:
        return list(reader.scalars(select(SignInSessionModel).where(SignInSessionModel.user_id == user.id)
                                   .order_by(SignInSessionModel.id)))


@pytest.fixture
def admin(session, people):
    user = accounts.create_user(session, phone="13700000001", name="管理员", role=SYSTEM_ADMIN, password=PASSWORD,
                                division_code="11")
    session.commit()
    return user


# -- replaying a copied cookie ---------------------------------------------------------------------------------------


def test_a_cookie_copied_before_sign_out_is_refused_after(app, client, people):
    sign_in(client, people.citizen)
    thief = copy_of_cookie(client, app)
    assert signed_in(thief), "the copy works while the session lives (it is the same session)"

    post_form(client, "/auth/me", "/auth/logout", {})
    response = thief.get("/auth/me")
    assert response.status_code == 302
    assert response.location.startswith("/auth/login")
    assert "张丽" not in thief.get("/").text
    (record,) = sessions_of(people.citizen)
    assert record.end_reason == "logout"


def test_a_cookie_copied_before_a_password_change_is_refused_after(app, client, people):
    sign_in(client, people.citizen)
    other_device = browser(app)
    sign_in(other_device, people.citizen)
    thief = copy_of_cookie(other_device, app)

    response = post_form(client, "/auth/me", "/auth/me/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert response.location == "/auth/me"
    assert signed_in(client), "the session the password was changed from stays"
    assert not signed_in(other_device)
    assert not signed_in(thief)


def test_deactivation_ends_every_session_and_reactivation_brings_none_back(app, client, people, admin):
    staff = browser(app)
    sign_in(staff, people.hukou)
    thief = copy_of_cookie(staff, app)
    sign_in(client, admin)

    post_form(client, "/admin/staff", f"/admin/staff/{people.hukou.id}/deactivate", {"confirm": "1"})
    assert not signed_in(thief)
    post_form(client, "/admin/staff", f"/admin/staff/{people.hukou.id}/activate", {"confirm": "1"})
    assert not signed_in(thief), "reactivating the account does not revive a session from before"
    assert not signed_in(staff)
    assert {record.end_reason for record in sessions_of(people.hukou)} == {"deactivated"}


def test_an_api_token_of_a_deactivated_account_stays_dead_after_reactivation(app, client, session, people, admin):
    secret = api_tokens.issue_token(session, people.hukou, "巡查手机")
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    sign_in(client, admin)

    post_form(client, "/admin/staff", f"/admin/staff/{people.hukou.id}/deactivate", {"confirm": "1"})
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401
    post_form(client, "/admin/staff", f"/admin/staff/{people.hukou.id}/activate", {"confirm": "1"})
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401, "reactivation does not revive it"

    fresh = api_tokens.issue_token(session, session.get(accounts.UserModel, people.hukou.id), "新手机")
    session.commit()
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_a_made_up_or_missing_session_key_signs_nobody_in(app, client, people):
    sign_in(client, people.citizen)
    # A cookie that names the account but carries no live session key: re-signed by someone who knows the secret
    # key (a leaked backup), or written before sessions were kept on the server.
    with app.test_request_context():
        serializer = app.session_interface.get_signing_serializer(app)
        forged = serializer.dumps({"_user_id": str(people.citizen.id), "_fresh": True, "sign_in_key": "x" * 43})
        bare = serializer.dumps({"_user_id": str(people.citizen.id), "_fresh": True})
    for value in (forged, bare):
        other = browser(app)
        other.set_cookie("session", value)
        assert not signed_in(other)
    assert signed_in(client)


def test_the_table_keeps_only_a_hash_of_the_key(app, client, people):
    sign_in(client, people.citizen)
    with app.test_request_context():
        serializer = app.session_interface.get_signing_serializer(app)
        key = serializer.loads(client.get_cookie("session").value)["sign_in_key"]
    (record,) = sessions_of(people.citizen)
    assert key not in (record.key_hash, record.device, record.address)
    assert len(record.key_hash) == 64


# -- lifetimes ---------------------------------------------------------------------------------------------------------


def test_a_citizen_session_ends_after_thirty_idle_minutes_even_for_a_copy(app, client, people):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        sign_in(client, people.citizen)
        clock.shift(timedelta(minutes=29))
        assert signed_in(client)
        thief = copy_of_cookie(client, app)
        clock.shift(timedelta(minutes=31))
        assert not signed_in(thief)
        assert not signed_in(client)


def test_a_staff_session_ends_after_fifteen_idle_minutes(client, people):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        sign_in(client, people.hukou)
        clock.shift(timedelta(minutes=14))
        assert client.get("/staff/").status_code == 200
        clock.shift(timedelta(minutes=16))
        response = client.get("/staff/")
        assert response.status_code == 302
        assert response.location.startswith("/auth/login")


@pytest.mark.parametrize(("who", "hours"), [("citizen", 12), ("hukou", 8)])
def test_a_session_in_constant_use_still_ends_at_its_absolute_lifetime(client, people, who, hours):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        sign_in(client, getattr(people, who))
        for _ in range(hours * 6 - 1):  # a request every 10 minutes, never idle
            clock.shift(timedelta(minutes=10))
            assert signed_in(client)
        clock.shift(timedelta(minutes=10))
        assert not signed_in(client), f"{hours} hours after the sign-in the session is over"
    assert sessions_of(getattr(people, who))[0].end_reason == "expired"


def test_the_lifetimes_follow_the_settings(app, client, people):
    app.config.update(SESSION_IDLE_MINUTES=5, SESSION_ABSOLUTE_HOURS=1)
    try:
        with time_machine.travel(MONDAY_NINE, tick=False) as clock:
            sign_in(client, people.citizen)
            clock.shift(timedelta(minutes=6))
            assert not signed_in(client)
            sign_in(client, people.citizen)
            for _ in range(14):
                clock.shift(timedelta(minutes=4))
                assert signed_in(client)
            clock.shift(timedelta(minutes=4))
            assert not signed_in(client)
    finally:
        app.config.update(SESSION_IDLE_MINUTES=30, SESSION_ABSOLUTE_HOURS=12)


def test_last_seen_is_written_at_most_once_a_minute(client, people):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        sign_in(client, people.citizen)
        clock.shift(timedelta(seconds=30))
        for _ in range(3):
            assert signed_in(client)
        assert sessions_of(people.citizen)[0].last_seen_at == MONDAY_NINE, "no write within the minute"
        clock.shift(timedelta(seconds=40))
        assert signed_in(client)
        assert sessions_of(people.citizen)[0].last_seen_at == MONDAY_NINE + timedelta(seconds=70)


# -- the owner's list --------------------------------------------------------------------------------------------------


def test_the_profile_lists_the_signed_in_devices(app, people):
    phone = browser(app, PHONE_UA, "10.1.2.3")
    desktop = browser(app, DESKTOP_UA, "10.9.8.7")
    sign_in(phone, people.citizen)
    sign_in(desktop, people.citizen)
    page = desktop.get("/auth/me").text
    assert "登录设备" in page
    assert "微信 · iOS" in page
    assert "10.1.2.3" in page
    assert "Edge · Windows" in page
    assert "10.9.8.7" in page
    assert page.count("本设备") == 1
    post_form(phone, "/auth/me", "/auth/logout", {})
    assert "微信 · iOS" not in desktop.get("/auth/me").text, "an ended session is no longer listed"


def test_the_owner_ends_another_device_and_only_that_one(app, people):
    phone = browser(app, PHONE_UA)
    desktop = browser(app, DESKTOP_UA)
    sign_in(phone, people.citizen)
    sign_in(desktop, people.citizen)
    phone_session = sessions_of(people.citizen)[0]
    response = post_form(desktop, "/auth/me", f"/auth/me/sessions/{phone_session.id}/end", {})
    assert response.location == "/auth/me#sessions"
    assert not signed_in(phone)
    assert signed_in(desktop)


def test_nobody_ends_a_session_of_another_account(app, client, people):
    victim = browser(app)
    sign_in(victim, people.hukou)
    (victim_session,) = sessions_of(people.hukou)
    sign_in(client, people.citizen)
    response = post_form(client, "/auth/me", f"/auth/me/sessions/{victim_session.id}/end", {})
    assert response.status_code == 404
    assert victim.get("/staff/").status_code == 200


def test_ending_a_session_needs_the_csrf_token(app, client, people):
    sign_in(client, people.citizen)
    (record,) = sessions_of(people.citizen)
    assert client.post(f"/auth/me/sessions/{record.id}/end").status_code == 400
    assert client.post("/auth/me/sessions/end-all").status_code == 400
    assert signed_in(client)


def test_signing_out_everywhere_ends_every_device_and_every_copy(app, client, people):
    phone = browser(app, PHONE_UA)
    sign_in(phone, people.citizen)
    thief = copy_of_cookie(phone, app)
    sign_in(client, people.citizen)
    page = client.get("/auth/me")
    assert "在所有设备上退出" in page.text
    response = client.post("/auth/me/sessions/end-all", data={"csrf_token": csrf_token(page.text), "confirm": "1"})
    assert response.location == "/auth/login"
    assert "已在所有设备上退出登录" in client.get("/auth/login").text
    assert not any(signed_in(c) for c in (client, phone, thief))
    assert {r.end_reason for r in sessions_of(people.citizen)} == {"signed_out_everywhere"}


def test_the_tick_deletes_sessions_a_month_over_and_keeps_the_rest(app, people):
    from processes.background import tick

    with time_machine.travel(MONDAY_NINE - timedelta(days=40), tick=False):
        sign_in(browser(app), people.citizen)
    with time_machine.travel(MONDAY_NINE - timedelta(days=2), tick=False):
        sign_in(browser(app), people.citizen)
    with time_machine.travel(MONDAY_NINE, tick=False):
        tick()
    (kept,) = sessions_of(people.citizen)
    assert kept.created_at.date() == (MONDAY_NINE - timedelta(days=2)).astimezone(kept.created_at.tzinfo).date()
