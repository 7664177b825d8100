"""Task forms as data: the `camunda:formData` a user task declares, read into frozen records, checked, and applied.

A form is a list of fields (id, label, type string / long / boolean / date / enum with its values, default value,
constraints required / minlength / maxlength / min / max / readonly, and properties such as help text). A field may
be shown only when another field has a value (`showIf`, e.g. `decision == mismatch`) and required only then
(`requiredIf`); the condition language is one comparison, parsed here and never evaluated as code.

`check` is the one rule set every way of submitting a form goes through (the web pages, the API, the service
layer): it turns what was sent into typed values (int, bool, ISO date text, str) or refuses it with a Chinese message
on the field concerned. The engine knows fields as generic data: what a field means to the product is said by its
properties (e.g. `decision`, `reason`), which the engine passes on without reading.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lxml import etree

CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_NS = {"bpmn": BPMN, "camunda": CAMUNDA}

FIELD_TYPES = {"string": "文本", "long": "整数", "boolean": "是/否", "date": "日期", "enum": "选项"}
# Which constraints make sense for which types (`required` and `readonly` for all).
CONSTRAINT_TYPES = {
    "required": frozenset(FIELD_TYPES), "readonly": frozenset(FIELD_TYPES),
    "minlength": frozenset({"string"}), "maxlength": frozenset({"string"}),
    "min": frozenset({"long", "date"}), "max": frozenset({"long", "date"}),
}
CONDITION_PROPERTIES = ("showIf", "requiredIf")
FIELD_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,59}")
_CONDITION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=)\s*(?:'([^']*)'|\"([^\"]*)\"|([^\s'\"]+))\s*")
# Integers a form takes: what a JavaScript client and PostgreSQL bigint both hold exactly.
LONG_LIMIT = 2**53 - 1
TRUE_TEXTS = frozenset({"true", "1", "y", "yes", "on"})
FALSE_TEXTS = frozenset({"false", "0", "n", "no", "off"})
REQUIRED = "此项为必填项"
# Enum values are recorded as decisions and compared in conditions: short codes, not prose.
MAX_VALUE_LENGTH = 30


@dataclass(frozen=True)
class Condition:
    """`<field> == <value>` or `<field> != <value>`: compared with the text of the field's typed value."""

    field: str
    operator: str
    value: str

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Return whether the condition is true of the (typed) values."""
        equal = as_text(values.get(self.field)) == self.value
        return equal if self.operator == "==" else not equal

    def __str__(self) -> str:
        return f"{self.field} {self.operator} {self.value}"


def parse_condition(text: str) -> Condition | None:
    """Return the condition `text` states, None when it is not one comparison of a field with a value."""
    found = _CONDITION.fullmatch(text or "")
    if found is None:
        return None
    name, operator, *values = found.groups()
    return Condition(name, operator, next(v for v in values if v is not None))


def as_text(value: Any) -> str:
    """Return a typed value as conditions and choices compare it: `true`/`false`, digits, ISO dates, text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class FormField:
    """One field of a task form, as the diagram declares it."""

    id: str
    label: str
    type: str
    choices: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    # Constraint name → its configuration text ("" for required and readonly).
    constraints: Mapping[str, str] = field(default_factory=dict)
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def required(self) -> bool:
        """Return whether the field must be filled whenever it is shown."""
        return "required" in self.constraints

    @property
    def readonly(self) -> bool:
        """Return whether the field only shows its default value (what is sent for it is ignored)."""
        return "readonly" in self.constraints

    @property
    def help(self) -> str:
        """Return the field's help text (property `help`)."""
        return self.properties.get("help", "")

    def limit(self, name: str) -> int | None:
        """Return a whole-number constraint (minlength, maxlength, min and max of a long), None if absent or bad."""
        text = self.constraints.get(name, "").strip()
        return int(text) if re.fullmatch(r"-?[0-9]{1,18}", text) else None

    def date_limit(self, name: str) -> date | None:
        """Return a date constraint (min, max of a date field), None if absent or not an ISO date."""
        return _iso_date(self.constraints.get(name, ""))

    def condition(self, name: str) -> Condition | None:
        """Return the parsed `showIf` or `requiredIf` condition of the field, None when it has none."""
        text = self.properties.get(name)
        return parse_condition(text) if text is not None else None

    def choice_label(self, value: Any) -> str:
        """Return the label of a value of this field (an enum's value label, 是/否), else the value as text."""
        text = as_text(value)
        if self.type == "boolean" and text in {"true", "false"}:
            return "是" if value else "否"
        return dict(self.choices).get(text, text)


