"""The resource-base endpoints: search persons (the query in a JSON body, never in a URL) and read one person.

They call processes.resource_base like the web pages, so jurisdiction, masking and auditing are the same: officials
get counts and rows without names, numbers are masked unless `reveal=true` is asked for one person (audited), and a
person outside the jurisdiction is a 404 like one that does not exist.
"""

import re
from datetime import UTC, date, datetime
from typing import Any

from flask import g, request
from flask.typing import ResponseReturnValue

from processes import resource_base
from services.codes import CHILD_RELATIONS, ETHNICITIES, MARITAL_STATUSES, SEXES
from services.db import db
from webapp.api.errors import ApiError
from webapp.api.payload import DIVISION_CODE, json_object, optional_string, whole_number

SEARCH_FIELDS = {"query", "division", "page", "page_size"}
MAX_PAGE = 100_000
MAX_QUERY_LENGTH = resource_base.MAX_QUERY_LENGTH


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _division(code: str | None, names: dict[str, str]) -> dict[str, str] | None:
    return {"code": code, "name": names.get(code, code)} if code else None


def _whole_number(body: dict[str, Any], name: str, default: int, maximum: int) -> int:
    value = body.get(name, default)
    if value is None:
        return default
    number = whole_number(value)
    if number is None or not 1 <= number <= maximum:
        raise ApiError(400, f"字段 {name} 应为1到{maximum}之间的整数", fields={name: f"应为1到{maximum}之间的整数"})
    return number


def _query(body: dict[str, Any]) -> str:
    """Return the search text: a string of at most MAX_QUERY_LENGTH characters (another shape is a 400)."""
    query = optional_string(body, "query")
    if query is None:
        raise ApiError(400, resource_base.GUIDANCE, fields={"query": "必填"})
    if len(query) > MAX_QUERY_LENGTH:
        too_long = f"不能超过{MAX_QUERY_LENGTH}个字"
        raise ApiError(400, f"搜索内容{too_long}", fields={"query": too_long})
    return query


def _division_filter(body: dict[str, Any]) -> str | None:
    """Return the division asked for (None for the user's own); a string that is not a division code is a 400."""
    division = optional_string(body, "division")
    if division is not None and not re.fullmatch(DIVISION_CODE, division):
        raise ApiError(400, resource_base.BAD_DIVISION, fields={"division": "应为2、4、6、9或12位数字"})
    return division


def _row_json(row: resource_base.PersonRow, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "masked_name": row.masked_name, "id_number": row.id_number,
        "sex": row.sex, "sex_label": SEXES.get(row.sex, row.sex), "birth_year": row.birth_year, "phone": row.phone,
        "hukou_division": _division(row.hukou_division, names),
        "residence_division": _division(row.residence_division, names), "place": _division(row.place, names),
        "verified": row.verified,
    }


def _count_json(count: resource_base.PlaceCount, names: dict[str, str]) -> dict[str, Any]:
    return {"code": count.code, "name": names.get(count.code, count.code), "count": count.count,
            "parts": [_count_json(part, names) for part in count.parts]}


def search_people() -> ResponseReturnValue:
    """Find persons of the token owner's jurisdiction by whole ID number, whole phone or the start of the name."""
    body = json_object(request, SEARCH_FIELDS)
    query, division = _query(body), _division_filter(body)
    page = _whole_number(body, "page", 1, MAX_PAGE)
    page_size = _whole_number(body, "page_size", resource_base.DEFAULT_PAGE_SIZE, resource_base.MAX_PAGE_SIZE)
    try:
        result = resource_base.search(db.session, g.api_user, query, division=division, page=page,
                                      page_size=page_size)
    except resource_base.ResourceBaseError as exc:
        # The request is well formed; what it asks for is not a searchable ID number, phone or name.
        raise ApiError(422, str(exc), fields={"query": str(exc)}) from None
    return {
        "kind": result.query.kind, "kind_label": resource_base.KINDS[result.query.kind],
        "division": _division(result.scope, result.names) or {"code": result.scope, "name": result.scope},
        "names_visible": result.names_visible, "total": result.total, "page": result.page,
        "page_size": result.page_size, "pages": result.pages,
        "items": [_row_json(row, result.names) for row in result.rows],
        "counts": None if result.counts is None else [_count_json(c, result.names) for c in result.counts],
    }


def _reveal_arg() -> bool:
    value = request.args.get("reveal", "false")
    if value not in {"true", "false", "1", "0"}:
        raise ApiError(400, "参数 reveal 应为 true 或 false")
    return value in {"true", "1"}


def get_person(person_id: int) -> ResponseReturnValue:
    """Return one person of the jurisdiction: verified details, cases, children, history; `reveal=true` audited."""
    page = resource_base.person_page(db.session, g.api_user, person_id, reveal=_reveal_arg(), via="api")
    details, names = page.details, page.names
    return {
        "id": page.id, "names_visible": page.names_visible, "revealed": page.revealed,
        "name": details["name"], "id_number": details["id_number"], "sex": details["sex"],
        "sex_label": SEXES.get(details["sex"], details["sex"]), "birth_year": details["birth_year"],
        "birth_date": _day(details["birth_date"]), "ethnicity": details["ethnicity"],
        "ethnicity_label": ETHNICITIES.get(details["ethnicity"] or ""),
        "marital_status": details["marital_status"],
        "marital_status_label": MARITAL_STATUSES.get(details["marital_status"] or ""),
        "phone": details["phone"], "employer": details["employer"], "employer_phone": details["employer_phone"],
        "hukou_division": _division(details["hukou_division"], names),
        "residence_division": _division(details["residence_division"], names),
        "verified_at": _time(page.verified_at), "created_at": _time(page.created_at),
        "cases": [
            {"case_number": c.case_number, "case_type": c.case_type, "case_type_label": c.type_label,
             "status": c.status, "side": c.side, "hukou_division": _division(c.hukou_division, names),
             "residence_division": _division(c.residence_division, names), "submitted_at": _time(c.submitted_at)}
            for c in page.cases
        ],
        "children": [
            {"name": child.name, "sex": child.sex, "birth_date": _day(child.birth_date),
             "document_number": child.document_number, "relation": child.relation,
             "relation_label": CHILD_RELATIONS.get(child.relation or ""), "case_numbers": list(child.case_numbers)}
            for child in page.children
        ],
        "history": [
            {"field": change.field, "label": change.label, "old_value": change.old, "new_value": change.new,
             "actor": change.actor, "actor_name": change.actor_name, "case_number": change.case_number,
             "at": _time(change.at)}
            for change in page.history
        ],
    }
