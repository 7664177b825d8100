"""The task endpoints: the inbox, one task with its case and form schema, claiming, releasing and completing.

They call the same use cases as the HTML workbench (processes.inbox, processes.casework), so visibility, claims,
conflicts and the audit trail are the same whichever way a staff member works.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from engine.errors import NotFound, TaskConflict
from engine.forms import FormDefinition, FormField
from engine.models import HumanTaskModel, ProcessInstanceModel
from processes import casework, inbox
from processes.casework import CaseworkError, Forbidden, FormRejected
from processes.forms import decision_field, decision_label
from processes.jurisdiction import may_act, may_see_task
from processes.overview import actor_names
from processes.roles import ROLES
from processes.task_forms import recorded_fields, step_forms, task_form
from services import cases, divisions, identity
from services.accounts import UserModel
from services.cases import CASE_TYPES, CaseModel
from services.db import db, retry_transaction
from webapp.api.errors import ApiError
from webapp.api.openapi import payload_schema
from webapp.api.payload import (
    DIVISION_CODE,
    MAX_ID,
    choice_arg,
    date_arg,
    form_payload,
    id_list,
    int_arg,
    json_object,
    pattern_arg,
    str_arg,
    whole_number,
)
from webapp.filters import mask_phone

TASK_NOT_FOUND = "任务不存在"


def _me() -> UserModel:
    return g.api_user


def _time(moment: datetime | None) -> str | None:
    """Return a timestamp as ISO 8601 in UTC (`…Z`)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _division(code: str | None) -> dict[str, str] | None:
    if not code:
        return None
    try:
        name = divisions.full_name(db.session, code)
    except LookupError:
        name = code
    return {"code": code, "name": name}


# -- representations ----------------------------------------------------------------------------------------------


def _row_json(row: inbox.InboxRow, me: UserModel) -> dict[str, Any]:
    return {
        "id": row.task_id, "name": row.name, "form_key": row.form_key, "bpmn_id": row.bpmn_id,
        "case_number": row.case_number, "case_type": row.case_type, "case_type_label": row.case_type_label,
        "woman_name": row.woman_name, "man_name": row.man_name, "case_status": row.case_status,
        "division_code": row.division_code, "status": row.status, "due_at": _time(row.due_at),
        "overdue": row.overdue, "claimed_by": row.claimed_by, "claimed_by_me": row.claimed_by == me.actor,
        "claimed_at": _time(row.claimed_at), "created_at": _time(row.created_at),
        "completed_at": _time(row.completed_at),
    }


def task_json(task: HumanTaskModel, me: UserModel) -> dict[str, Any]:
    """Return the JSON of one task row."""
    # The user asking is named without a query: after a claim or a completion both actors are usually she.
    names = {me.actor: me.name} | actor_names(db.session, {task.claimed_by, task.completed_by} - {me.actor})
    overdue = task.status == "open" and task.due_at is not None and task.due_at < datetime.now(UTC)
    return {
        "id": task.id, "name": task.name, "form_key": task.form_key, "bpmn_id": task.bpmn_id,
        "case_number": task.business_key, "role": task.role, "role_label": ROLES.get(task.role, task.role),
        "division": _division(task.division_code), "status": task.status, "due_at": _time(task.due_at),
        "overdue": overdue, "claimed_by": task.claimed_by, "claimed_by_name": names.get(task.claimed_by or ""),
        "claimed_by_me": task.claimed_by == me.actor, "claimed_at": _time(task.claimed_at),
        "completed_by": task.completed_by, "completed_by_name": names.get(task.completed_by or ""),
        "completed_at": _time(task.completed_at), "created_at": _time(task.created_at),
    }


def case_json(case: CaseModel) -> dict[str, Any]:
    """Return the summary of a case a task belongs to; the contact phone is masked."""
    forms = step_forms(db.session, case.instance_id)
    recorded = recorded_fields(db.session, case.instance_id)
    return {
        "case_number": case.case_number, "case_type": case.case_type, "case_type_label": case.type_label,
        "status": case.status, "woman_name": case.woman_name, "man_name": case.man_name,
        "contact_phone": mask_phone(case.contact_phone), "hukou_division": _division(case.hukou_division),
        "residence_division": _division(case.residence_division), "submitted_at": _time(case.submitted_at),
        "status_changed_at": _time(case.status_changed_at),
        "decisions": [
            {"step": v.step, "step_name": v.step_name, "decision": v.decision,
             "decision_label": decision_label(forms.get(v.step), v.decision), "reason": v.reason,
             "office_division": v.office_division, "at": _time(v.at)}
            for v in cases.verifications(db.session, case)
        ],
        "results": [{"step": step, "fields": [{"label": label, "value": value, "display": shown}
                                              for label, shown, value in rows]}
                    for step, rows in recorded.items()],
    }


