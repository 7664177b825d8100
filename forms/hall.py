"""The service-hall forms: a case search (case number and a spouse's ID number) and identity confirmation."""

from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length

from forms.auth import id_number_field, phone_field, real_name_field
from forms.base import BaseForm, normalized, without_spaces

ID_NUMBER_LENGTH = 18


class HallSearchForm(BaseForm):
    """Both fields are needed; whether they match a case is the hall's question, answered the same way either way."""

    case_number = StringField("受理编号", filters=[normalized, without_spaces], validators=[
        DataRequired("请输入受理编号"), Length(max=20, message="受理编号过长")])
    id_number = StringField("女方或男方公民身份号码", filters=[normalized, without_spaces], validators=[
        DataRequired("请输入公民身份号码"), Length(max=ID_NUMBER_LENGTH, message="公民身份号码为18位")])


class HallPrintForm(BaseForm):
    """Printing repeats the search, so the slip is only ever printed for the case both values found."""

    case_number = HiddenField(filters=[normalized], validators=[DataRequired(), Length(max=20)])
    id_number = HiddenField(filters=[normalized], validators=[DataRequired(), Length(max=ID_NUMBER_LENGTH)])


class IdentityLookupForm(BaseForm):
    """Find the account a person registered, by the phone they registered with."""

    phone = phone_field("申请人注册手机号码")


class IdentityConfirmForm(BaseForm):
    """What staff read from the ID card in front of them, and their word that they checked card and person."""

    phone = HiddenField(filters=[normalized], validators=[DataRequired(), Length(max=11)])
    name = real_name_field("证件姓名")
    id_number = id_number_field("证件上的公民身份号码")
    checked = BooleanField("已核对身份证原件，且持证人为本人", validators=[DataRequired("请先核对身份证原件与本人")])
