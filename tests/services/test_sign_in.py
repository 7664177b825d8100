"""Sign-in rules of the service layer: the password policy, lockout, and one-time SMS codes with their limits."""

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from engine.calendar import CST
from processes.roles import CITIZEN
from services import accounts, notifications, sms_codes
from services.accounts import LoginRefused, authenticate, password_problems
from services.crypto import blind
from services.notifications import SmsMessageModel
from services.rate_limits import RateLimited
from services.sms_codes import STAFF_LOGIN, SmsCodeModel, issue_code, verify_code

PASSWORD = "Test@12345"
BAD_PASSWORD = "Wrong@12345"
PHONE = "13800000001"
STAFF_PHONE = "13900000001"
MONDAY_NINE = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
WRONG = "手机号或密码不正确"


@pytest.fixture
def citizen(session):
    user = accounts.create_user(session, phone=PHONE, name="张丽", role=CITIZEN, password=PASSWORD)
    session.commit()
    return user


def sign_in(session, phone=PHONE, password=PASSWORD):
    """Attempt a sign-in with the default limits and commit, as the request edge does."""
    try:
        return authenticate(session, phone, password)
    finally:
        session.commit()


def refusal(session, phone=PHONE, password=BAD_PASSWORD):
    """Return the message of a refused sign-in (failing if it succeeds)."""
    with pytest.raises(LoginRefused) as refused:
        sign_in(session, phone, password)
    return refused.value.message


# --- the password policy


@pytest.mark.parametrize("password", ["Test@12345", "abcdefG1", "abcdefg1!", "ABCDEFG#9", "密码Abc12345", "Aa1!Aa1!"])
def test_a_password_of_eight_with_three_classes_passes(password):
    assert password_problems(password) == []


@pytest.mark.parametrize(("password", "problem"), [
    ("Ab1!Ab1", "密码至少 8 位"),
    ("abcdefgh", "密码需包含大写字母、小写字母、数字、其他符号中的至少 3 类"),
    ("abcdefg1", "密码需包含大写字母、小写字母、数字、其他符号中的至少 3 类"),
    ("12345678!", "密码需包含大写字母、小写字母、数字、其他符号中的至少 3 类"),
    ("Ａｂｃｄｅｆ１２", "密码需包含大写字母、小写字母、数字、其他符号中的至少 3 类"),  # full-width letters are "other"
    ("Aa1!" * 40, "密码不能超过 128 位"),
])
def test_a_weak_password_is_refused_with_the_reason_in_chinese(password, problem):
    assert problem in password_problems(password)


def test_a_short_one_class_password_gets_both_reasons():
    assert password_problems("abc") == ["密码至少 8 位", "密码需包含大写字母、小写字母、数字、其他符号中的至少 3 类"]


# --- authenticate


def test_the_right_password_signs_in_and_notes_the_time(session, citizen):
    with time_machine.travel(MONDAY_NINE, tick=False):
        user = sign_in(session)
    assert user.id == citizen.id
    session.expire_all()
    assert session.get(accounts.UserModel, citizen.id).last_login_at == MONDAY_NINE


def test_a_wrong_password_and_an_unknown_phone_get_the_same_message(session, citizen):  # noqa: ARG001
    assert refusal(session) == WRONG
    assert refusal(session, phone="13811112222", password=PASSWORD) == WRONG


def locked(wait: str) -> str:
    return f"密码错误次数过多，账号已暂时锁定，请于 {wait}后再试，或通过「找回密码」重设密码"


