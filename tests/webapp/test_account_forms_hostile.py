"""Every account form under random and hostile input (hypothesis): a page with a clear message, never a 500, never
markup reflected raw, and nothing written — no account, no changed password, email or phone, no message sent.

Each field is either a good value or something hostile, so examples reach the later checks too (a good phone with a
bad ID number, ...). The SMS code is never one that was sent, so even an all-good example must be refused."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from forms.base import normalized, without_spaces
from services import accounts
from services.accounts import UserModel
from services.db import db
from services.identity import check_character
from services.mail import EmailMessageModel
from services.notifications import SmsMessageModel
from tests.fixtures import csrf_token, post_form
from tests.webapp.test_citizen_account import ID_NUMBER, NEW_PASSWORD, PHONE, accept_notice, log_in, registration

HOSTILE_VALUES = [
    "<script>alert(1)</script>",
    "' OR '1'='1' --",
    "'; DROP TABLE user_account; --",
    "\x00\x01\x1b[31m\u202e",
    "1" * 5000,
    "王" * 300,
    "110101199902300020",  # an impossible date
    "11010119900307002" + ("0" if check_character("11010119900307002") != "0" else "1"),  # a wrong checksum
    "11010121000101002" + check_character("11010121000101002"),  # born in the future
    "１３７００００００01",
    "a@b",
    "@@example.com",
    "",
    " ",
]
HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.text(max_size=30),
    st.text(min_size=200, max_size=2000),
)
# What a form would make of a typed phone or email (full-width digits, spaces and control characters go).
NOT_A_PHONE = HOSTILE.filter(lambda p: not accounts.is_valid_phone(without_spaces(normalized(p))))
NOT_AN_EMAIL = HOSTILE.filter(lambda e: bool(without_spaces(normalized(e)))
                              and not accounts.is_valid_email(without_spaces(normalized(e))))
FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def good_or_hostile(good: str):
    return st.one_of(st.just(good), HOSTILE)


def counts() -> tuple[int, int, int]:
    """Return how many accounts, SMS and emails exist."""
    with db.factory() as reader:
        return tuple(reader.scalar(select(func.count()).select_from(model))
                     for model in (UserModel, SmsMessageModel, EmailMessageModel))


def account_state(phone=PHONE):
    with db.factory() as reader:
        user = accounts.find_by_phone(reader, phone)
        return (user.phone, user.email, user.password_hash, user.name, user.id_number) if user else None


def assert_refused_clearly(response):
    assert response.status_code == 200, response.status_code
    assert 'class="field-error"' in response.text or 'class="alert alert-error"' in response.text \
        or 'class="alert alert-warning"' in response.text, response.text[-2000:]
    assert "<script>alert(1)</script>" not in response.text
    assert "\x00" not in response.text


def post(client, page_url, action_url, data):
    page = client.get(page_url)
    return client.post(action_url, data={"csrf_token": csrf_token(page.text), **data})


REGISTRATION = st.fixed_dictionaries({
    "phone": good_or_hostile("13700000055"),
    "name": good_or_hostile("王芳"),
    "id_number": good_or_hostile(ID_NUMBER),
    "password": good_or_hostile(NEW_PASSWORD),
    "confirm": good_or_hostile(NEW_PASSWORD),
    "email": good_or_hostile("wf@example.com"),
    "code": good_or_hostile("123456"),
})


@pytest.fixture
def noticed(client):
    accept_notice(client)
    return client


@FEW
@given(data=REGISTRATION)
def test_the_registration_form_refuses_anything_without_a_sent_code(noticed, data):
    before = counts()
    response = post(noticed, "/auth/register", "/auth/register", data)
    assert_refused_clearly(response)
    assert counts() == before


@FEW
@given(phone=NOT_A_PHONE)
def test_the_registration_code_button_refuses_a_bad_phone(noticed, phone):
    before = counts()
    response = post(noticed, "/auth/register", "/auth/register/code", {**registration(), "phone": phone})
    assert_refused_clearly(response)
    assert counts() == before


@FEW
@given(agree=st.one_of(st.just(""), st.just("false")))
def test_the_notice_is_not_accepted_without_the_tick(client, agree):
    response = post(client, "/auth/register", "/auth/register/notice", {"agree": agree} if agree else {})
    assert_refused_clearly(response)
    assert 'name="id_number"' not in client.get("/auth/register").text


@FEW
@given(data=st.fixed_dictionaries({
    "phone": good_or_hostile(PHONE), "code": good_or_hostile("123456"),
    "password": good_or_hostile("Reset#2026a"), "confirm": good_or_hostile("Reset#2026a"),
}))
def test_recovery_by_sms_refuses_anything_without_a_sent_code(client, citizen_account, data):
    before = (counts(), account_state())
    response = post(client, "/auth/forgot/sms", "/auth/forgot/sms", data)
    assert_refused_clearly(response)
    assert (counts(), account_state()) == before


@FEW
@given(phone=NOT_A_PHONE)
def test_the_recovery_code_button_refuses_a_bad_phone(client, phone):
    before = counts()
    response = post(client, "/auth/forgot/sms", "/auth/forgot/sms/code", {"phone": phone})
    assert_refused_clearly(response)
    assert counts() == before


@FEW
@given(email=HOSTILE)
def test_recovery_by_email_refuses_a_bad_address(client, citizen_account, email):
    before = counts()
    response = post(client, "/auth/forgot/email", "/auth/forgot/email", {"email": email})
    assert response.status_code in {200, 302}, "a well-formed unknown address is answered like a known one"
    if response.status_code == 200:
        assert_refused_clearly(response)
    assert counts() == before


@FEW
@given(data=st.fixed_dictionaries({"password": HOSTILE.filter(lambda p: p != "Reset#2026a"),
                                   "confirm": st.just("Reset#2026a")}))
def test_the_reset_link_form_refuses_a_bad_password(client, reset_link, data):
    before = account_state()
    response = post(client, reset_link, reset_link, data)
    assert_refused_clearly(response)
    assert account_state() == before


@FEW
@given(email=NOT_AN_EMAIL)
def test_the_profile_refuses_a_bad_email(signed_in, email):
    before = account_state()
    response = post(signed_in, "/auth/me", "/auth/me/email", {"email": email})
    assert_refused_clearly(response)
    assert account_state() == before


@FEW
@given(data=st.fixed_dictionaries({
    "current_password": good_or_hostile(NEW_PASSWORD), "new_password": HOSTILE.filter(lambda p: p != "Next#2026a"),
    "new_password_confirm": st.just("Next#2026a"),
}))
def test_the_profile_refuses_a_bad_password_change(signed_in, data):
    before = account_state()
    response = post(signed_in, "/auth/me", "/auth/me/password", data)
    assert_refused_clearly(response)
    assert account_state() == before


@FEW
@given(data=st.fixed_dictionaries({"new_phone": good_or_hostile("13700000066"),
                                   "phone_code": good_or_hostile("123456")}))
def test_the_profile_refuses_a_phone_change_without_a_sent_code(signed_in, data):
    before = (counts(), account_state())
    response = post(signed_in, "/auth/me", "/auth/me/phone", data)
    assert_refused_clearly(response)
    assert (counts(), account_state()) == before


@FEW
@given(phone=NOT_A_PHONE)
def test_the_profile_code_button_refuses_a_bad_phone(signed_in, phone):
    before = counts()
    response = post(signed_in, "/auth/me", "/auth/me/phone/code", {"new_phone": phone})
    assert_refused_clearly(response)
    assert counts() == before


@pytest.fixture
def citizen_account(session):
    user = accounts.register_citizen(session, phone=PHONE, name="王芳", id_number=ID_NUMBER, password=NEW_PASSWORD,
                                     email="wf@example.com")
    session.commit()
    return user


@pytest.fixture
def signed_in(client, citizen_account):
    assert log_in(client, citizen_account.phone, NEW_PASSWORD).location == "/"
    return client


@pytest.fixture
def reset_link(client, citizen_account):
    from tests.webapp.test_citizen_account import reset_link as link_in_email

    assert post_form(client, "/auth/forgot/email", "/auth/forgot/email", {"email": "wf@example.com"}).status_code \
        == 302
    return link_in_email(citizen_account.email)
