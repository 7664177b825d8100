"""Finding a case: one form, three ways — by 受理编号, by a spouse's ID number, or by a spouse's name and birth date.

Only the fields of the chosen way are checked, so a half-filled other way never blocks a search. The service hall
asks for the birth date with a name (a name alone is shared by many); officials may leave it out and get a list.
"""

from wtforms import DateField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from forms.auth import id_number_field, real_name_field
from forms.base import BaseForm, normalized, without_spaces

CASE_NUMBER_LENGTH = 20
WAYS = {"case_number": "受理编号", "id_number": "身份证号码", "name": "姓名和出生日期"}
# The fields each way reads.
WAY_FIELDS = {"case_number": ("case_number",), "id_number": ("id_number",), "name": ("name", "birth_date")}


class CaseLookupForm(BaseForm):
    """Find a case the way the person at the counter can tell it: its number, an ID number, or name and birth date."""

    way = RadioField("查找方式", choices=[SelectChoice(key, label) for key, label in WAYS.items()],
                     default="case_number", validators=[InputRequired("请选择查找方式")])
    case_number = StringField("受理编号", filters=[normalized, without_spaces], validators=[
        DataRequired("请输入受理编号"), Length(max=CASE_NUMBER_LENGTH, message="受理编号过长"),
        Regexp(r"^[0-9]+$", message="受理编号只包含数字")])
    id_number = id_number_field("女方或男方身份证号码")
    name = real_name_field("女方或男方姓名")
    birth_date = DateField("出生日期", validators=[DataRequired("请输入出生日期（年-月-日）")])

    def validate(self, extra_validators=None) -> bool:
        """Check the CSRF token, the way, and the fields of that way only."""
        extra = extra_validators or {}
        names = ["way", *WAY_FIELDS.get(self.way.data, ())]
        if "csrf_token" in self:
            names.insert(0, "csrf_token")
        results = [self[name].validate(self, extra.get(name, ())) for name in names]
        return all(results)

    @property
    def criteria(self) -> dict:
        """Return what to look for, as keyword arguments of processes.case_lookup.find_cases."""
        return {name: self[name].data for name in WAY_FIELDS[self.way.data]}


class OfficialCaseLookupForm(CaseLookupForm):
    """The officials' case query: the birth date narrows a name search but is not required."""

    birth_date = DateField("出生日期（可不填）", validators=[Optional()])
