"""Consent to the privacy policy (个人信息保护法 第十四条): which version each citizen accepted, when, and how.

The policy's text lives with its page (webapp/privacy); its version is `PRIVACY_POLICY_VERSION`, changed whenever
the text changes in substance. A consent row is written at registration and each time a citizen accepts a new
version; rows are never updated, so the history of what was agreed to, and when, stays whole.
"""

from datetime import datetime

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.db import Base, UTCDateTime, utcnow
from services.accounts import UserModel

# The date the policy text took effect; bump it with every change of substance to ask citizens again.
PRIVACY_POLICY_VERSION = "2026-12-03"

REGISTRATION = "registration"  # accepted on the registration notice
RENEWAL = "renewal"  # accepted again after the policy changed
WAYS = {REGISTRATION: "注册时同意", RENEWAL: "政策更新后同意"}


class ConsentModel(Base):
    """One acceptance of one version of the privacy policy by one account."""

    __tablename__ = "privacy_consent"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    version: Mapped[str] = mapped_column(String(20))
    way: Mapped[str] = mapped_column(String(20))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def way_label(self) -> str:
        """Say in Chinese how the consent was given."""
        return WAYS.get(self.way, self.way)


def current_version() -> str:
    """Return the version of the policy in force."""
    return PRIVACY_POLICY_VERSION


def record(session: Session, user: UserModel, way: str) -> ConsentModel:
    """Record that `user` accepted the policy in force, `way` being REGISTRATION or RENEWAL (flush only)."""
    consent = ConsentModel(user_id=user.id, version=current_version(), way=way, accepted_at=utcnow())
    session.add(consent)
    session.flush()
    return consent


def has_accepted_current(session: Session, user: UserModel) -> bool:
    """Return whether `user` has accepted the version of the policy in force."""
    return session.scalar(select(ConsentModel.id).where(
        ConsentModel.user_id == user.id, ConsentModel.version == current_version()).limit(1)) is not None


def needs_renewal(session: Session, user: UserModel) -> bool:
    """Return whether `user` accepted an earlier version of the policy and not yet the one in force.

    Accounts with no consent at all were made by administrators or the demo (every registration records one, and
    the migration that introduced consents gave the citizens registered before it an earlier version's row).
    """
    versions = set(session.scalars(select(ConsentModel.version).where(ConsentModel.user_id == user.id)))
    return bool(versions) and current_version() not in versions


def of_user(session: Session, user: UserModel) -> list[ConsentModel]:
    """Return every consent `user` gave, oldest first."""
    return list(session.scalars(select(ConsentModel).where(ConsentModel.user_id == user.id).order_by(
        ConsentModel.accepted_at, ConsentModel.id)))
