"""People who sign in: citizens and staff (staff carry a role and the division they work for).

Sign-in rules (`authenticate`): a wrong phone and a wrong password get the same message, so the form does not tell
which phones are registered. `max_failures` wrong passwords in a row lock the account until `lock_minutes` after the
last of them. While an account is locked every attempt is refused with the unlock time, without checking the
password: such attempts neither count nor extend the lock (a guesser cannot keep the owner out for longer, and learns
nothing about the password meanwhile). Once the lock has run out the count starts again from zero; a success resets it.
An inactive account is refused only after the right password, so a guesser cannot tell it from a wrong password.
"""

import re
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Boolean, Integer, String, event, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from engine.calendar import CST
from engine.db import Base, UTCDateTime, utcnow
from engine.models import AuditEventModel
from services import divisions
from services.crypto import EncryptedString, blind

# A mainland mobile number: 11 ASCII digits starting with 1 (\d would also match other scripts' digits).
PHONE_PATTERN = re.compile(r"1[0-9]{10}")
NAME_MAX_LENGTH = 50  # the column's length
PASSWORD_MIN_LENGTH = 8
# Long enough for any passphrase, short enough that hashing a hostile input costs nothing special.
PASSWORD_MAX_LENGTH = 128
PASSWORD_CLASSES_REQUIRED = 3
EMAIL_MAX_LENGTH = 200  # the column's length
# Deliberately loose (one @, a dot in the domain, no spaces or markup): the link sent to it is the real test.
EMAIL_PATTERN = re.compile(r"[^@\s<>\"'(),;:\\]+@[^@\s<>\"'(),;:\\]+\.[A-Za-z0-9-]{2,}")

WRONG_CREDENTIALS = "手机号或密码不正确"
INACTIVE = "账号已停用，请联系管理员"
PHONE_TAKEN = "该手机号码已注册，请直接登录或找回密码"


class UserModel(Base):
    """A user account; `role` is `citizen` or a staff role, `division_code` a statistical division code."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Sealed at rest (services.crypto); `phone_hash` finds the account and keeps phones unique.
    phone: Mapped[str] = mapped_column(EncryptedString)
    phone_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    role: Mapped[str] = mapped_column(String(30), index=True)
    division_code: Mapped[str | None] = mapped_column(String(12), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    # A citizen's real-name identity, fixed at registration (staff accounts have none). `id_number_hash` is set
    # while the account holds the number (one account per number); a number another account already holds stays
    # a claim, without the hash, until a service hall confirms the person and moves it (services.identity_binding).
    id_number: Mapped[str | None] = mapped_column(EncryptedString)
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # How strongly the holder's identity is established (services.identity_check levels).
    identity_level: Mapped[str] = mapped_column(String(20), default="self_asserted")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Lockout after repeated failed sign-ins (counted since the last success).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Sessions carry the epoch they were signed in under; raising it ends every session of the account.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def holds_id_number(self) -> bool:
        """Return whether the account holds its ID number (not merely claims it)."""
        return self.id_number_hash is not None

    @property
    def actor(self) -> str:
        """Name this user in audit trails and task rows."""
        return f"user:{self.id}"


@event.listens_for(UserModel.phone, "set", retval=True)
def _index_phone(target: UserModel, value: str, oldvalue, initiator) -> str:  # noqa: ARG001 - event signature
    target.phone_hash = blind(value)
    return value


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
    return session.scalar(select(UserModel).where(UserModel.phone_hash == blind(phone)))


def find_by_email(session: Session, email: str) -> list[UserModel]:
    """Return the active accounts that gave `email` (emails are stored lower-case; several may share one)."""
    return list(session.scalars(
        select(UserModel).where(UserModel.email == email.lower(), UserModel.active.is_(True)).order_by(UserModel.id)
    ))


def holder_of_id_number(session: Session, id_number: str) -> UserModel | None:
    """Return the account that holds this ID number."""
    return session.scalar(select(UserModel).where(UserModel.id_number_hash == blind(id_number)))


def bind_id_number(user: UserModel, id_number: str) -> None:
    """Make `user` the holder of `id_number` (the caller has made sure no other account holds it)."""
    user.id_number, user.id_number_hash = id_number, blind(id_number)


def is_valid_email(email: str) -> bool:
    """Return whether `email` looks like a deliverable address and fits the column."""
    return len(email) <= EMAIL_MAX_LENGTH and EMAIL_PATTERN.fullmatch(email) is not None


def registration_problems(session: Session, *, phone: str) -> dict[str, str]:
    """Return, by field, what already belongs to another account (empty when a citizen may register with these).

    Only the phone can be taken: the registrant has just proved they hold it. An ID number is never refused here
    (see `register_citizen`).
    """
    return {"phone": PHONE_TAKEN} if find_by_phone(session, phone) is not None else {}


class RegistrationRefused(Exception):
    """The account was not created; `problems` says why, by field, in Chinese."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(problems.values()))
        self.problems = problems


