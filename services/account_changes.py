"""Changes to where an account is reached (email, phone): confirmed at the new address, told to the old one.

Whoever borrows a signed-in session must not be able to move the account's email or phone to themselves and then
recover the password through it. So the holder proves the current password first (the views), a new email takes
effect only through a link sent to that address (a new phone only with a code sent to it, services.sms_codes), and
the old address or number is told of the change, so that the holder learns of a change they did not make.

An email link is signed with the application's secret (itsdangerous) and names the account, the new address and a
fingerprint of the address the account had when the link was sent: once the email changes (through this link or
another) the link stops working, so it works once. Nothing is stored. A new address gets at most `HOURLY_CAP` links
an hour, so the form cannot flood someone else's inbox.
"""

import hashlib
from collections.abc import Callable

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from services import accounts, mail, notifications
from services.accounts import UserModel

SALT = "email-change"
KIND = "email_change"
NOTICE_KIND = "account_notice"
HOURLY_CAP = 3
CONFIRM_HOURS = 24
CONFIRM_SUBJECT = "【生育登记】确认新的电子邮箱"
NOTICE_SUBJECT = "【生育登记】您的账号电子邮箱已更改"
SIGNATURE = "\n\n生育登记服务信息系统"


def _fingerprint(user: UserModel) -> str:
    return hashlib.sha256(f"{user.id}:{user.email or ''}".encode()).hexdigest()[:20]


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_token(user: UserModel, new_email: str, secret: str) -> str:
    """Return the token of a link that moves `user` to `new_email`."""
    return _serializer(secret).dumps({"u": user.id, "e": new_email.lower(), "f": _fingerprint(user)})


def request_email_change(session: Session, user: UserModel, new_email: str, secret: str,
                         link_for: Callable[[str], str], hours: int = CONFIRM_HOURS) -> bool:
    """Send the confirmation link to `new_email`, within the hourly cap; return whether it was sent (flush only).

    `link_for` turns a token into the absolute URL of the page that takes it.
    """
    address = new_email.lower()
    if mail.sent_in_last_hour(session, address, KIND) >= HOURLY_CAP:
        return False
    link = link_for(make_token(user, address, secret))
    body = (f"{user.name}，您好：\n\n"
            f"您正在将手机号码尾号 {user.phone[-4:]} 的账号的电子邮箱更改为本邮箱。"
            f"请在 {hours} 小时内打开以下链接确认（链接只能使用一次）：\n\n{link}\n\n"
            "确认之前，账号的电子邮箱不会改变。如果这不是您本人的操作，请忽略本邮件。" + SIGNATURE)
    mail.send_mail(session, address, KIND, CONFIRM_SUBJECT, body, secrets=[link])
    return True


def pending_email_change(session: Session, token: str, secret: str,
                         hours: int = CONFIRM_HOURS) -> tuple[UserModel, str] | None:
    """Return the account and new address a live, unused link names, or None (forged, expired, used, superseded)."""
    try:
        payload = _serializer(secret).loads(token, max_age=hours * 3600)
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("u"), int) or not isinstance(payload.get("e"), str):
        return None
    user = session.get(UserModel, payload["u"])
    if user is None or not user.active or payload.get("f") != _fingerprint(user):
        return None
    if not accounts.is_valid_email(payload["e"]):
        return None
    return user, payload["e"]


def _masked_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


def set_email(session: Session, user: UserModel, email: str | None) -> None:
    """Give the account `email` (confirmed by the caller), or remove it with None; tell the old address (flush only)."""
    old = user.email
    accounts.change_email(session, user, email)
    if old and old != user.email:
        now = "已删除" if user.email is None else f"已更改为 {_masked_email(user.email)}"
        body = (f"{user.name}，您好：\n\n"
                f"手机号码尾号 {user.phone[-4:]} 的账号的电子邮箱{now}，本邮箱不再接收该账号的邮件。\n\n"
                "如果这不是您本人的操作，您的账号可能已被他人使用，请立即通过找回密码设置新密码，"
                "或携带身份证件到服务大厅处理。" + SIGNATURE)
        mail.send_mail(session, old, NOTICE_KIND, NOTICE_SUBJECT, body)


def set_phone(session: Session, user: UserModel, phone: str) -> None:
    """Move the account to `phone` (confirmed by the caller with a code sent to it); tell the old number (flush only).

    Raises accounts.RegistrationRefused when another account has the phone.
    """
    old = user.phone
    accounts.change_phone(session, user, phone)
    notifications.send_sms(session, [old], "phone_changed", {"ending": phone[-4:]})
