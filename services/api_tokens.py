"""Bearer tokens for the staff JSON API: issued to a staff account, shown once, stored only as a SHA-256 hash.

A secret is `brt_` followed by 32 random bytes (URL-safe base64), so a fast hash is enough: nobody can guess a
preimage of a 256-bit random value, and an unsalted hash lets a presented secret be found through the unique
index on `token_hash` in one lookup. A token is good until it expires or is revoked, and only while its account
is active and a staff account; a citizen account never gets one. A token also carries the account's epoch at issue
(`UserModel.session_epoch`, raised by each deactivation), so one issued before a deactivation stays dead after the
account is reactivated.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from engine.db import Base, UTCDateTime, utcnow
from services.accounts import UserModel

PREFIX = "brt_"
NAME_MAX_LENGTH = 100
MAX_DAYS = 3650
SECRET_MAX_LENGTH = 200  # longer Authorization values are refused without hashing them
# `last_used_at` is written at most this often, so a busy client does not turn every GET into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# UserModel.role of citizens (processes.roles.CITIZEN; every other role is a staff role). Services sit below
# processes and may not import the role vocabulary, so the one value this module needs is repeated here.
CITIZEN_ROLE = "citizen"


class ApiTokenModel(Base):
    """An API token of a staff account: a name to recognise it by, the hash of its secret, its lifetime."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    user: Mapped[UserModel] = relationship()
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    account_epoch: Mapped[int] = mapped_column(Integer, default=0)


class TokenRefused(ValueError):
    """No token was issued; the message says why, in Chinese."""


def hash_secret(secret: str) -> str:
    """Return the SHA-256 hex digest stored for `secret`."""
    return hashlib.sha256(secret.encode()).hexdigest()


def is_staff(user: UserModel) -> bool:
    """Return whether `user` is a staff account (any role but the citizen's)."""
    return user.role != CITIZEN_ROLE


def issue_token(session: Session, user: UserModel, name: str, days: int | None = 90) -> str:
    """Create a token for a staff account and return its secret, which is not stored and cannot be shown again.

    `days` is the lifetime (1 to MAX_DAYS); None makes a token that does not expire. Flush only.
    """
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise TokenRefused(f"令牌名称不能为空，且不超过 {NAME_MAX_LENGTH} 个字")
    if not is_staff(user):
        raise TokenRefused("只有工作人员账号可以申请接口令牌")
    if not user.active:
        raise TokenRefused("账号已停用，不能申请接口令牌")
    if days is not None and (isinstance(days, bool) or not 1 <= days <= MAX_DAYS):
        raise TokenRefused(f"有效天数应在 1 到 {MAX_DAYS} 之间")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(ApiTokenModel(user_id=user.id, name=name, token_hash=hash_secret(secret), created_at=now,
                              account_epoch=user.session_epoch or 0,
                              expires_at=now + timedelta(days=days) if days is not None else None))
    session.flush()
    return secret


def user_for_token(session: Session, secret: str) -> UserModel | None:
    """Return the active staff account of a valid (known, unexpired, unrevoked) token, else None; notes the use."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > SECRET_MAX_LENGTH or not secret.isascii():
        return None
    token = session.scalar(select(ApiTokenModel).where(ApiTokenModel.token_hash == hash_secret(secret)))
    now = utcnow()
    if token is None or token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    user = token.user
    if not user.active or not is_staff(user) or token.account_epoch != (user.session_epoch or 0):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.flush()
    return user


def revoke(session: Session, token_id: int) -> bool:
    """Revoke a token for good; False when it already was revoked, LookupError when there is no such token."""
    token = session.get(ApiTokenModel, token_id)
    if token is None:
        raise LookupError(f"没有编号为 {token_id} 的接口令牌")
    if token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    session.flush()
    return True


def tokens_of(session: Session, user: UserModel) -> list[ApiTokenModel]:
    """Return every token of `user`, newest first (secrets are never kept, only names and dates)."""
    return list(session.scalars(
        select(ApiTokenModel).where(ApiTokenModel.user_id == user.id).order_by(ApiTokenModel.id.desc())))
