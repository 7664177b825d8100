"""One-time SMS verification codes (registration, password recovery, the staff second factor).

How often codes may be sent is declared with the other rate limits (services.rate_limits): `sms_code:phone` per
phone whatever the purpose, counted here, so that no caller can skip it (alternating purposes gets no more messages
to the same phone); the web layer adds its own buckets (per client address, the whole site), counted together
with the phone's so that a request refused by one limit spends nothing of the others.
Verification counts only the newest code issued for the phone and purpose: asking again voids the earlier code.
Codes are stored as slow salted hashes (werkzeug scrypt, as passwords are), so reading the table does not give a
code away within its lifetime; comparison is constant-time (`hmac.compare_digest` inside `check_password_hash`).
"""

import math
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from engine.db import Base, UTCDateTime, utcnow
from services import rate_limits
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


def issue_code(session: Session, phone: str, purpose: str, *, ttl_seconds: int = 300, deliver: bool = True,
               counted_with: Iterable[tuple[str, str]] = ()) -> None:
    """Send a new 6-digit code to `phone` for `purpose`, or raise RateLimited over a limit (flush only).

    The code counts on the phone's bucket and on every (scope, key) of `counted_with`, all or none.

    With `deliver` False the code is stored and counted against the limits but no SMS goes out: password recovery
    does that for a phone with no account, so that the answers (sent, or wait) are the same as for a registered one
    and nobody can probe which phones are registered; a code nobody received cannot be verified.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown SMS code purpose {purpose!r}")
    rate_limits.hit_all([*counted_with, ("sms_code:phone", phone)])
    now = utcnow()
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

