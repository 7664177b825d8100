"""One-time SMS verification codes (registration, password recovery, the staff second factor).

Limits protect phones from being flooded and the SMS budget from being spent: per phone, whatever the purpose, one
code per `resend_seconds`, `hourly_limit` codes in any 60 minutes and `daily_limit` codes per calendar day in China
time. Counting across purposes keeps a caller from alternating purposes to get more messages to the same phone.
Verification counts only the newest code issued for the phone and purpose: asking again voids the earlier code.
Codes are stored as slow salted hashes (werkzeug scrypt, as passwords are), so reading the table does not give a
code away within its lifetime; comparison is constant-time (`hmac.compare_digest` inside `check_password_hash`).
"""

import math
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from engine.calendar import CST
from engine.db import Base, UTCDateTime, utcnow
from services.crypto import blind
from services.notifications import send_sms

CODE_DIGITS = 6
REGISTER = "register"
RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose name, not a password
STAFF_LOGIN = "staff_login"
CHANGE_PHONE = "change_phone"
PURPOSES = (REGISTER, RESET_PASSWORD, STAFF_LOGIN, CHANGE_PHONE)


class SmsCodeModel(Base):
    """A code sent to a phone for one purpose; only its hash is kept."""

    __tablename__ = "sms_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The phone only as its keyed hash: codes are looked up by phone, never listed with one.
    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    # register | reset_password | staff_login | change_phone
    purpose: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CodeRefused(Exception):
    """No code was sent; the message says why and when to try again."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _issued_since(session: Session, phone: str, since: datetime) -> list[datetime]:
    return list(session.scalars(
        select(SmsCodeModel.created_at)
        .where(SmsCodeModel.phone_hash == blind(phone), SmsCodeModel.created_at >= since)
        .order_by(SmsCodeModel.created_at)
    ))


def _check_limits(session: Session, phone: str, now: datetime, *, resend_seconds: int, hourly_limit: int,
                  daily_limit: int) -> None:
    midnight = now.astimezone(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    hour_ago = now - timedelta(hours=1)
    # The day counts from midnight China time; the hour is a sliding window (a code exactly an hour old has left it).
    issued = _issued_since(session, phone, min(midnight, hour_ago))
    if issued and (wait := issued[-1] + timedelta(seconds=resend_seconds) - now) > timedelta(0):
        raise CodeRefused(f"请 {math.ceil(wait.total_seconds())} 秒后再获取验证码")
    if sum(1 for at in issued if at >= midnight) >= daily_limit:
        raise CodeRefused("今日获取验证码次数已达上限，请明天再试")
    last_hour = [at for at in issued if at > hour_ago]
    if len(last_hour) >= hourly_limit:
        # The window frees a place when the oldest of the last `hourly_limit` codes turns an hour old.
        wait = last_hour[-hourly_limit] + timedelta(hours=1) - now
        raise CodeRefused(f"获取验证码过于频繁，请 {max(1, math.ceil(wait.total_seconds() / 60))} 分钟后再试")


def issue_code(session: Session, phone: str, purpose: str, *, ttl_seconds: int = 300, resend_seconds: int = 60,
               hourly_limit: int = 5, daily_limit: int = 10, deliver: bool = True) -> None:
    """Send a new 6-digit code to `phone` for `purpose`, or raise CodeRefused over a limit (flush only).

    With `deliver` False the code is stored and counted against the limits but no SMS goes out: password recovery
    does that for a phone with no account, so that the answers (sent, or wait) are the same as for a registered one
    and nobody can probe which phones are registered; a code nobody received cannot be verified.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown SMS code purpose {purpose!r}")
    now = utcnow()
    _check_limits(session, phone, now, resend_seconds=resend_seconds, hourly_limit=hourly_limit,
                  daily_limit=daily_limit)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(SmsCodeModel(phone_hash=blind(phone), purpose=purpose, code_hash=generate_password_hash(code),
                             attempts=0, created_at=now, expires_at=now + timedelta(seconds=ttl_seconds)))
    if deliver:
        send_sms(session, [phone], "verification_code", {"code": code, "minutes": str(math.ceil(ttl_seconds / 60))})
    session.flush()


def verify_code(session: Session, phone: str, purpose: str, code: str, *, max_attempts: int = 5) -> bool:
    """Return whether `code` is the live code for `phone` and `purpose`, consuming it on success (flush only)."""
    newest = session.scalar(
        select(SmsCodeModel)
        .where(SmsCodeModel.phone_hash == blind(phone), SmsCodeModel.purpose == purpose)
        .order_by(SmsCodeModel.created_at.desc(), SmsCodeModel.id.desc())
        .limit(1)
        # Locked so that two simultaneous tries cannot both consume it or both slip under the attempt limit.
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    now = utcnow()
    if newest is None or newest.consumed_at is not None or newest.expires_at <= now or newest.attempts >= max_attempts:
        return False
    newest.attempts += 1
    if check_password_hash(newest.code_hash, code):
        newest.consumed_at = now
        session.flush()
        return True
    # The caller must keep (commit) this flush although verification failed: it is what the attempt limit counts.
    session.flush()
    return False