def register_citizen(session: Session, *, phone: str, name: str, id_number: str, password: str,
                     email: str | None = None, identity_level: str = "self_asserted") -> UserModel:
    """Create a citizen's real-name account and audit it, or raise RegistrationRefused (flush only).

    The caller has checked the formats (phone, ID number, password policy) and the SMS code, and has the identity
    provider's level for the name and number. An ID number another account already holds is not refused: a refusal
    would tell anyone whose numbers are registered, and would leave the real owner locked out by whoever registered
    their number first. The account is created with the number as a claim only (`holds_id_number` False, nothing
    of that person visible to it) until a service hall confirms the person and moves the number to it
    (services.identity_binding). Two registrations racing are decided by the unique columns, inside a savepoint.
    """
    if problems := registration_problems(session, phone=phone):
        raise RegistrationRefused(problems)
    held = holder_of_id_number(session, id_number) is not None
    user = UserModel(phone=phone, name=name, role="citizen", id_number=id_number,
                     id_number_hash=None if held else blind(id_number),
                     identity_level="self_asserted" if held else identity_level,
                     email=email.lower() if email else None, password_hash=generate_password_hash(password))
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        if registration_problems(session, phone=phone):
            raise RegistrationRefused({"phone": PHONE_TAKEN}) from None
        # The number was bound by a registration that committed meanwhile: keep it as a claim, as above.
        user.id_number_hash, user.identity_level = None, "self_asserted"
        with session.begin_nested():
            session.add(user)
            session.flush()
    _audit(session, user, "account_registered", holds_id_number=user.holds_id_number,
           identity_level=user.identity_level)
    return user


def _audit(session: Session, user: UserModel, kind: str, **detail) -> None:
    session.add(AuditEventModel(instance_id=None, actor=user.actor, kind=kind, detail={"user_id": user.id, **detail}))
    session.flush()


def set_password(session: Session, user: UserModel, password: str, *, reason: str) -> None:
    """Give `user` a new password (the caller checked the policy), lift any lock, end every session (flush only).

    Raising the session epoch ends the account's other sessions (the caller re-signs the current one if it should
    stay); the new hash also voids every password-reset link issued before (they are bound to the old hash).
    """
    user.password_hash = generate_password_hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.session_epoch = (user.session_epoch or 0) + 1
    _audit(session, user, "password_changed", reason=reason)


def check_password(user: UserModel, password: str) -> bool:
    """Return whether `password` is the account's current password."""
    return check_password_hash(user.password_hash, password)


def change_email(session: Session, user: UserModel, email: str | None) -> None:
    """Replace (or with None remove) the account's email and audit it (flush only)."""
    user.email = email.lower() if email else None
    _audit(session, user, "email_changed")


