"""The workbench's own forms beside a task's form (which forms.dynamic builds from its definition)."""

from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from forms.base import BaseForm, plain_text

REASON_MAX_LENGTH = 500


class CommentForm(BaseForm):
    """An internal comment on a case."""

    body = TextAreaField("内部意见", filters=[plain_text], validators=[
        DataRequired("请填写意见"), Length(max=REASON_MAX_LENGTH, message=f"意见不能超过{REASON_MAX_LENGTH}字"),
    ])


class ReassignForm(BaseForm):
    """Hand a task to a colleague (the choices are the colleagues who may act on it)."""

    to_user = SelectField("转派给", coerce=int, validators=[DataRequired("请选择转派对象")])