@dataclass(frozen=True)
class FormDefinition:
    """A task form: its fields in order, and the properties of the form as a whole."""

    fields: tuple[FormField, ...]
    properties: Mapping[str, str] = field(default_factory=dict)

    def field(self, field_id: str) -> FormField | None:
        """Return the field with this id, None when the form has none."""
        return next((f for f in self.fields if f.id == field_id), None)

    def marked(self, name: str) -> FormField | None:
        """Return the field whose property `name` is `true`, else the field whose id is `name`."""
        return next((f for f in self.fields if f.properties.get(name, "").lower() == "true"), None) or self.field(name)


@dataclass(frozen=True)
class FormOutcome:
    """What `check` made of a submission: every field's typed value, and the problems by field id."""

    values: dict[str, Any]
    errors: dict[str, str]


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text or "") == len("2026-01-01") else None
    except ValueError:
        return None


def _field_properties(node: etree._Element) -> dict[str, str]:
    # The modeler writes `id` for a form field's properties and `name` for an element's: take either.
    return {(p.get("id") or p.get("name") or ""): p.get("value", "")
            for p in node.xpath("./camunda:properties/camunda:property", namespaces=_NS)}


def read_form(node: etree._Element) -> FormDefinition | None:
    """Read the `camunda:formData` of a user task element, None when it declares none."""
    found = node.xpath("./bpmn:extensionElements/camunda:formData", namespaces=_NS)
    if not found:
        return None
    fields = []
    for item in found[0].xpath("./camunda:formField", namespaces=_NS):
        constraints = {c.get("name", ""): c.get("config", "") or ""
                       for c in item.xpath("./camunda:validation/camunda:constraint", namespaces=_NS)}
        fields.append(FormField(
            id=item.get("id", ""), label=(item.get("label") or "").strip(), type=item.get("type", ""),
            choices=tuple((v.get("id", ""), (v.get("name") or v.get("id", "")).strip())
                          for v in item.xpath("./camunda:value", namespaces=_NS)),
            default=item.get("defaultValue"), constraints=constraints, properties=_field_properties(item),
        ))
    return FormDefinition(tuple(fields), _field_properties(found[0]))


# -- lint ---------------------------------------------------------------------------------------------------------


def _condition_problems(form: FormDefinition, item: FormField, name: str) -> list[str]:
    text = item.properties.get(name)
    if text is None:
        return []
    condition = parse_condition(text)
    if condition is None:
        return [f"字段 {item.id} 的条件 {name}「{text}」无法识别，应写成「字段 == 值」或「字段 != 值」"]
    target = form.field(condition.field)
    if target is None or target is item:
        return [f"字段 {item.id} 的条件 {name}「{text}」引用了不存在的字段 {condition.field}"]
    if target.type == "enum" and condition.value not in dict(target.choices):
        return [f"字段 {item.id} 的条件 {name}「{text}」中，{condition.field} 没有取值 {condition.value}，"
                f"可选：{', '.join(dict(target.choices)) or '无'}"]
    if target.type == "boolean" and condition.value not in {"true", "false"}:
        return [f"字段 {item.id} 的条件 {name}「{text}」中，是/否字段 {condition.field} 只能取 true 或 false"]
    return []