def change_phone(session: Session, user: UserModel, phone: str) -> None:
    """Move the account to `phone` (confirmed by the caller with an SMS code to it) and audit it (flush only)."""
    if (holder := find_by_phone(session, phone)) is not None and holder.id != user.id:
        raise RegistrationRefused({"phone": "该手机号码已被其他账号使用"})
    old = user.phone
    try:
        with session.begin_nested():
            user.phone = phone
            session.flush()
    except IntegrityError:  # taken meanwhile by a registration
        user.phone = old
        raise RegistrationRefused({"phone": "该手机号码已被其他账号使用"}) from None
    # Only the last digits: the audit trail need not become a second copy of people's phone numbers.
    _audit(session, user, "phone_changed", old_ending=old[-4:], new_ending=phone[-4:])


# Statistical division codes nest by prefix: province 2, city 4, county 6, township 9, village 12 digits.
DIVISION_PREFIX_LENGTHS = (2, 4, 6, 9, 12)


def staff_over(session: Session, role: str, division_code: str) -> list[UserModel]:
    """Return the staff of `role` whose division contains `division_code` (or is it)."""
    prefixes = [division_code[:n] for n in DIVISION_PREFIX_LENGTHS if n <= len(division_code)]
    return list(session.scalars(
        select(UserModel).where(UserModel.role == role, UserModel.division_code.in_(prefixes)).order_by(UserModel.id)
    ))


def is_valid_phone(phone: str) -> bool:
    """Return whether `phone` is an 11-digit mainland mobile number."""
    return PHONE_PATTERN.fullmatch(phone) is not None


def password_problems(password: str) -> list[str]:
    """Return what keeps `password` from the policy (empty when it is acceptable), in Chinese."""
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"密码至少 {PASSWORD_MIN_LENGTH} 位")
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"密码不能超过 {PASSWORD_MAX_LENGTH} 位")
    # ASCII classes on purpose: str.isupper() and friends would count letters and digits of any script.
    classes = (
        any("A" <= c <= "Z" for c in password),
        any("a" <= c <= "z" for c in password),
        any("0" <= c <= "9" for c in password),
        any(not ("A" <= c <= "Z" or "a" <= c <= "z" or "0" <= c <= "9") for c in password),
    )
    if sum(classes) < PASSWORD_CLASSES_REQUIRED:
        problems.append("密码需包含大写字母、小写字母、数字、其他符号中的至少 3 类")
    return problems


