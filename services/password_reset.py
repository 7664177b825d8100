"""Password recovery by emailed link: signed, time-limited, single-use tokens.

A token is signed with the application's secret (itsdangerous) and names the account and a fingerprint of its
current password hash. Setting a password (through the link or any other way) changes the hash (a fresh salt even
for the same password), so a link works once and stops working whenever the password changes; the signature's
timestamp ends it after `max_age` seconds. Nothing is stored, so there is nothing to clean up.

Whether an address belongs to an account never shows: the caller answers the same either way, and an address gets
at most `HOURLY_CAP` recovery emails an hour (beyond that, quietly none), so the form cannot flood an inbox.
"""

import hashlib
from collections.abc import Callable

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from services import accounts, mail
from services.accounts import UserModel

SALT = "password-reset"
KIND = "password_reset"
HOURLY_CAP = 3
SUBJECT = "【生育登记】重置密码"


def _fingerprint(user: UserModel) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:20]


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_token(user: UserModel, secret: str) -> str:
    """Return a reset token for `user`."""
    return _serializer(secret).dumps({"u": user.id, "f": _fingerprint(user)})


def account_for_token(session: Session, token: str, secret: str, max_age: int) -> UserModel | None:
    """Return the active account a live, unused token names, or None (forged, expired, used or superseded)."""
    try:
        payload = _serializer(secret).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        return None
    user = session.get(UserModel, payload["u"])
    if user is None or not user.active or payload.get("f") != _fingerprint(user):
        return None
    return user


def send_links(session: Session, email: str, secret: str, link_for: Callable[[str], str], minutes: int) -> int:
    """Email a reset link to each active account with `email`, within the hourly cap; return how many (flush only).

    `link_for` turns a token into the absolute URL of the page that takes it.
    """
    address = email.lower()
    users = accounts.find_by_email(session, address)
    if not users or mail.sent_in_last_hour(session, address, KIND) >= HOURLY_CAP:
        return 0
    for user in users:
        link = link_for(make_token(user, secret))
        body = (f"{user.name}，您好：\n\n"
                f"我们收到了为手机号码尾号 {user.phone[-4:]} 的账号重置密码的请求。"
                f"请在 {minutes} 分钟内打开以下链接设置新密码（链接只能使用一次）：\n\n"
                f"{link}\n\n"
                "如果这不是您本人的操作，请忽略本邮件，您的密码不会改变。\n\n生育登记服务信息系统")
        mail.send_mail(session, address, KIND, SUBJECT, body, secrets=[link])
    return len(users)
