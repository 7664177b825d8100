"""The application form (申报表): both spouses, the children they already have, and when the application is made.

Each spouse's birth date and sex must agree with their ID number; divisions are 12-digit village codes chosen with
the cascading picker (or typed). Rules that need the database (known divisions, parity against earlier
registrations) are checked by `processes.applying`, which adds its messages to these fields.
"""

import re

from wtforms import BooleanField, DateField, FieldList, Form, FormField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from engine.calendar import china_today
from forms.base import BaseForm, normalized, without_spaces
from services import identity
from services.accounts import NAME_MAX_LENGTH, PHONE_PATTERN
from services.codes import CHILD_RELATIONS, ETHNICITIES, FEMALE, MARITAL_STATUSES, SEXES

MAX_CHILDREN = 10
# Chinese names, letters for other scripts' transliterations, and the middle dot of minority names.
NAME_PATTERN = r"^[\u3400-\u4dbf\u4e00-\u9fffA-Za-z·• ]+\Z"
NAME_MESSAGE = "姓名只能包含汉字、字母和间隔号「·」"
EMPLOYER_PHONE_PATTERN = r"^(无|[0-9]{3,4}-?[0-9]{7,8}(-[0-9]{1,6})?|1[0-9]{10})\Z"
DOCUMENT_PATTERN = re.compile(r"[0-9A-Z]{6,30}")


def _choices(codes: dict[str, str], prompt: str) -> list[SelectChoice]:
    return [SelectChoice("", prompt), *(SelectChoice(code, label) for code, label in codes.items())]


def _name_field(label: str) -> StringField:
    return StringField(label, filters=[normalized], validators=[
        DataRequired(f"请填写{label}"), Length(max=NAME_MAX_LENGTH, message=f"{label}不能超过 {NAME_MAX_LENGTH} 个字"),
        Regexp(NAME_PATTERN, message=NAME_MESSAGE),
    ])


def _division_field(label: str) -> StringField:
    return StringField(label, filters=[normalized, without_spaces], validators=[
        DataRequired(f"请选择{label}，选到村（居）"),
        Regexp(r"^[0-9]{12}\Z", message=f"{label}应选到村（居），为12位区划代码"),
    ], render_kw={"data-division-picker": "village", "inputmode": "numeric"})


class SpouseForm(Form):
    """One spouse's details; `expected_sex` (a GB/T 2261.1 code) is set by the application form."""

    expected_sex = FEMALE

    name = _name_field("姓名")
    # Optional: the ID number carries the birth date, which fills it when left blank (validate_id_number).
    birth_date = DateField("出生日期", validators=[Optional()], render_kw={"placeholder": "年-月-日"})
    ethnicity = SelectField("民族", choices=_choices(ETHNICITIES, "请选择民族"),
                            validators=[DataRequired("请选择民族")])
    id_number = StringField("身份证号码", filters=[normalized, identity.normalize], validators=[
        DataRequired("请填写身份证号码"), Length(max=18, message="身份证号码应为18位"),
    ], render_kw={"autocomplete": "off", "maxlength": 18})
    phone = StringField("联系电话", filters=[normalized, without_spaces], validators=[
        DataRequired("请填写联系电话"),
        Regexp(rf"^{PHONE_PATTERN.pattern}\Z", message="请填写以 1 开头的 11 位手机号码"),
    ], render_kw={"inputmode": "tel", "autocomplete": "off"})
    employer = StringField("工作单位", filters=[normalized], validators=[
        DataRequired("请填写工作单位，没有的填「无」"), Length(max=100, message="工作单位不能超过 100 个字"),
    ])
    employer_phone = StringField("单位电话", filters=[normalized, lambda v: v and v.replace(" ", "")], validators=[
        DataRequired("请填写单位电话，没有的填「无」"),
        Regexp(EMPLOYER_PHONE_PATTERN, message="单位电话格式如 010-12345678，没有的填「无」"),
    ], render_kw={"inputmode": "tel"})
    marital_status = SelectField("婚姻状况", choices=_choices(MARITAL_STATUSES, "请选择婚姻状况"),
                                 validators=[DataRequired("请选择婚姻状况")])
    hukou_division = _division_field("户籍地")
    residence_division = _division_field("现居住地")

    def validate_id_number(self, field):
        """The number must be valid and agree with the birth date and sex given; a blank birth date is taken from it."""
        try:
            parsed = identity.parse(field.data)
        except identity.InvalidIdNumber as exc:
            raise ValidationError(str(exc)) from None
        if parsed.sex != self.expected_sex:
            raise ValidationError(f"身份证号码显示为{SEXES[parsed.sex]}性，与{self.role_label}不符")
        if self.birth_date.data and self.birth_date.data != parsed.birth_date:
            raise ValidationError(f"身份证号码中的出生日期为 {parsed.birth_date:%Y-%m-%d}，与填写的出生日期不一致")
        if not self.birth_date.data and not self.birth_date.errors:
            self.birth_date.data = parsed.birth_date


class WomanForm(SpouseForm):
    """女方."""

    expected_sex = FEMALE
    role_label = "女方"


class ManForm(SpouseForm):
    """男方."""

    expected_sex = "1"
    role_label = "男方"


class ChildForm(Form):
    """A child the couple (or one of them) already has."""

    name = _name_field("子女姓名")
    sex = SelectField("性别", choices=_choices(SEXES, "请选择性别"), validators=[DataRequired("请选择子女性别")])
    birth_date = DateField("出生日期", validators=[DataRequired("请填写子女出生日期（年-月-日）")],
                           render_kw={"placeholder": "年-月-日"})
    document_number = StringField("身份证号码或出生医学证明编号", filters=[normalized, identity.normalize], validators=[
        DataRequired("请填写子女的身份证号码或出生医学证明编号"),
        Length(max=30, message="证件号码不能超过 30 位"),
    ])
    relation = SelectField("与夫妻的关系", choices=_choices(CHILD_RELATIONS, "请选择关系"),
                           validators=[DataRequired("请选择子女与夫妻的关系")])

    def validate_document_number(self, field):
        """An 18-character number is an ID number and must be valid; other numbers are certificate numbers."""
        if len(field.data) == 18 and field.data[:17].isdigit():
            try:
                parsed = identity.parse(field.data)
            except identity.InvalidIdNumber as exc:
                raise ValidationError(f"子女{exc}") from None
            if self.birth_date.data and parsed.birth_date != self.birth_date.data:
                raise ValidationError("子女身份证号码中的出生日期与填写的出生日期不一致")
        elif not DOCUMENT_PATTERN.fullmatch(field.data):
            raise ValidationError("出生医学证明编号应为 6 至 30 位字母或数字")

    def validate_birth_date(self, field):
        """A child cannot be born in the future."""
        if field.data and field.data > china_today():
            raise ValidationError("子女出生日期不能晚于今天")


class ApplicationForm(BaseForm):
    """The whole application."""

    woman = FormField(WomanForm, label="女方信息")
    man = FormField(ManForm, label="男方信息")
    after_birth = BooleanField("子女已出生（出生后补办登记）")
    children = FieldList(FormField(ChildForm), label="现有子女情况", max_entries=MAX_CHILDREN)


class NoticeForm(BaseForm):
    """The 申报须知 confirmation that gates the application."""

    read = BooleanField("我已阅读并知晓以上申报须知", validators=[DataRequired("请先阅读申报须知并勾选确认")])


class ActionForm(BaseForm):
    """A button that only needs CSRF protection (choose a type, submit, delete a draft)."""