class LoginRefused(Exception):
    """A sign-in attempt that did not succeed; the message is for the person signing in."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@cache
def _decoy_hash() -> str:
    # Checked against when the phone is unknown, so that case takes as long as a wrong password (no timing oracle).
    return generate_password_hash("decoy password for unknown phones")


def locked_message(locked_until: datetime) -> str:
    """Return the message for a locked account, naming the unlock time in China time (rounded up to the minute)."""
    unlock = locked_until.astimezone(CST)
    if unlock.second or unlock.microsecond:
        unlock = unlock.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return f"账号已锁定，请于 {unlock:%H:%M} 后再试"


def is_locked(user: UserModel, now: datetime | None = None) -> bool:
    """Return whether the account is locked at `now` (default: the current time)."""
    return user.locked_until is not None and user.locked_until > (now or utcnow())


def confirm_password(session: Session, user: UserModel, password: str, *, max_failures: int, lock_minutes: int,
                     wrong: str = WRONG_CREDENTIALS) -> None:
    """Raise LoginRefused unless `password` is the account's; wrong passwords count towards the lockout.

    Used by sign-in and wherever a signed-in person proves their password again (changing it), so a stolen session
    gets no more guesses than the sign-in form gives. The caller must commit even when this raises.
    """
    now = utcnow()
    if is_locked(user, now):
        raise LoginRefused(locked_message(user.locked_until))
    if user.locked_until is not None:  # a lock that has run out: a fresh start
        user.locked_until = None
        user.failed_logins = 0
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(minutes=lock_minutes)
        session.flush()
        if user.locked_until is not None:
            raise LoginRefused(locked_message(user.locked_until))
        raise LoginRefused(wrong)
    user.failed_logins = 0


def authenticate(session: Session, phone: str, password: str, *, max_failures: int, lock_minutes: int) -> UserModel:
    """Return the account when `password` is right for `phone`, or raise LoginRefused (flush only, see the module)."""
    user = find_by_phone(session, phone)
    if user is None:
        check_password_hash(_decoy_hash(), password)
        raise LoginRefused(WRONG_CREDENTIALS)
    confirm_password(session, user, password, max_failures=max_failures, lock_minutes=lock_minutes)
    if not user.active:
        raise LoginRefused(INACTIVE)
    record_login(session, user)
    return user


def record_login(session: Session, user: UserModel) -> None:
    """Note that `user` has just signed in (flush only)."""
    user.last_login_at = utcnow()
    session.flush()


def staff_account_problems(session: Session, *, phone: str, name: str, role: str, division_code: str,
                           password: str | None, roles: Mapping[str, str],
                           division_lengths: Mapping[str, int]) -> dict[str, str]:
    """Return what keeps a new staff account from being created, by field, in Chinese (empty when it may be).

    `roles` are the staff roles with their labels and `division_lengths` the code length each role's division must
    have (the vocabulary lives above this layer); a `password` of None is not checked (the CLI asks for it later).
    """
    problems: dict[str, str] = {}
    if not is_valid_phone(phone):
        problems["phone"] = f"手机号码 {phone!r} 无效：应为以 1 开头的 11 位数字"
    elif find_by_phone(session, phone) is not None:
        problems["phone"] = f"手机号码 {phone} 已被其他账号使用"
    if not name or len(name) > NAME_MAX_LENGTH:
        problems["name"] = f"姓名不能为空，且不超过 {NAME_MAX_LENGTH} 个字"
    if role not in roles:
        known = "、".join(f"{key}（{label}）" for key, label in roles.items())
        problems["role"] = f"角色 {role!r} 不是工作人员角色，可选：{known}"
    division = divisions.get_division(session, division_code) if division_code.isascii() else None
    if division is None:
        problems["division_code"] = f"没有代码为 {division_code} 的行政区划（可先用 divisions import 导入）"
    elif role in roles and (length := division_lengths.get(role)) is not None and len(division_code) != length:
        problems["division_code"] = (f"{roles[role]}的所属区划应为 {length} 位代码，"
                                     f"{division_code}（{division.name}）是 {len(division_code)} 位")
    if password is not None and (weak := password_problems(password)):
        problems["password"] = "密码不符合要求：" + "；".join(weak)
    return problems


def staff_query(roles: Collection[str], search: str | None = None):
    """Return the select of the accounts with one of `roles`, matching `search` in name or phone, by id."""
    query = select(UserModel).where(UserModel.role.in_(list(roles)))
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        # Phones are sealed: a whole number is found through its hash, a part of one cannot be.
        query = query.where(or_(UserModel.name.like(pattern, escape="\\"),
                                UserModel.phone_hash == blind(search.strip())))
    return query.order_by(UserModel.id)


def list_staff(session: Session, roles: Collection[str], search: str | None = None, *, offset: int = 0,
               limit: int | None = None) -> tuple[list[UserModel], int]:
    """Return a page of the staff accounts (see `staff_query`) and how many match in all."""
    query = staff_query(roles, search)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(session.scalars(query.offset(offset).limit(limit))), total


def set_active(session: Session, user: UserModel, active: bool, actor: str) -> bool:
    """Activate or deactivate an account and audit it (flush only); False when it already was so."""
    if user.active == active:
        return False
    user.active = active
    if not active:  # sessions signed in before the deactivation must not come back with a reactivation
        user.session_epoch = (user.session_epoch or 0) + 1
    session.add(AuditEventModel(instance_id=None, actor=actor,
                                kind="account_activated" if active else "account_deactivated",
                                detail={"phone_ending": user.phone[-4:], "user_id": user.id}))
    session.flush()
    return True
