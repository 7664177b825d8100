"""Email, through a provider; every message is recorded in the `email_message` table whatever the provider.

The record provider delivers nothing beyond that row (the embedded default and tests read it; an administrator can
too). The SMTP provider hands the message to a mail server with smtplib. Delivery happens after the commit that
wrote the row, never inside the transaction: a slow or failing mail server can neither hold a transaction open nor
turn a request into an error page (which would, for password recovery, tell whether an address is registered).
A failed delivery is logged; the row stays.
"""

import logging
import smtplib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import String, Text, event, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow

ADDRESS_MAX_LENGTH = 200  # as user_account.email
PENDING_KEY = "mail_pending"
SECRET_PLACEHOLDER = "（链接仅发送给收件人，不在系统中保存）"  # noqa: S105 - a placeholder, not a secret

log = logging.getLogger(__name__)
# What the record provider delivered (to, subject, body), newest last: the "mailbox" a demo or a test reads.
DELIVERED: deque[tuple[str, str, str]] = deque(maxlen=200)


class EmailMessageModel(Base):
    """One email as handed to the provider."""

    __tablename__ = "email_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    to_address: Mapped[str] = mapped_column(String(ADDRESS_MAX_LENGTH), index=True)
    # What the message is for (password_reset, ...): caps and the admin list group by it.
    kind: Mapped[str] = mapped_column(String(30))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class MailProvider(Protocol):
    """Something that delivers one plain-text email."""

    name: str

    def deliver(self, to_address: str, subject: str, body: str) -> None:
        """Deliver the message or raise."""


class RecordProvider:
    """Deliver nothing: the `email_message` row is the delivery."""

    name = "record"

    def deliver(self, to_address: str, subject: str, body: str) -> None:
        """Keep the message in memory as the mailbox of the embedded default, and log that it went.

        The body may hold a secret link, so it is not logged; the recorded row has the link masked.
        """
        DELIVERED.append((to_address, subject, body))
        log.info("邮件 → %s：%s", to_address, subject)


@dataclass(frozen=True)
class SmtpProvider:
    """Send through an SMTP server (STARTTLS by default, login when a user is set)."""

    host: str
    port: int
    sender: str
    user: str = ""
    password: str = ""
    starttls: bool = True
    timeout: int = 10
    name: str = "smtp"

    def deliver(self, to_address: str, subject: str, body: str) -> None:
        """Send one message."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to_address
        message["Subject"] = subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as server:
            if self.starttls:
                server.starttls()
            if self.user:
                server.login(self.user, self.password)
            server.send_message(message)


_active: dict[str, MailProvider] = {"provider": RecordProvider()}


def configure(settings: Mapping[str, object]) -> MailProvider:
    """Choose the provider from settings: SMTP when MAIL_SMTP_HOST is set, else the record provider."""
    host = str(settings.get("MAIL_SMTP_HOST") or "")
    provider: MailProvider = RecordProvider()
    if host:
        provider = SmtpProvider(host=host, port=int(settings.get("MAIL_SMTP_PORT") or 587),
                                sender=str(settings.get("MAIL_SENDER") or ""),
                                user=str(settings.get("MAIL_SMTP_USER") or ""),
                                password=str(settings.get("MAIL_SMTP_PASSWORD") or ""),
                                starttls=bool(settings.get("MAIL_SMTP_STARTTLS", True)))
    _active["provider"] = provider
    return provider


def send_mail(session: Session, to_address: str, kind: str, subject: str, body: str,
              secrets: Iterable[str] = ()) -> EmailMessageModel:
    """Record an email and deliver it after the session's next commit (flush only).

    Each of `secrets` (a live recovery link) is delivered but never recorded: the row shows a placeholder instead.
    """
    provider = _active["provider"]
    kept = body
    for secret in secrets:
        kept = kept.replace(secret, SECRET_PLACEHOLDER)
    message = EmailMessageModel(to_address=to_address, kind=kind, subject=subject, body=kept, provider=provider.name)
    session.add(message)
    session.flush()
    session.info.setdefault(PENDING_KEY, []).append((provider, to_address, subject, body))
    return message


def sent_since(session: Session, to_address: str, kind: str, since: datetime) -> int:
    """Return how many emails of `kind` went to `to_address` since `since` (for caps)."""
    return session.scalar(
        select(func.count()).select_from(EmailMessageModel)
        .where(EmailMessageModel.to_address == to_address, EmailMessageModel.kind == kind,
               EmailMessageModel.created_at >= since)
    ) or 0


def sent_in_last_hour(session: Session, to_address: str, kind: str) -> int:
    """Return how many emails of `kind` went to `to_address` in the last 60 minutes."""
    return sent_since(session, to_address, kind, utcnow() - timedelta(hours=1))


@event.listens_for(Session, "after_commit")
def _deliver_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a released savepoint also reports a commit; only the outermost one sends
    for provider, to_address, subject, body in session.info.pop(PENDING_KEY, []):
        try:
            provider.deliver(to_address, subject, body)
        except (OSError, smtplib.SMTPException):
            log.exception("邮件发送失败：%s（%s）", to_address, subject)


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint rolled back: what was queued before it still goes
        session.info.pop(PENDING_KEY, None)
