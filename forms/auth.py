"""Account forms: sign-in (phone and password, then the staff SMS code), registration, recovery and the profile.

Field builders are shared so that a phone, a code, a new password or an email is checked the same way everywhere.
"""

import unicodedata

from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp, ValidationError

from forms.base import BaseForm, normalized, without_spaces
from services import identity
from services.accounts import (
    EMAIL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PHONE_PATTERN,
    is_valid_email,
    password_problems,
)
from services.sms_codes import CODE_DIGITS

NAME_MIN_LENGTH = 2
# The separator in transcribed minority and foreign names (买买提·艾力); look-alikes typed by IMEs become it.
NAME_SEPARATOR = "·"
NAME_SEPARATOR_LOOKALIKES = "•・‧∙"


def phone_field(label: str = "手机号码") -> StringField:
    """Return a field for a mainland mobile number (spaces, hyphens and full-width digits understood)."""
    return StringField(label, filters=[normalized, without_spaces], validators=[
        DataRequired("请输入手机号码"),
        Regexp(rf"^{PHONE_PATTERN.pattern}\Z", message="请输入以 1 开头的 11 位手机号码"),
    ])


def code_field(label: str = "短信验证码") -> StringField:
    """Return a field for the 6-digit SMS code."""
    return StringField(label, filters=[normalized, without_spaces], validators=[
        DataRequired("请输入短信验证码"),
        Regexp(rf"^[0-9]{{{CODE_DIGITS}}}\Z", message=f"请输入短信中的 {CODE_DIGITS} 位数字验证码"),
    ])


def _meets_policy(_form, field) -> None:
    if problems := password_problems(field.data or ""):
        raise ValidationError("；".join(problems))


def new_password_field(label: str = "密码") -> PasswordField:
    """Return a field for a new password, checked against the policy."""
    return PasswordField(label, validators=[DataRequired(f"请输入{label}"), _meets_policy])


def current_password_field() -> PasswordField:
    """Return the field where a signed-in person proves their password again before a sensitive change."""
    return PasswordField("当前密码", validators=[
        DataRequired("请输入当前密码"),
        Length(max=PASSWORD_MAX_LENGTH, message="当前密码不正确"),
    ])


def confirmation_field(of: str) -> PasswordField:
    """Return the field repeating the password field named `of`."""
    return PasswordField("确认密码", validators=[DataRequired("请再次输入密码"), EqualTo(of, "两次输入的密码不一致")])


def _email_ok(_form, field) -> None:
    if field.data and not is_valid_email(field.data):
        raise ValidationError("邮箱地址格式不正确，例如 name@example.com")


def email_field(required: bool = False) -> StringField:
    """Return an email field, optional unless `required`."""
    presence = DataRequired("请输入邮箱地址") if required else Optional()
    return StringField("电子邮箱", filters=[normalized, without_spaces], validators=[
        presence, Length(max=EMAIL_MAX_LENGTH, message=f"邮箱地址不能超过 {EMAIL_MAX_LENGTH} 个字符"), _email_ok,
    ])


def _real_name(value: str | None) -> str | None:
    value = normalized(value)
    if value is None:
        return None
    for lookalike in NAME_SEPARATOR_LOOKALIKES:
        value = value.replace(lookalike, NAME_SEPARATOR)
    return " ".join(value.split())


def _is_name_character(c: str) -> bool:
    return unicodedata.category(c).startswith("L") or c in {NAME_SEPARATOR, " "}


def _name_ok(_form, field) -> None:
    name = field.data or ""
    if not all(_is_name_character(c) for c in name) or name.startswith(NAME_SEPARATOR) \
            or name.endswith(NAME_SEPARATOR):
        raise ValidationError("姓名只能包含文字和间隔号「·」，请按身份证填写")


def _id_number_ok(_form, field) -> None:
    try:
        identity.parse(field.data or "")
    except identity.InvalidIdNumber as exc:
        raise ValidationError(str(exc)) from None


def _id_number(value: str | None) -> str | None:
    value = normalized(value)
    return None if value is None else identity.normalize(value)


def real_name_field(label: str = "真实姓名") -> StringField:
    """Return a field for a name as the ID card writes it."""
    return StringField(label, filters=[_real_name], validators=[
        DataRequired(f"请输入{label}"),
        Length(min=NAME_MIN_LENGTH, max=NAME_MAX_LENGTH,
               message=f"姓名应为 {NAME_MIN_LENGTH} 至 {NAME_MAX_LENGTH} 个字"),
        _name_ok,
    ])


def id_number_field(label: str = "身份证号码") -> StringField:
    """Return a field for a citizen ID number, checked as GB 11643 says."""
    return StringField(label, filters=[_id_number], validators=[DataRequired(f"请输入{label}"), _id_number_ok])


class LoginForm(BaseForm):
    """Phone and password."""

    phone = phone_field()
    # No policy check here: the policy applies when a password is set, and an old password may predate it.
    password = PasswordField("密码", validators=[
        DataRequired("请输入密码"),
        Length(max=PASSWORD_MAX_LENGTH, message=f"密码不能超过 {PASSWORD_MAX_LENGTH} 位"),
    ])


class CodeForm(BaseForm):
    """The code sent by SMS."""

    code = code_field()


class NoticeForm(BaseForm):
    """Acceptance of the registration notice (注册须知)."""

    agree = BooleanField("我已阅读并同意以上注册须知", validators=[DataRequired("请先阅读并勾选同意注册须知")])


class RegisterForm(BaseForm):
    """A citizen's real-name registration."""

    phone = phone_field()
    code = code_field()
    name = real_name_field()
    id_number = id_number_field()
    password = new_password_field()
    confirm = confirmation_field("password")
    email = email_field()


class SmsResetForm(BaseForm):
    """Password recovery by SMS: phone, code, new password."""

    phone = phone_field()
    code = code_field()
    password = new_password_field("新密码")
    confirm = confirmation_field("password")


class EmailResetForm(BaseForm):
    """Password recovery by email: the address to send the link to."""

    email = email_field(required=True)


class NewPasswordForm(BaseForm):
    """The new password set through an emailed link."""

    password = new_password_field("新密码")
    confirm = confirmation_field("password")


class EmailForm(BaseForm):
    """Change (or with an empty field remove) the account's email, proving the current password."""

    email = email_field()
    current_password = current_password_field()


class ChangePasswordForm(BaseForm):
    """Change the password, proving the current one."""

    current_password = current_password_field()
    new_password = new_password_field("新密码")
    new_password_confirm = confirmation_field("new_password")


class ChangePhoneForm(BaseForm):
    """Move the account to a new phone, proven by a code sent to it and the current password."""

    new_phone = phone_field("新手机号码")
    phone_code = code_field()
    current_password = current_password_field()