def _condition_json(item: FormField, name: str) -> dict[str, str] | None:
    condition = item.condition(name)
    return {"field": condition.field, "operator": condition.operator, "value": condition.value} if condition else None


def _field_json(item: FormField) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": item.id, "label": item.label, "type": item.type, "required": item.required,
        "readonly": item.readonly, "default": item.default, "help": item.help,
        "min_length": item.limit("minlength"), "max_length": item.limit("maxlength"),
        "minimum": item.limit("min") if item.type == "long" else item.constraints.get("min"),
        "maximum": item.limit("max") if item.type == "long" else item.constraints.get("max"),
        "choices": [{"value": value, "label": label} for value, label in item.choices] if item.type == "enum" else None,
        "show_if": _condition_json(item, "showIf"), "required_if": _condition_json(item, "requiredIf"),
    }
    return {key: value for key, value in found.items() if value is not None and value != ""}


def form_schema(task: HumanTaskModel) -> dict[str, Any] | None:
    """Return a task's form for clients to draw and validate: its fields and the JSON Schema of the request body."""
    form = task_form(db.session, task)
    if form is None:
        return None
    return {"form_key": task.form_key, "title": task.name,
            "fields": [_field_json(item) for item in form.fields], "payload_schema": payload_schema(form)}


# -- lookups ------------------------------------------------------------------------------------------------------


def _task(task_id: int) -> HumanTaskModel:
    """Return a task row or raise 404 (ids beyond the column's range are unknown, not database errors)."""
    # With its instance and definition in the same statement: the form lookup that follows needs both. The
    # instance's state is left out; the engine reads it under the instance's lock.
    task = db.session.get(HumanTaskModel, task_id, options=[
        joinedload(HumanTaskModel.instance).defer(ProcessInstanceModel.state)
        .joinedload(ProcessInstanceModel.definition)]) if task_id <= MAX_ID else None
    if task is None:
        raise NotFound(TASK_NOT_FOUND)
    return task


def _visible_task(task_id: int) -> HumanTaskModel:
    """Return a task the user may act on or has completed, as the workbench's task page does; else 403."""
    task = _task(task_id)
    me = _me()
    if not may_see_task(me, task):
        raise Forbidden("您无权查看或办理该任务")
    return task


# -- endpoints ----------------------------------------------------------------------------------------------------


INBOX_FILTERS = frozenset({"view", "case_type", "case_status", "division", "due_before", "search", "page",
                           "page_size"})
ID_NUMBER_IN_URL = ("身份证号码不能放在网址中（网址会留在访问日志和浏览记录里）："
                    "请用 POST /api/v1/tasks/search，把号码放在请求体中")


def _inbox_query(args: Mapping[str, str]) -> inbox.InboxQuery:
    """Return the inbox query the filters ask for (query parameters, or the fields of a search body as text)."""
    return inbox.InboxQuery(
        view=choice_arg(args, "view", inbox.VIEWS, f"未知的待办视图：{args.get('view', '')[:30]}") or "todo",
        case_type=choice_arg(args, "case_type", CASE_TYPES, f"未知的申请类型：{args.get('case_type', '')[:30]}"),
        case_status=str_arg(args, "case_status"),
        division=pattern_arg(args, "division", DIVISION_CODE, "区划代码应为2、4、6、9或12位数字"),
        due_before=date_arg(args, "due_before"),
        search=str_arg(args, "search", inbox.MAX_SEARCH_LENGTH, label="搜索内容"), page=int_arg(args, "page", 1),
        page_size=int_arg(args, "page_size", inbox.DEFAULT_PAGE_SIZE),
    )


def _inbox_page(query: inbox.InboxQuery) -> dict[str, Any]:
    me = _me()
    page = inbox.inbox(db.session, me, query)
    return {
        "view": page.view, "view_label": page.label, "items": [_row_json(row, me) for row in page.rows],
        "total": page.total, "page": page.page, "page_size": page.page_size, "pages": page.pages,
        "counts": page.counts,
    }


