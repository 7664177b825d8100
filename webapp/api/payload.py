"""Strict reading of what API clients send: JSON bodies and query parameters, refused with 400 when malformed."""

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import Request

from webapp.api.errors import ApiError

# The largest id a task row can have (PostgreSQL `integer`); larger ids would fail in the database, not here.
MAX_ID = 2**31 - 1
MAX_INT_DIGITS = 9


def _refuse_constant(name: str) -> None:
    raise ValueError(name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key")
    return dict(pairs)


def json_object(request: Request, allowed: set[str]) -> dict[str, Any]:
    """Return the request body as a JSON object with no keys but `allowed`; anything else is a 400."""
    if not request.is_json:
        raise ApiError(400, "请求体应为 JSON，Content-Type 应为 application/json")
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "请求体不是有效的 JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "请求体应为 JSON 对象")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"不支持的字段：{'、'.join(unknown)}",
                       fields=dict.fromkeys(unknown, "不支持此字段"))
    return body


def optional_string(body: Mapping[str, Any], name: str) -> str | None:
    """Return `body[name]` when it is a string, None when absent or null; another type is a 400."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"字段 {name} 应为字符串", fields={name: "应为字符串"})
    return value


def id_list(body: Mapping[str, Any], name: str) -> list[int]:
    """Return `body[name]` as a list of task ids (positive integers); another shape is a 400."""
    value = body.get(name)
    if not isinstance(value, list) or not all(
            isinstance(item, int) and not isinstance(item, bool) for item in value):
        raise ApiError(400, f"字段 {name} 应为由整数组成的数组", fields={name: "应为由整数组成的数组"})
    if not all(1 <= item <= MAX_ID for item in value):
        raise ApiError(400, f"字段 {name} 中的任务编号应为正整数", fields={name: "任务编号应为正整数"})
    return value


def int_arg(args: Mapping[str, str], name: str, default: int) -> int:
    """Return query parameter `name` as a positive integer (`default` when absent); anything else is a 400."""
    value = args.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_INT_DIGITS) or int(value) < 1:
        raise ApiError(400, f"参数 {name} 应为正整数")
    return int(value)


def date_arg(args: Mapping[str, str], name: str) -> date | None:
    """Return query parameter `name` as a date (YYYY-MM-DD), None when absent; anything else is a 400."""
    value = args.get(name)
    if not value:
        return None
    try:
        if len(value) != len("2026-01-01"):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, f"参数 {name} 的日期格式应为 YYYY-MM-DD") from exc


def str_arg(args: Mapping[str, str], name: str) -> str | None:
    """Return query parameter `name` stripped, None when absent or blank."""
    value = (args.get(name) or "").strip()
    return value or None
