"""Strict reading of what API clients send: JSON bodies and query parameters, refused with 400 when malformed."""

import json
import re
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from flask import Request

from engine.forms import FormDefinition
from forms.dynamic import cleaned
from services.divisions import CODE_LENGTHS
from webapp.api.errors import ApiError

# The largest id a task row can have (PostgreSQL `integer`); larger ids would fail in the database, not here.
MAX_ID = 2**31 - 1
MAX_INT_DIGITS = 9

# The shapes the OpenAPI document promises (webapp.api.openapi uses these same patterns): a value that matches is
# read, one that does not is a 400, so what the document allows and what the code accepts cannot drift apart.
DIVISION_CODE = "^(" + "|".join(f"[0-9]{{{length}}}" for length in sorted(CODE_LENGTHS.values())) + ")$"
COUNTING_DIVISION_CODE = "^(" + "|".join(  # statistics count down to townships, not villages
    f"[0-9]{{{length}}}" for level, length in sorted(CODE_LENGTHS.items()) if level < max(CODE_LENGTHS)) + ")$"
MONTH = "^2[0-9]{3}-(0[1-9]|1[0-2])$"


def _refuse_constant(name: str) -> None:
    raise ValueError(name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def json_object(request: Request, allowed: set[str], unknown_status: int = 400) -> dict[str, Any]:
    """Return the request body as a JSON object with no keys but `allowed`; anything else is a 400.

    Unknown keys get `unknown_status`: 422 where the keys are a task form's fields, which the document cannot list.
    """
    if not request.is_json:
        raise ApiError(400, "请求体应为 JSON，Content-Type 应为 application/json")
    raw = request.get_data()  # cached: a transaction run again (services.db.retry_transaction) reads it again
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "请求体不是有效的 JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "请求体应为 JSON 对象")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(unknown_status, f"不支持的字段：{'、'.join(unknown)}",
                       fields=dict.fromkeys(unknown, "不支持此字段"))
    return body


def form_payload(request: Request, form: FormDefinition) -> dict[str, Any]:
    """Return the body completing a task: a JSON object keyed by the form's field ids (any other key is a 400).

    Its values are checked by the form's own definition (engine.forms.check, through the use case), the one rule set
    the task page uses too; text is cleaned the way the page cleans it. A key the form lacks or a value of the
    wrong JSON type is a 422 with the field named, as the form's own refusals are.
    """
    body = json_object(request, {item.id for item in form.fields}, unknown_status=422)
    for item in form.fields:
        value = body.get(item.id)
        kind = JSON_KINDS.get(item.type, "字符串")
        if value is not None and not _is_kind(value, kind):
            raise ApiError(422, f"字段 {item.id} 应为{kind}", fields={item.id: f"应为{kind}"})
        if value is not None and kind == "整数":
            body[item.id] = whole_number(value)  # 3.0 is the integer 3, as JSON Schema counts it
    return cleaned(form, body)


# The JSON type of each form field type's value (null is always accepted: a field left empty or hidden).
JSON_KINDS = {"string": "字符串", "enum": "字符串", "date": "字符串", "long": "整数", "boolean": "true 或 false"}


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "整数":
        return whole_number(value) is not None
    if kind == "true 或 false":
        return isinstance(value, bool)
    return isinstance(value, str)


def optional_string(body: Mapping[str, Any], name: str) -> str | None:
    """Return `body[name]` when it is a string, None when absent or null; another type is a 400."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"字段 {name} 应为字符串", fields={name: "应为字符串"})
    return value


def whole_number(value: Any) -> int | None:
    """Return a JSON number that is whole (`3`, and `3.0` as JSON Schema's "integer" allows) as an int, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def id_list(body: Mapping[str, Any], name: str) -> list[int]:
    """Return `body[name]` as a list of task ids (whole numbers from 1 to MAX_ID); another shape is a 400."""
    value = body.get(name)
    ids = [whole_number(item) for item in value] if isinstance(value, list) else None
    if ids is None or None in ids:
        raise ApiError(400, f"字段 {name} 应为由整数组成的数组", fields={name: "应为由整数组成的数组"})
    if not all(1 <= item <= MAX_ID for item in ids):
        raise ApiError(400, f"字段 {name} 中的任务编号应为正整数", fields={name: "任务编号应为正整数"})
    return ids


def int_arg(args: Mapping[str, str], name: str, default: int) -> int:
    """Return query parameter `name` as a positive integer (`default` when absent); anything else is a 400."""
    value = args.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_INT_DIGITS) or int(value) < 1:
        raise ApiError(400, f"参数 {name} 应为正整数")
    return int(value)


def date_arg(args: Mapping[str, str], name: str) -> date | None:
    """Return query parameter `name` as a date (YYYY-MM-DD), None when absent; anything else (blank too) is a 400."""
    value = args.get(name)
    if value is None:
        return None
    try:
        if len(value) != len("2026-01-01"):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, f"参数 {name} 的日期格式应为 YYYY-MM-DD") from exc


def pattern_arg(args: Mapping[str, str], name: str, pattern: str, message: str) -> str | None:
    """Return query parameter `name` as sent, None when absent; present but not matching `pattern` is a 400."""
    value = args.get(name)
    if value is not None and not re.fullmatch(pattern, value):
        raise ApiError(400, message)
    return value


def choice_arg(args: Mapping[str, str], name: str, choices: Collection[str], message: str) -> str | None:
    """Return query parameter `name`, None when absent; present but not one of `choices` (blank too) is a 400."""
    value = args.get(name)
    if value is not None and value not in choices:
        raise ApiError(400, message)
    return value


def str_arg(args: Mapping[str, str], name: str, max_length: int | None = None, label: str | None = None) -> str | None:
    """Return query parameter `name` stripped, None when absent or blank; longer than `max_length` is a 400."""
    value = args.get(name) or ""
    if max_length is not None and len(value) > max_length:
        raise ApiError(400, f"{label or '参数 ' + name}不能超过{max_length}个字")
    return value.strip() or None