def list_tasks():
    """Return one page of an inbox view with the counts of every view (the rows of the HTML inbox).

    A whole ID number is refused here: query strings land in access logs; `search_tasks` takes it in the body.
    """
    query = _inbox_query(request.args)
    if query.search and identity.ID_PATTERN.fullmatch(identity.normalize(query.search.strip())):
        raise ApiError(400, ID_NUMBER_IN_URL, fields={"search": "身份证号码请放在 POST 请求体中"})
    return _inbox_page(query)


def _as_text(name: str, value: Any) -> str:
    """Return a filter of a search body as the text a query parameter would carry (a string or whole number)."""
    if isinstance(value, str):
        return value
    number = whole_number(value)
    if number is None:
        raise ApiError(400, f"字段 {name} 应为字符串或整数", fields={name: "应为字符串或整数"})
    return str(number)


def search_tasks():
    """Return one page of an inbox view filtered as `list_tasks` does, the filters (an ID number too) in the body."""
    body = json_object(request, INBOX_FILTERS)
    return _inbox_page(_inbox_query({name: _as_text(name, value) for name, value in body.items()}))


def get_task(task_id: int):
    """Return a task, the summary of its case and the schema of its form."""
    task = _visible_task(task_id)
    case = cases.get_case(db.session, task.business_key or "")
    return {"task": task_json(task, _me()), "case": case_json(case) if case else None,
            "form": form_schema(task)}


def claim_task(task_id: int):
    """Claim one task."""
    me = _me()
    if task_id > MAX_ID:
        raise NotFound(TASK_NOT_FOUND)
    task = inbox.claim(db.session, me, task_id)
    return {"task": task_json(task, me)}


def release_task(task_id: int):
    """Give one's claim on a task back to the shared inbox."""
    me = _me()
    task = _task(task_id)
    if not (may_act(me.role, me.division_code, task.role, task.division_code) or task.claimed_by == me.actor):
        raise Forbidden("您无权释放该任务")
    task = inbox.release(db.session, me, task_id)
    return {"task": task_json(task, me)}


def claim_tasks():
    """Claim several tasks at once; those claimed meanwhile by others, closed or not the user's are skipped."""
    body = json_object(request, {"task_ids"})
    ids = id_list(body, "task_ids")
    if not ids:
        raise ApiError(422, "请先选择要认领的任务", fields={"task_ids": "至少包含一个任务编号"})
    if len(set(ids)) > inbox.MAX_BULK_CLAIM:
        raise ApiError(422, f"一次最多认领{inbox.MAX_BULK_CLAIM}项任务",
                       fields={"task_ids": f"最多包含{inbox.MAX_BULK_CLAIM}个任务编号"})
    me = _me()
    claimed = inbox.bulk_claim(db.session, me, ids)
    mine = db.session.scalars(select(HumanTaskModel.id).where(
        HumanTaskModel.id.in_(set(ids)), HumanTaskModel.status == "open",
        HumanTaskModel.claimed_by == me.actor).order_by(HumanTaskModel.id)).all()
    return {"requested": len(set(ids)), "claimed": claimed, "claimed_task_ids": list(mine)}


@retry_transaction
def complete_task(task_id: int):
    """Validate a form result against the task's form, record it and advance the case; return the case's new state.

    The body's keys are the form's field ids; the values are checked by the form's definition, as the page does.
    """
    task = _visible_task(task_id)
    form = task_form(db.session, task)
    if form is None:
        raise TaskConflict("该任务没有可在线提交的表单")
    sent = form_payload(request, form)
    me = _me()
    try:
        case = casework.decide(db.session, task, me, values=sent)
    except (Forbidden, TaskConflict):
        raise
    except FormRejected as refused:
        raise ApiError(422, f"{form.field(next(iter(refused.errors))).label}：{refused}",
                       fields=refused.errors) from refused
    except CaseworkError as exc:
        raise ApiError(422, str(exc)) from exc
    # The row in hand is the one the engine completed (refreshed under the instance's lock, then updated).
    return {
        "task": task_json(task, me),
        "case": {"case_number": case.case_number, "status": case.status,
                 "status_changed_at": _time(case.status_changed_at)},
        "message": f"已提交：{task.name}{_chosen(form, sent)}（受理编号 {case.case_number}）",
    }


def _chosen(form: FormDefinition, sent: Mapping[str, Any]) -> str:
    """Name the decision a result takes (「通过」), "" when the form records none."""
    found = decision_field(form)
    return f"「{decision_label(form, str(sent.get(found.id, '')))}」" if found else ""