def test_five_wrong_passwords_in_fifteen_minutes_lock_the_phone_until_the_first_is_fifteen_minutes_old(
        session, citizen):  # noqa: ARG001
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        for _ in range(4):
            assert refusal(session) == WRONG
            clock.shift(timedelta(minutes=1))
        assert refusal(session) == locked("11 分钟"), "the fifth failure locks and says for how long"
        assert refusal(session, password=PASSWORD) == locked("11 分钟"), "even the right password"

        clock.shift(timedelta(minutes=5))
        assert refusal(session) == locked("6 分钟"), "tries while locked do not extend the lock"
        clock.shift(timedelta(minutes=5, seconds=59))
        assert refusal(session, password=PASSWORD) == locked("1 秒")
        clock.shift(timedelta(seconds=1))
        assert sign_in(session).phone == PHONE


def test_a_phone_without_an_account_locks_the_same_way(session, citizen):  # noqa: ARG001
    unknown = "13811112222"
    with time_machine.travel(MONDAY_NINE, tick=False):
        answers = [refusal(session, phone=phone) for phone in (PHONE, unknown) for _ in range(6)]
    assert answers[:6] == answers[6:]
    assert answers[4] == locked("15 分钟")


def test_failures_piling_up_over_a_day_lock_for_longer(session, citizen):  # noqa: ARG001
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        for _ in range(3):
            for _ in range(5):
                refusal(session)
            # A second past the window: a failure exactly fifteen minutes old still counts (moving windows).
            clock.shift(timedelta(minutes=15, seconds=1))
        for _ in range(4):
            assert refusal(session) == WRONG
        assert refusal(session) == locked("24 小时"), "twenty in a day: until the first of them is a day old"
        clock.shift(timedelta(hours=23))
        assert refusal(session, password=PASSWORD) == locked("15 分钟")
        clock.shift(timedelta(minutes=15))
        assert sign_in(session).phone == PHONE


def test_a_success_clears_the_failure_count(session, citizen):  # noqa: ARG001
    for _ in range(4):
        refusal(session)
    sign_in(session)
    for _ in range(4):
        assert refusal(session) == WRONG, "eight failures, but never five since the last success"


def test_a_new_password_lifts_the_lock(session, citizen):
    for _ in range(5):
        refusal(session)
    accounts.set_password(session, citizen, "Reset#2026a", reason="sms_reset")
    session.commit()
    assert sign_in(session, password="Reset#2026a").phone == PHONE


def test_an_inactive_account_is_told_so_only_with_the_right_password(session, citizen):
    citizen.active = False
    session.commit()
    assert refusal(session) == WRONG
    assert refusal(session, password=PASSWORD) == "账号已停用，请联系管理员"


# --- SMS codes


def sent_codes(session, phone=STAFF_PHONE):
    """Return the codes in the verification SMS sent to `phone`, oldest first."""
    texts = [text for text in notifications.delivered_to(phone) if "验证码为" in text]
    return [re.search(r"验证码为([0-9]{6})，", text).group(1) for text in texts]


def issue(session, phone=STAFF_PHONE, purpose=STAFF_LOGIN):
    """Issue a code and commit; return the code as the phone's owner reads it."""
    issue_code(session, phone, purpose)
    session.commit()
    return sent_codes(session, phone)[-1]


def verify(session, code, phone=STAFF_PHONE, purpose=STAFF_LOGIN):
    result = verify_code(session, phone, purpose, code)
    session.commit()
    return result


