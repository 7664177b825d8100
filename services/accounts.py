"""People who sign in: citizens and staff (staff carry a role and the division they work for)."""

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import generate_password_hash

from engine.db import Base, UTCDateTime, utcnow


class UserModel(Base):
    """A user account; `role` is `citizen` or a staff role, `division_code` a statistical division code."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(30), index=True)
    division_code: Mapped[str | None] = mapped_column(String(12), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Lockout after repeated failed sign-ins (counted since the last success).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def actor(self) -> str:
        """Name this user in audit trails and task rows."""
        return f"user:{self.id}"


def create_user(session: Session, *, phone: str, name: str, role: str, password: str,
                division_code: str | None = None) -> UserModel:
    """Create an account (flush only)."""
    user = UserModel(phone=phone, name=name, role=role, division_code=division_code,
                     password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    return user


def find_by_phone(session: Session, phone: str) -> UserModel | None:
    """Return the account registered with `phone`."""
    return session.scalar(select(UserModel).where(UserModel.phone == phone))


# Statistical division codes nest by prefix: province 2, city 4, county 6, township 9, village 12 digits.
DIVISION_PREFIX_LENGTHS = (2, 4, 6, 9, 12)


def staff_over(session: Session, role: str, division_code: str) -> list[UserModel]:
    """Return the staff of `role` whose division contains `division_code` (or is it)."""
    prefixes = [division_code[:n] for n in DIVISION_PREFIX_LENGTHS if n <= len(division_code)]
    return list(session.scalars(
        select(UserModel).where(UserModel.role == role, UserModel.division_code.in_(prefixes)).order_by(UserModel.id)
    ))
