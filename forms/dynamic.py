"""Task forms built at run time from their definition (engine.forms): one renderer and one validator for every page.

Each field of the definition becomes a WTForms field of the matching kind; validation is the definition's own check
(engine.forms.check), so the page, the API and the service layer refuse the same things with the same Chinese
messages, each on its field. The typed values land in `form.values`.
"""

from collections.abc import Mapping
from typing import Any

from wtforms import Field, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from engine.forms import FormDefinition, FormField, as_text, check
from forms.base import BaseForm, plain_text

# Longer texts than this get a text area rather than a one-line input.
ONE_LINE_LIMIT = 60
# Up to this many choices are radio buttons; more are a drop-down list.
RADIO_LIMIT = 6
BOOLEAN_CHOICES = (("true", "是"), ("false", "否"))
# Names a field cannot take on a form class (its own attributes), so such ids get a prefix.
_RESERVED = frozenset(dir(BaseForm)) | {"csrf_token", "values", "definition", "meta"}


def html_name(field_id: str) -> str:
    """Return the name a field is posted under: its id, unless that would shadow an attribute of the form."""
    return f"field_{field_id}" if field_id in _RESERVED else field_id


def _render_kw(item: FormField) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if item.readonly:
        attributes["disabled"] = True
    if item.type == "string" and item.limit("maxlength") is not None:
        attributes["maxlength"] = item.limit("maxlength")
    if item.type == "long":
        attributes["inputmode"] = "numeric"
    if item.type == "date":
        attributes["type"] = "date"
        for name in ("min", "max"):
            if item.date_limit(name):
                attributes[name] = item.date_limit(name).isoformat()
    return attributes


def _choices(pairs: tuple[tuple[str, str], ...]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _field(item: FormField) -> Field:
    """Return the unbound WTForms field for one field of a definition (its checks are the definition's)."""
    common = {"label": item.label, "description": item.help, "default": item.default,
              "render_kw": _render_kw(item)}
    if item.type == "enum" and len(item.choices) <= RADIO_LIMIT:
        return RadioField(choices=_choices(item.choices), validate_choice=False, **common)
    if item.type == "enum":
        return SelectField(choices=_choices((("", "请选择"), *item.choices)), validate_choice=False, **common)
    if item.type == "boolean":
        return RadioField(choices=_choices(BOOLEAN_CHOICES), validate_choice=False, **common)
    if item.type == "string" and (item.limit("maxlength") or ONE_LINE_LIMIT + 1) > ONE_LINE_LIMIT:
        return TextAreaField(filters=[plain_text], **common)
    return StringField(filters=[plain_text] if item.type == "string" else [], **common)


class DynamicForm(BaseForm):
    """A task form; subclasses made by `form_class` carry their definition and one field per defined field."""

    definition: FormDefinition
    values: dict[str, Any]

    def bound(self, item: FormField) -> Field:
        """Return the bound field of a defined field."""
        return self[html_name(item.id)]

    def sent(self) -> dict[str, Any]:
        """Return what was posted, by field id."""
        return {item.id: self.bound(item).data for item in self.definition.fields}

    def validate(self, extra_validators: Mapping[str, Any] | None = None) -> bool:
        """Check the CSRF token, then the definition's rules; put each problem on its field."""
        valid = super().validate(extra_validators)
        outcome = check(self.definition, self.sent())
        for field_id, message in outcome.errors.items():
            self.bound(self.definition.field(field_id)).errors.append(message)
        self.values = outcome.values
        return valid and not outcome.errors

    def condition_target(self, item: FormField) -> str | None:
        """Return the posted name of the field a field's display condition reads, None when it always shows."""
        condition = item.condition("showIf")
        return f"{self._prefix}{html_name(condition.field)}" if condition else None

    def shown(self, skip: frozenset[str] = frozenset()) -> list[tuple[FormField, Field]]:
        """Return the defined fields with their bound fields, in order, but those whose ids are in `skip`."""
        return [(item, self.bound(item)) for item in self.definition.fields if item.id not in skip]


def form_class(definition: FormDefinition) -> type[DynamicForm]:
    """Return a form class for a definition."""
    attributes: dict[str, Any] = {html_name(item.id): _field(item) for item in definition.fields}
    return type("TaskForm", (DynamicForm,), {**attributes, "definition": definition})


def posted_text(definition: FormDefinition, values: Mapping[str, Any]) -> dict[str, str]:
    """Return typed values as a page posts them (field name → text): what a browser sends for these values."""
    return {html_name(item.id): as_text(values.get(item.id)) for item in definition.fields
            if values.get(item.id) is not None and not item.readonly}


def cleaned(definition: FormDefinition, sent: Mapping[str, Any]) -> dict[str, Any]:
    """Return values sent as JSON with text cleaned as the page cleans it (no control characters), by field id."""
    kinds = {item.id: item.type for item in definition.fields}
    return {key: plain_text(value) if isinstance(value, str) and kinds.get(key) == "string" else value
            for key, value in sent.items()}