def wrong(code):
    """Return another six-digit code."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def refused_code(session, phone=STAFF_PHONE, purpose=STAFF_LOGIN):
    with pytest.raises(RateLimited) as refused:
        issue_code(session, phone, purpose)
    session.rollback()
    return refused.value.message


def test_the_code_arrives_by_sms_and_only_its_hash_is_stored(session):
    code = issue(session)
    assert notifications.delivered_to(STAFF_PHONE)[-1] == f"【生育登记】您的验证码为{code}，5分钟内有效。请勿告诉他人。"
    message = session.scalars(select(SmsMessageModel)).one()
    assert message.text == "【生育登记】您的验证码为******，5分钟内有效。请勿告诉他人。", "no live code kept"
    stored = session.scalars(select(SmsCodeModel)).one()
    assert (stored.phone_hash, stored.purpose) == (blind(STAFF_PHONE), STAFF_LOGIN)
    assert code not in stored.code_hash
    assert verify(session, code)


def test_a_code_expires_after_five_minutes(session):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        first = issue(session)
        clock.shift(timedelta(minutes=4, seconds=59))
        assert verify(session, first), "still good just before five minutes"

        clock.shift(timedelta(minutes=1))
        second = issue(session)
        clock.shift(timedelta(minutes=5))
        assert not verify(session, second)


def test_asking_again_within_a_minute_is_refused_with_the_wait(session):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        issue(session)
        clock.shift(timedelta(seconds=15))
        assert refused_code(session) == "操作过于频繁，请于 45 秒后再试"
        clock.shift(timedelta(seconds=44))
        assert refused_code(session) == "操作过于频繁，请于 1 秒后再试"
        assert refused_code(session, purpose=sms_codes.RESET_PASSWORD) == "操作过于频繁，请于 1 秒后再试", "any purpose"
        clock.shift(timedelta(seconds=2))  # a code exactly a minute old still counts
        issue(session)
    assert len(sent_codes(session)) == 2


def test_the_sixth_code_in_an_hour_is_refused(session):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        for _ in range(5):
            issue(session)
            clock.shift(timedelta(minutes=2))
        assert refused_code(session) == "操作过于频繁，请于 50 分钟后再试"  # 09:10; the 09:00 code counts
        assert len(sent_codes(session)) == 5
        issue(session, phone="13900000002")  # another phone is not affected
        clock.shift(timedelta(minutes=49, seconds=59))
        assert refused_code(session) == "操作过于频繁，请于 1 秒后再试"
        clock.shift(timedelta(seconds=2))  # just past 10:00: the 09:00 code has left the last hour
        issue(session)
    assert len(sent_codes(session)) == 6


def test_the_eleventh_code_in_a_day_is_refused_until_the_first_is_a_day_old(session):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        for number in range(10):
            purpose = STAFF_LOGIN if number % 2 else sms_codes.REGISTER  # the daily cap counts every purpose
            issue(session, purpose=purpose)
            clock.shift(timedelta(minutes=20))
        clock.shift(timedelta(hours=1))
        assert refused_code(session) == "操作过于频繁，请于 20 小时后再试"
        clock.move_to(datetime(2026, 3, 3, 8, 59, 59, tzinfo=CST))
        assert refused_code(session) == "操作过于频繁，请于 1 秒后再试"
        clock.move_to(datetime(2026, 3, 3, 9, 0, 1, tzinfo=CST))
        issue(session)
    assert len(sent_codes(session)) == 11


def test_five_wrong_codes_kill_the_code(session):
    code = issue(session)
    for _ in range(5):
        assert not verify(session, wrong(code))
    assert not verify(session, code), "the right code no longer works"


def test_four_wrong_codes_still_leave_the_right_one_working(session):
    code = issue(session)
    for _ in range(4):
        assert not verify(session, wrong(code))
    assert verify(session, code)


def test_a_used_code_cannot_be_used_again(session):
    code = issue(session)
    assert verify(session, code)
    assert not verify(session, code)


def test_only_the_newest_code_counts(session):
    with time_machine.travel(MONDAY_NINE, tick=False) as clock:
        old = issue(session)
        clock.shift(timedelta(minutes=1, seconds=1))  # a code exactly a minute old still counts
        new = issue(session)
        if old != new:
            assert not verify(session, old), "asking again voids the earlier code"
        assert verify(session, new)


def test_a_code_is_bound_to_its_phone_and_purpose(session):
    code = issue(session)
    assert not verify(session, code, phone="13900000002")
    assert not verify(session, code, purpose=sms_codes.RESET_PASSWORD)
    assert verify(session, code)


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "<script>"])
def test_malformed_codes_are_simply_wrong(session, code):
    issue(session)
    assert not verify(session, code)
