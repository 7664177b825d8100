"""People who sign in: citizens and staff (staff carry a role and the division they work for).

Sign-in rules (`authenticate`): a wrong phone and a wrong password get the same message, so the form does not tell
which phones are registered. Wrong passwords are counted per phone typed, registered or not, in the rate limit
`sign_in:account` (services.rate_limits; by default 5 in any 15 minutes, 20 in any day): when it is full the phone is
locked, and every attempt is refused with the wait, without checking the password. The answer (message, status, no
password hash computed) is the same whether the phone has an account, so the lock tells nobody which phones are
registered; refused attempts are not counted, so a guesser cannot push the lock further out. The lock is temporary,
and longer as failures pile up (the day's limit): no stranger can lock an account, staff included, for good, and the
owner can lift it at once by recovering the password with an SMS code (`set_password` clears the count); a success
clears it too. An inactive account is refused only after the right password, so a guesser cannot tell it from a wrong
password.
"""

import re
import secrets
from collections.abc import Collection, Mapping
from datetime import datetime
from functools import cache
from typing import NoReturn

from sqlalchemy import Boolean, Integer, String, event, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from engine.db import Base, UTCDateTime, utcnow
from services import audit, divisions, rate_limits, sessions
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
LOCKED = "密码错误次数过多，账号已暂时锁定"
# The rate limit whose full bucket is a locked phone (services.rate_limits).
LOCK_SCOPE = "sign_in:account"
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
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised by each deactivation: API tokens carry the epoch they were issued under, so those issued before a
    # deactivation stay dead after a reactivation (signed-in sessions end for good in services.sessions).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # Set when an administrator reset the password: the holder must choose a new one before anything else.
    password_change_required: Mapped[bool] = mapped_column(Boolean, default=False)
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
                division_code: str | None = None, actor: str = "system") -> UserModel:
    """Create an account and audit it as done by `actor` (flush only)."""
    user = UserModel(phone=phone, name=name, role=role, division_code=division_code,
                     password_hash=generate_password_hash(password))
    session.add(user)
    session.flush()
    _audit(session, user, "account_created", actor=actor, role=role, division=division_code)
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


def _audit(session: Session, user: UserModel, kind: str, *, actor: str | None = None, **detail) -> None:
    """Write the audit event of a change to `user`, by `actor` (default: the account holder); every account event
    goes through here."""
    audit.record(session, actor or user.actor, kind, user_id=user.id, **detail)


def set_password(session: Session, user: UserModel, password: str, *, reason: str,
                 keep_session: int | None = None, actor: str | None = None) -> None:
    """Give `user` a new password (the caller checked the policy), lift any lock, end the sessions (flush only).

    Every session of the account ends but `keep_session` (the id of the one the holder changed it from); the new
    hash also voids every password-reset link issued before (they are bound to the old hash). Choosing a password
    oneself satisfies a change an administrator's reset required.
    """
    user.password_hash = generate_password_hash(password)
    rate_limits.clear(LOCK_SCOPE, user.phone)
    user.password_change_required = False
    sessions.end_all(session, user.id, sessions.PASSWORD_CHANGED, keep=keep_session)
    _audit(session, user, "password_changed", actor=actor, reason=reason)


# Letters and digits that cannot be mistaken for one another when read out or copied by hand.
TEMPORARY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
TEMPORARY_LENGTH = 12


def temporary_password() -> str:
    """Return a random password that meets the policy (upper and lower case letters and digits)."""
    while True:
        password = "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(TEMPORARY_LENGTH))
        if not password_problems(password):
            return password


def reset_password(session: Session, user: UserModel, actor: str) -> str:
    """Give `user` a temporary password to change at the next sign-in, and return it (flush only, audited).

    For an administrator helping a staff member who lost their password: every session of the account ends, any
    lock is lifted, and the account opens nothing but the password change until its holder has chosen a new one.
    """
    password = temporary_password()
    set_password(session, user, password, reason="admin_reset", actor=actor)
    user.password_change_required = True
    session.flush()
    return password


def unlock(session: Session, user: UserModel, actor: str) -> bool:
    """Lift a sign-in lock and the count of failures before it (flush only, audited); False when not locked."""
    if not lock_wait(user.phone):
        return False
    rate_limits.clear(LOCK_SCOPE, user.phone)
    _audit(session, user, "account_unlocked", actor=actor)
    return True


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


def locked_message(wait_seconds: int) -> str:
    """Return the message for a locked phone: when to try again, and that recovery works meanwhile."""
    return f"{LOCKED}，{rate_limits.too_often(wait_seconds).partition('，')[2]}，或通过「找回密码」重设密码"


def lock_wait(phone: str) -> int:
    """Return the seconds until `phone` may try a password again (0: not locked), registered or not."""
    return rate_limits.wait(LOCK_SCOPE, phone)


def _refuse_when_locked(phone: str) -> None:
    if wait := lock_wait(phone):
        raise LoginRefused(locked_message(wait))


def _refuse_wrong(phone: str, wrong: str) -> NoReturn:
    try:
        rate_limits.hit(LOCK_SCOPE, phone)
    except rate_limits.RateLimited as full:  # filled by a request racing this one
        raise LoginRefused(locked_message(full.retry_after)) from None
    _refuse_when_locked(phone)  # this failure may have been the one that fills it
    raise LoginRefused(wrong)


def confirm_password(session: Session, user: UserModel, password: str, *,
                     wrong: str = WRONG_CREDENTIALS) -> None:
    """Raise LoginRefused unless `password` is the account's; wrong passwords count towards the phone's lock.

    Used by sign-in and wherever a signed-in person proves their password again (changing it), so a stolen session
    gets no more guesses than the sign-in form gives.
    """
    _refuse_when_locked(user.phone)
    if not check_password_hash(user.password_hash, password):
        _refuse_wrong(user.phone, wrong)
    rate_limits.clear(LOCK_SCOPE, user.phone)


def authenticate(session: Session, phone: str, password: str) -> UserModel:
    """Return the account when `password` is right for `phone`, or raise LoginRefused (flush only, see the module).

    Every refusal is audited, the caller commits it with the form shown again.
    """
    user = None
    try:
        _refuse_when_locked(phone)
        user = find_by_phone(session, phone)
        if user is None:
            check_password_hash(_decoy_hash(), password)
            _refuse_wrong(phone, WRONG_CREDENTIALS)
        confirm_password(session, user, password)
        if not user.active:
            raise LoginRefused(INACTIVE)
    except LoginRefused as refused:
        audit.record(session, user.actor if user else "anonymous", "sign_in_failed",
                     user_id=user.id if user else None, phone_ending=phone[-4:], reason=str(refused))
        raise
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
    if not active:
        # Nothing signed in before the deactivation may come back with a reactivation: sessions end for good, and
        # the new epoch leaves every API token issued before it dead.
        sessions.end_all(session, user.id, sessions.DEACTIVATED)
        user.session_epoch = (user.session_epoch or 0) + 1
    _audit(session, user, "account_activated" if active else "account_deactivated", actor=actor,
           phone_ending=user.phone[-4:])
    return True
