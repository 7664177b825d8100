"""The public progress lookup: a case number and the contact phone, no account needed."""

from wtforms import StringField
from wtforms.validators import DataRequired, Regexp

from forms.base import BaseForm, normalized, without_spaces
from services.accounts import PHONE_PATTERN


class TrackForm(BaseForm):
    """受理编号 and 手机号码."""

    case_number = StringField("受理编号", filters=[normalized, without_spaces], validators=[
        DataRequired("请输入受理编号"), Regexp(r"^[0-9]{14}\Z", message="受理编号为 14 位数字"),
    ], render_kw={"inputmode": "numeric", "autocomplete": "off"})
    phone = StringField("手机号码", filters=[normalized, without_spaces], validators=[
        DataRequired("请输入申请时填写的手机号码"),
        Regexp(rf"^{PHONE_PATTERN.pattern}\Z", message="请输入以 1 开头的 11 位手机号码"),
    ], render_kw={"inputmode": "tel"})
