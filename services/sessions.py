"""Signed-in sessions kept on the server: a session is valid only while its row here is live.

Each sign-in creates a row and hands back a random key; the browser's cookie carries that key, the table only its
SHA-256 (a copy of the table signs nobody in). A request is signed in only when its key names a row that has not
ended, whose account is the one the cookie names, and that is within both lifetimes: `idle` since the last request
and `absolute` since the sign-in. Ending a row (sign-out, a new password, a deactivation, "sign out everywhere", a
lifetime run out) is final: the same cookie replayed later finds an ended row and is refused.

`last_seen_at` is written at most once per `LAST_SEEN_RESOLUTION`, so a busy page does not turn every request into a
write; the idle lifetime is therefore exact to within that resolution.
"""

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow

LAST_SEEN_RESOLUTION = timedelta(minutes=1)
# Longer than any idle or absolute lifetime: a row older than this can only be ended or dead.
KEPT_FOR = timedelta(days=30)
KEY_MAX_LENGTH = 100  # a key is 43 characters; longer cookie values are not hashed
ADDRESS_MAX_LENGTH = 45  # an IPv6 address in text
DEVICE_MAX_LENGTH = 100

# Why a session ended (`end_reason`).
LOGOUT = "logout"
PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason name, not a password
DEACTIVATED = "deactivated"
SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
ENDED_BY_OWNER = "ended_by_owner"
IDLE = "idle"
EXPIRED = "expired"

# (pattern, name), first match wins: the order matters where one browser names another in its user agent
# (Edge and WeChat say "Chrome", Chrome says "Safari").
_BROWSERS = (
    (re.compile(r"MicroMessenger"), "微信"),
    (re.compile(r"Edg(e|A|iOS)?/"), "Edge"),
    (re.compile(r"Firefox/|FxiOS/"), "Firefox"),
    (re.compile(r"Chrome/|CriOS/|Chromium/"), "Chrome"),
    (re.compile(r"Safari/"), "Safari"),
)
_SYSTEMS = (
    (re.compile(r"iPhone|iPad|iPod"), "iOS"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"HarmonyOS|OpenHarmony"), "鸿蒙"),
    (re.compile(r"Windows"), "Windows"),
    (re.compile(r"Mac OS X|Macintosh"), "macOS"),
    (re.compile(r"Linux|X11"), "Linux"),
)


class SignInSessionModel(Base):
    """One sign-in of one account, from the browser that holds its key until it ends."""

    __tablename__ = "sign_in_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # SHA-256 (hex) of the key in the cookie: enough to find the row, useless to sign in with.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The client address at sign-in and a short description of the browser, for the owner's list of sessions.
    address: Mapped[str] = mapped_column(String(ADDRESS_MAX_LENGTH), default="")
    device: Mapped[str] = mapped_column(String(DEVICE_MAX_LENGTH), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(30))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def device_summary(user_agent: str) -> str:
    """Return "browser · system" for a User-Agent header (what a person recognises their device by)."""
    browser = next((name for pattern, name in _BROWSERS if pattern.search(user_agent)), "")
    system = next((name for pattern, name in _SYSTEMS if pattern.search(user_agent)), "")
    summary = " · ".join(part for part in (browser, system) if part)
    return summary or "未知设备"


def start(session: Session, user_id: int, *, address: str, user_agent: str) -> tuple[str, SignInSessionModel]:
    """Create a session for the account and return its key (for the cookie only, never stored) and row (flush only)."""
    key = secrets.token_urlsafe(32)
    now = utcnow()
    record = SignInSessionModel(user_id=user_id, key_hash=_hash(key), created_at=now, last_seen_at=now,
                                address=(address or "")[:ADDRESS_MAX_LENGTH],
                                device=device_summary(user_agent or "")[:DEVICE_MAX_LENGTH])
    session.add(record)
    session.flush()
    return key, record


def live_session(session: Session, key: object, user_id: int, *, idle: timedelta,
                 absolute: timedelta) -> SignInSessionModel | None:
    """Return the live session that `key` names for the account, noting this request; None when there is none.

    A session found past one of its lifetimes is ended here (flush only), so that it stays ended for good and the
    owner's list no longer shows it.
    """
    if not isinstance(key, str) or not key or len(key) > KEY_MAX_LENGTH or not key.isascii():
        return None
    record = session.scalar(select(SignInSessionModel).where(SignInSessionModel.key_hash == _hash(key)))
    if record is None or record.user_id != user_id or record.ended_at is not None:
        return None
    now = utcnow()
    if now - record.created_at >= absolute:
        _end(session, record, EXPIRED, now)
        return None
    if now - record.last_seen_at >= idle:
        _end(session, record, IDLE, now)
        return None
    if now - record.last_seen_at >= LAST_SEEN_RESOLUTION:
        record.last_seen_at = now
        session.flush()
    return record


def _end(session: Session, record: SignInSessionModel, reason: str, now: datetime) -> None:
    record.ended_at, record.end_reason = now, reason
    session.flush()


def end(session: Session, record: SignInSessionModel, reason: str) -> None:
    """End one session (flush only)."""
    if record.ended_at is None:
        _end(session, record, reason, utcnow())


def end_all(session: Session, user_id: int, reason: str, *, keep: int | None = None) -> int:
    """End every live session of the account but the one with id `keep`; return how many ended (flush only)."""
    query = (update(SignInSessionModel)
             .where(SignInSessionModel.user_id == user_id, SignInSessionModel.ended_at.is_(None))
             .values(ended_at=utcnow(), end_reason=reason))
    if keep is not None:
        query = query.where(SignInSessionModel.id != keep)
    ended = session.execute(query, execution_options={"synchronize_session": "fetch"}).rowcount or 0
    session.flush()
    return ended


def live_sessions_of(session: Session, user_id: int, *, idle: timedelta,
                     absolute: timedelta) -> list[SignInSessionModel]:
    """Return the account's sessions that are still live, most recently used first."""
    now = utcnow()
    rows = session.scalars(
        select(SignInSessionModel)
        .where(SignInSessionModel.user_id == user_id, SignInSessionModel.ended_at.is_(None),
               SignInSessionModel.created_at > now - absolute, SignInSessionModel.last_seen_at > now - idle)
        .order_by(SignInSessionModel.last_seen_at.desc(), SignInSessionModel.id.desc()))
    return list(rows)


def session_of(session: Session, user_id: int, session_id: int) -> SignInSessionModel | None:
    """Return the account's session with this id, or None when it is not the account's (or does not exist)."""
    record = session.get(SignInSessionModel, session_id)
    return record if record is not None and record.user_id == user_id else None


def purge(session: Session, now: datetime | None = None) -> int:
    """Delete the sessions nobody has used for KEPT_FOR (ended, or long past any lifetime); return how many.

    Sign-ins and sign-outs stay in the audit log; these rows only serve the owner's list of devices and the check of
    each request, so a month is plenty.
    """
    cutoff = (now or utcnow()) - KEPT_FOR
    return session.execute(delete(SignInSessionModel).where(SignInSessionModel.last_seen_at < cutoff)).rowcount or 0