def _constraint_problems(item: FormField) -> list[str]:
    problems = []
    for name, config in item.constraints.items():
        if name not in CONSTRAINT_TYPES:
            problems.append(f"字段 {item.id} 有未知的校验规则 {name}，可用：{', '.join(CONSTRAINT_TYPES)}")
        elif item.type in FIELD_TYPES and item.type not in CONSTRAINT_TYPES[name]:
            problems.append(f"字段 {item.id}：校验规则 {name} 不适用于{FIELD_TYPES[item.type]}字段（{item.type}）")
        elif name in {"minlength", "maxlength"} and (item.limit(name) is None or item.limit(name) < 0):
            problems.append(f"字段 {item.id}：校验规则 {name} 应为非负整数，而不是「{config}」")
        elif name in {"min", "max"} and item.type == "long" and item.limit(name) is None:
            problems.append(f"字段 {item.id}：校验规则 {name} 应为整数，而不是「{config}」")
        elif name in {"min", "max"} and item.type == "date" and item.date_limit(name) is None:
            problems.append(f"字段 {item.id}：校验规则 {name} 应为日期（YYYY-MM-DD），而不是「{config}」")
    for low, high in (("minlength", "maxlength"), ("min", "max")):
        lower = item.date_limit(low) if item.type == "date" else item.limit(low)
        upper = item.date_limit(high) if item.type == "date" else item.limit(high)
        if lower is not None and upper is not None and lower > upper:
            problems.append(f"字段 {item.id}：{low}（{item.constraints[low]}）大于 {high}（{item.constraints[high]}）")
    return problems


def _field_problems(form: FormDefinition, item: FormField) -> list[str]:
    if not FIELD_ID.fullmatch(item.id):
        return [f"字段 ID「{item.id}」无效：应以字母开头，只含字母、数字和下划线（条件中按 ID 引用字段）"]
    problems = []
    if not item.label:
        problems.append(f"字段 {item.id} 缺少标签（label）")
    if item.type not in FIELD_TYPES:
        problems.append(f"字段 {item.id} 的类型 {item.type or '（未填写）'} 未知，可用：{', '.join(FIELD_TYPES)}")
    if item.type == "enum" and not item.choices:
        problems.append(f"字段 {item.id} 是选项字段（enum），但没有任何取值（camunda:value）")
    values = [value for value, _ in item.choices]
    if len(values) != len(set(values)) or "" in values:
        problems.append(f"字段 {item.id} 的取值 ID 为空或重复")
    problems += [f"字段 {item.id} 的取值 ID「{value[:40]}」过长（最多 {MAX_VALUE_LENGTH} 个字符）"
                 for value in values if len(value) > MAX_VALUE_LENGTH]
    if item.choices and item.type != "enum":
        problems.append(f"字段 {item.id} 不是选项字段，不能有取值（camunda:value）")
    problems += _constraint_problems(item)
    for name in CONDITION_PROPERTIES:
        problems += _condition_problems(form, item, name)
    if item.default not in (None, "") and item.type in FIELD_TYPES:
        problems += [f"字段 {item.id} 的默认值「{item.default}」无效：{message}"
                     for message in [_typed(item, item.default)[1]] if message]
    return problems


def form_problems(form: FormDefinition) -> list[str]:
    """Return every mistake of a form definition (the caller names the element); empty when it is usable."""
    problems = []
    if not form.fields:
        problems.append("没有任何字段（camunda:formData）")
    ids = [item.id for item in form.fields]
    problems += [f"字段 ID {item_id} 重复" for item_id in sorted({i for i in ids if ids.count(i) > 1})]
    for item in form.fields:
        problems += _field_problems(form, item)
    return problems


# -- checking a submission ----------------------------------------------------------------------------------------


