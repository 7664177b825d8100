"""The service-hall search: a case number and the ID number of either spouse."""

from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

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
