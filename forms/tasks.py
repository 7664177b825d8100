"""Task forms: one WTForms class per form key, built from the decisions the form key's spec lists."""

from collections.abc import Collection, Mapping

from wtforms import RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from forms.base import BaseForm, plain_text

REASON_MAX_LENGTH = 500


def decision_form(decisions: Mapping[str, str], reason_required_for: Collection[str]) -> type[BaseForm]:
    """Return a form class with the given decisions (value → label); some decisions require a reason."""

    class DecisionForm(BaseForm):
        decision = RadioField("办理结果", choices=[SelectChoice(value, label) for value, label in decisions.items()],
                              validators=[DataRequired(message="请选择办理结果")])
        reason = TextAreaField("意见或原因", validators=[Length(max=REASON_MAX_LENGTH,
                                                               message=f"原因不能超过{REASON_MAX_LENGTH}字")])

        def validate_reason(self, field: TextAreaField) -> None:
            if self.decision.data in reason_required_for and not (field.data or "").strip():
                raise ValidationError(f"选择「{decisions[self.decision.data]}」时必须填写原因")

    return DecisionForm


class CommentForm(BaseForm):
    """An internal comment on a case."""

    body = TextAreaField("内部意见", filters=[plain_text], validators=[
        DataRequired("请填写意见"), Length(max=REASON_MAX_LENGTH, message=f"意见不能超过{REASON_MAX_LENGTH}字"),
    ])


class ReassignForm(BaseForm):
    """Hand a task to a colleague (the choices are the colleagues who may act on it)."""

    to_user = SelectField("转派给", coerce=int, validators=[DataRequired("请选择转派对象")])
