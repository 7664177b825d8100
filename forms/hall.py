"""The service-hall forms: printing a found case's slip, and identity confirmation (the search is
forms.case_lookup)."""

from wtforms import BooleanField, HiddenField
from wtforms.validators import DataRequired, Length

from forms.auth import id_number_field, phone_field, real_name_field
from forms.base import BaseForm, normalized
from forms.case_lookup import CASE_NUMBER_LENGTH


class HallPrintForm(BaseForm):
    """The case to print, by number; printing checks again that the case lies in the hall's township."""

    case_number = HiddenField(filters=[normalized], validators=[DataRequired(), Length(max=CASE_NUMBER_LENGTH)])


class IdentityLookupForm(BaseForm):
    """Find the account a person registered, by the phone they registered with."""

    phone = phone_field("申请人注册手机号码")


class IdentityConfirmForm(BaseForm):
    """What staff read from the ID card in front of them, and their word that they checked card and person."""

    phone = HiddenField(filters=[normalized], validators=[DataRequired(), Length(max=11)])
    name = real_name_field("证件姓名")
    id_number = id_number_field("证件上的公民身份号码")
    checked = BooleanField("已核对身份证原件，且持证人为本人", validators=[DataRequired("请先核对身份证原件与本人")])