def _long(item: FormField, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and re.fullmatch(r"[-+]?[0-9]{1,16}", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > LONG_LIMIT:
        return None, "请输入整数"
    return value, None


def _boolean(item: FormField, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, bool):
        return value, None
    if isinstance(value, str) and value.lower() in TRUE_TEXTS | FALSE_TEXTS:
        return value.lower() in TRUE_TEXTS, None
    return None, "请选择“是”或“否”"


def _date(item: FormField, value: Any) -> tuple[Any, str | None]:
    parsed = _iso_date(value) if isinstance(value, str) else None
    return (parsed.isoformat(), None) if parsed else (None, "请输入有效日期（如 2026-03-01）")


def _enum(item: FormField, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and value in dict(item.choices):
        return value, None
    return None, f"请从给定选项中选择（{'、'.join(label for _, label in item.choices)}）"


def _string(item: FormField, value: Any) -> tuple[Any, str | None]:
    return (value, None) if isinstance(value, str) else (None, "应为文本")


_PARSERS = {"string": _string, "long": _long, "boolean": _boolean, "date": _date, "enum": _enum}


def _typed(item: FormField, raw: Any) -> tuple[Any, str | None]:
    """Return (typed value, None) for what was sent for a field, (None, None) when empty, or (None, message)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    parse = _PARSERS.get(item.type)
    return parse(item, raw.strip() if isinstance(raw, str) else raw) if parse else (None, "无法识别的字段类型")


def _length_problem(item: FormField, value: str) -> str | None:
    longest, shortest = item.limit("maxlength"), item.limit("minlength")
    if longest is not None and len(value) > longest:
        return f"长度不能超过 {longest} 个字"
    if shortest is not None and len(value) < shortest:
        return f"长度不能少于 {shortest} 个字"
    return None


def _range_problem(item: FormField, value: Any) -> str | None:
    if item.type == "date":
        earliest, latest = item.date_limit("min"), item.date_limit("max")
        if earliest is not None and value < earliest.isoformat():
            return f"不能早于 {earliest.isoformat()}"
        if latest is not None and value > latest.isoformat():
            return f"不能晚于 {latest.isoformat()}"
        return None
    low, high = item.limit("min"), item.limit("max")
    if low is not None and value < low:
        return f"不能小于 {low}"
    if high is not None and value > high:
        return f"不能大于 {high}"
    return None


def _limits(item: FormField, value: Any) -> str | None:
    """Return what is wrong with a typed value against the field's length and range constraints, if anything."""
    if item.type == "string":
        return _length_problem(item, value)
    if item.type in {"long", "date"}:
        return _range_problem(item, value)
    return None


def _required_message(form: FormDefinition, item: FormField, condition: Condition | None) -> str:
    target = form.field(condition.field) if condition else None
    if condition is None or target is None or condition.operator != "==":
        return REQUIRED
    chosen = f"「{target.choice_label(condition.value)}」"
    return f"{'选择' if target.type == 'enum' else target.label + '为'}{chosen}时必须填写{item.label}"


def visible(item: FormField, values: Mapping[str, Any]) -> bool:
    """Return whether a field is shown given the other fields' typed values (no `showIf`: always)."""
    condition = item.condition("showIf")
    return condition is None or condition.holds(values)


def check(form: FormDefinition, sent: Mapping[str, Any]) -> FormOutcome:
    """Validate what was sent for a form (text from a page, or JSON values) and return it typed, or its problems.

    A read-only field takes its default whatever was sent; a hidden field (its `showIf` false) is not checked and
    its value is None; an empty text field is "" and any other empty field None.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in form.fields:
        value, problem = _typed(item, item.default if item.readonly else sent.get(item.id))
        values[item.id] = value
        if problem:
            errors[item.id] = problem
    for item in form.fields:
        if not visible(item, values):
            values[item.id] = None
            errors.pop(item.id, None)
            continue
        if item.id in errors or item.readonly:
            continue
        value = values[item.id]
        needed = item.condition("requiredIf")
        if value is None and (item.required or (needed is not None and needed.holds(values))):
            errors[item.id] = _required_message(form, item, needed if not item.required else None)
        elif value is not None and (problem := _limits(item, value)):
            errors[item.id] = problem
        if value is None and item.type == "string":
            values[item.id] = ""
    return FormOutcome(values, errors)


def sample_values(form: FormDefinition, chosen: Mapping[str, str]) -> dict[str, Any]:
    """Return values a form accepts with some fields set (`chosen`, field id → value text): for dry runs."""
    sent: dict[str, Any] = {}
    for item in form.fields:
        low = item.date_limit("min") if item.type == "date" else None
        samples = {"string": "试运行" * max(1, (item.limit("minlength") or 0)), "boolean": "true",
                   "long": str(max(item.limit("min") or 0, min(0, item.limit("max") or 0))),
                   "date": (low or date(2026, 1, 1)).isoformat(),
                   "enum": item.choices[0][0] if item.choices else ""}
        sent[item.id] = chosen.get(item.id, item.default or samples.get(item.type, ""))
    outcome = check(form, sent)
    longest = {i.id: i.limit("maxlength") for i in form.fields if i.type == "string"}
    return {key: value[: longest[key]] if isinstance(value, str) and longest.get(key) else value
            for key, value in outcome.values.items()}
