"""Administration forms: a new staff account, searches of staff and cases."""

from collections.abc import Mapping

from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from forms.base import BaseForm, normalized, without_spaces
from services.accounts import NAME_MAX_LENGTH, PASSWORD_MAX_LENGTH

DIVISION_CODE_MAX_LENGTH = 12
SEARCH_MAX_LENGTH = 50


def staff_form(roles: Mapping[str, str]) -> type[BaseForm]:
    """Return the form class for a new staff account, offering `roles` (key → Chinese label).

    The form only asks that every field is filled in; whether the values make an account (phone unused, division
    of the role's level, password policy) is checked by services.accounts.staff_account_problems, as in the CLI.
    """
    choices = [SelectChoice("", "请选择"), *(SelectChoice(key, label) for key, label in roles.items())]

    class StaffForm(BaseForm):
        phone = StringField("手机号码", filters=[normalized, without_spaces], validators=[
            DataRequired("请输入手机号码"), Length(max=20, message="手机号码过长")])
        name = StringField("姓名", filters=[normalized], validators=[
            DataRequired("请输入姓名"), Length(max=NAME_MAX_LENGTH, message=f"姓名不超过 {NAME_MAX_LENGTH} 个字")])
        # The role is checked against the staff roles with the same message as the CLI, not WTForms' own.
        role = SelectField("角色", choices=choices, validate_choice=False, validators=[DataRequired("请选择角色")])
        division_code = StringField("所属区划代码", filters=[normalized, without_spaces], validators=[
            DataRequired("请输入所属区划代码"),
            Length(max=DIVISION_CODE_MAX_LENGTH, message=f"区划代码不超过 {DIVISION_CODE_MAX_LENGTH} 位")])
        password = PasswordField("初始密码", validators=[
            DataRequired("请输入初始密码"),
            Length(max=PASSWORD_MAX_LENGTH, message=f"密码不能超过 {PASSWORD_MAX_LENGTH} 位")])

    return StaffForm
