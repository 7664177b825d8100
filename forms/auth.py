"""Sign-in forms: phone and password, then (staff) the SMS code."""

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from forms.base import BaseForm, normalized, without_spaces
from services.accounts import PASSWORD_MAX_LENGTH, PHONE_PATTERN
from services.sms_codes import CODE_DIGITS


class LoginForm(BaseForm):
    """Phone and password."""

    phone = StringField("手机号码", filters=[normalized, without_spaces], validators=[
        DataRequired("请输入手机号码"),
        Regexp(rf"^{PHONE_PATTERN.pattern}\Z", message="请输入以 1 开头的 11 位手机号码"),
    ])
    # No policy check here: the policy applies when a password is set, and an old password may predate it.
    password = PasswordField("密码", validators=[
        DataRequired("请输入密码"),
        Length(max=PASSWORD_MAX_LENGTH, message=f"密码不能超过 {PASSWORD_MAX_LENGTH} 位"),
    ])


class CodeForm(BaseForm):
    """The code sent by SMS."""

    code = StringField("短信验证码", filters=[normalized, without_spaces], validators=[
        DataRequired("请输入短信验证码"),
        Regexp(rf"^[0-9]{{{CODE_DIGITS}}}\Z", message=f"请输入短信中的 {CODE_DIGITS} 位数字验证码"),
    ])
