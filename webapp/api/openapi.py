"""The OpenAPI 3.1 description of the staff API, kept here as one dict and served at /api/v1/openapi.json.

Every route of the blueprint must appear here and every operation here is exercised by tests/webapp/test_api.py,
which also checks each response it receives against the schema documented for its status.
"""

from typing import Any

from engine.forms import Condition, FormDefinition, FormField
from processes.inbox import DEFAULT_PAGE_SIZE, MAX_BULK_CLAIM, MAX_PAGE_SIZE, MAX_SEARCH_LENGTH, VIEWS
from processes.resource_base import DEFAULT_PAGE_SIZE as DEFAULT_PEOPLE_PAGE_SIZE
from processes.resource_base import MAX_PAGE_SIZE as MAX_PEOPLE_PAGE_SIZE
from processes.resource_base import MAX_QUERY_LENGTH
from services.cases import CASE_TYPES
from services.statistics import STATUSES
from webapp.api.errors import CODES, MESSAGES
from webapp.api.payload import COUNTING_DIVISION_CODE, DIVISION_CODE, MAX_ID, MAX_INT_DIGITS, MONTH
from webapp.api.people import MAX_PAGE as MAX_PEOPLE_PAGE

SERVER_PREFIX = "/api/v1"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema_type: str, **extra: Any) -> dict[str, Any]:
    return {"type": [schema_type, "null"], **extra}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    """Return the documented error answers of an operation; every operation may answer 400 (a query parameter it
    does not take) and 429 (rate limits)."""
    return {str(status): {"$ref": f"#/components/responses/E{status}"} for status in sorted({*statuses, 400, 429})}


TIMESTAMP = _nullable("string", format="date-time", description="UTC, ISO 8601")
ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
TASK_ID = {"name": "task_id", "in": "path", "required": True, "description": "任务编号", "schema": ID}
MAX_PAGE_NUMBER = 10**MAX_INT_DIGITS - 1

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"], "additionalProperties": False,
        "properties": {"error": {
            "type": "object", "required": ["code", "message"], "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "enum": sorted(set(CODES.values()) | {"error"})},
                "message": {"type": "string", "description": "给用户看的中文说明"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"},
                           "description": "按字段给出的问题（校验错误）"},
            },
        }},
    },
    "Division": {
        "type": ["object", "null"], "required": ["code", "name"], "additionalProperties": False,
        "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
    },
    "TaskSummary": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "name", "form_key", "bpmn_id", "case_number", "case_type", "case_type_label",
                     "woman_name", "man_name", "case_status", "division_code", "status", "due_at", "overdue",
                     "claimed_by", "claimed_by_me", "claimed_at", "created_at", "completed_at"],
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "form_key": _nullable("string"),
            "bpmn_id": {"type": "string"}, "case_number": _nullable("string"), "case_type": _nullable("string"),
            "case_type_label": _nullable("string"), "woman_name": _nullable("string"),
            "man_name": _nullable("string"), "case_status": _nullable("string"),
            "division_code": _nullable("string"), "status": {"type": "string", "enum": ["open", "completed",
                                                                                        "cancelled"]},
            "due_at": TIMESTAMP, "overdue": {"type": "boolean"},
            "claimed_by": _nullable("string", description="认领人（如 user:12）"), "claimed_by_me": {"type": "boolean"},
            "claimed_at": TIMESTAMP, "created_at": TIMESTAMP, "completed_at": TIMESTAMP,
        },
    },
    "Task": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "name", "form_key", "bpmn_id", "case_number", "role", "role_label", "division",
                     "status", "due_at", "overdue", "claimed_by", "claimed_by_name", "claimed_by_me", "claimed_at",
                     "completed_by", "completed_by_name", "completed_at", "created_at"],
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}, "form_key": _nullable("string"),
            "bpmn_id": {"type": "string"}, "case_number": _nullable("string"), "role": {"type": "string"},
            "role_label": {"type": "string"}, "division": _ref("Division"),
            "status": {"type": "string", "enum": ["open", "completed", "cancelled"]},
            "due_at": TIMESTAMP, "overdue": {"type": "boolean"}, "claimed_by": _nullable("string"),
            "claimed_by_name": _nullable("string"), "claimed_by_me": {"type": "boolean"}, "claimed_at": TIMESTAMP,
            "completed_by": _nullable("string"), "completed_by_name": _nullable("string"),
            "completed_at": TIMESTAMP, "created_at": TIMESTAMP,
        },
    },
    "CaseSummary": {
        "type": "object", "additionalProperties": False,
        "required": ["case_number", "case_type", "case_type_label", "status", "woman_name", "man_name",
                     "contact_phone", "hukou_division", "residence_division", "submitted_at", "status_changed_at",
                     "decisions", "results"],
        "properties": {
            "case_number": {"type": "string"}, "case_type": {"type": "string"},
            "case_type_label": {"type": "string"}, "status": {"type": "string", "description": "如 办理中、登记成功"},
            "woman_name": {"type": "string"}, "man_name": {"type": "string"},
            "contact_phone": {"type": "string", "description": "已脱敏，如 138****0001"},
            "hukou_division": _ref("Division"), "residence_division": _ref("Division"),
            "submitted_at": TIMESTAMP, "status_changed_at": TIMESTAMP,
            "decisions": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "required": ["step", "step_name", "decision", "decision_label", "reason", "office_division", "at"],
                "properties": {
                    "step": {"type": "string"}, "step_name": {"type": "string"}, "decision": {"type": "string"},
                    "decision_label": {"type": "string"}, "reason": {"type": "string"},
                    "office_division": _nullable("string"), "at": TIMESTAMP,
                },
            }},
            "results": {"type": "array", "description": "各环节表单填写的内容（每个环节最近一次办理）", "items": {
                "type": "object", "additionalProperties": False, "required": ["step", "fields"],
                "properties": {"step": {"type": "string"}, "fields": {"type": "array", "items": {
                    "type": "object", "additionalProperties": False, "required": ["label", "value", "display"],
                    "properties": {"label": {"type": "string"},
                                   "value": {"type": ["string", "integer", "boolean"]},
                                   "display": {"type": "string", "description": "按表单显示的值，如选项的名称"}}}}},
            }},
        },
    },
    "FormSchema": {
        "type": ["object", "null"], "additionalProperties": False,
        "required": ["form_key", "title", "fields", "payload_schema"],
        "properties": {
            "form_key": _nullable("string"), "title": {"type": "string"},
            "fields": {"type": "array", "items": {
                "type": "object", "required": ["name", "label", "type", "required", "readonly"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "description": "字段 ID，即办理请求中的键"},
                    "label": {"type": "string"},
                    "type": {"type": "string", "enum": ["string", "long", "boolean", "date", "enum"]},
                    "required": {"type": "boolean"}, "readonly": {"type": "boolean"},
                    "default": _nullable("string"), "help": {"type": "string"},
                    "min_length": {"type": "integer"}, "max_length": {"type": "integer"},
                    "minimum": {"type": ["integer", "string"]}, "maximum": {"type": ["integer", "string"]},
                    "choices": {"type": "array", "items": {
                        "type": "object", "required": ["value", "label"], "additionalProperties": False,
                        "properties": {"value": {"type": "string"}, "label": {"type": "string"}}}},
                    "show_if": _ref("FieldCondition"), "required_if": _ref("FieldCondition"),
                },
            }},
            "payload_schema": {"type": "object", "description": "办理请求体的 JSON Schema（由该任务的表单定义生成）"},
        },
    },
    "FieldCondition": {
        "type": "object", "required": ["field", "operator", "value"], "additionalProperties": False,
        "description": "字段取值满足时才显示（show_if）或才必填（required_if）；值按文本比较（是/否为 true/false）",
        "properties": {"field": {"type": "string"}, "operator": {"type": "string", "enum": ["==", "!="]},
                       "value": {"type": "string"}},
    },
    "TaskList": {
        "type": "object", "additionalProperties": False,
        "required": ["view", "view_label", "items", "total", "page", "page_size", "pages", "counts"],
        "properties": {
            "view": {"type": "string", "enum": list(VIEWS)}, "view_label": {"type": "string"},
            "items": {"type": "array", "items": _ref("TaskSummary")},
            "total": {"type": "integer", "description": "该视图的任务总数"}, "page": {"type": "integer"},
            "page_size": {"type": "integer"}, "pages": {"type": "integer"},
            "counts": {"type": "object", "required": list(VIEWS), "additionalProperties": False,
                       "properties": {view: {"type": "integer"} for view in VIEWS}},
        },
    },
    "TaskDetail": {
        "type": "object", "additionalProperties": False, "required": ["task", "case", "form"],
        "properties": {"task": _ref("Task"), "case": {"anyOf": [_ref("CaseSummary"), {"type": "null"}]},
                       "form": _ref("FormSchema")},
    },
    "TaskResult": {
        "type": "object", "additionalProperties": False, "required": ["task"],
        "properties": {"task": _ref("Task")},
    },
    "BulkClaimRequest": {
        "type": "object", "additionalProperties": False, "required": ["task_ids"],
        "properties": {"task_ids": {"type": "array", "minItems": 1, "maxItems": MAX_BULK_CLAIM, "items": ID}},
    },
    "BulkClaimResult": {
        "type": "object", "additionalProperties": False, "required": ["requested", "claimed", "claimed_task_ids"],
        "properties": {
            "requested": {"type": "integer", "description": "请求认领的任务数（去重后）"},
            "claimed": {"type": "integer", "description": "本次新认领的任务数"},
            "claimed_task_ids": {"type": "array", "items": {"type": "integer"},
                                 "description": "其中现由本人认领的任务"},
        },
    },
    "CompleteRequest": {
        "type": "object", "additionalProperties": {"type": ["string", "integer", "boolean", "null"]},
        "description": "表单各字段的值，键为字段 ID（表单没有的字段、类型不符的值返回 422）；"
                       "每个任务的确切结构见 GET /tasks/{task_id} 的 form.payload_schema（由流程图中的表单定义生成）",
    },
    "CompleteResult": {
        "type": "object", "additionalProperties": False, "required": ["task", "case", "message"],
        "properties": {
            "task": _ref("Task"),
            "case": {"type": "object", "additionalProperties": False,
                     "required": ["case_number", "status", "status_changed_at"],
                     "properties": {"case_number": {"type": "string"},
                                    "status": {"type": "string", "description": "办理后的案件状态"},
                                    "status_changed_at": TIMESTAMP}},
            "message": {"type": "string"},
        },
    },
}

_COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_SHARE = _nullable("number", minimum=0, maximum=1)
SCHEMAS["Statistics"] = {
    "type": "object", "additionalProperties": False,
    "required": ["division", "filters", "total", "children", "by_type", "case_type_labels", "by_status", "mother_age",
                 "father_age", "mother_ethnicity", "father_ethnicity", "by_month", "processing", "limit_days",
                 "as_of", "live"],
    "properties": {
        "division": {"type": "object", "additionalProperties": False, "required": ["code", "name", "level", "path"],
                     "properties": {"code": {"type": "string"}, "name": {"type": "string"},
                                    "level": {"type": "integer", "description": "1 省 2 市 3 县 4 乡镇（街道）"},
                                    "path": {"type": "array", "items": _ref("Division")}}},
        "filters": {"type": "object", "additionalProperties": False, "required": ["from", "to", "case_type"],
                    "properties": {"from": _nullable("string"), "to": _nullable("string"),
                                   "case_type": _nullable("string")}},
        "total": {"type": "integer", "description": "已受理件数（按户籍地，含办理中）"},
        "children": {"type": "array", "description": "各下级区划", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["code", "name", "cases", "overdue", "overdue_share"],
            "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "cases": {"type": "integer"},
                           "overdue": {"type": "integer"}, "overdue_share": _SHARE}}},
        "by_type": {"type": "object", "additionalProperties": False, "required": list(CASE_TYPES),
                    "properties": {key: {"type": "integer"} for key in CASE_TYPES}},
        "case_type_labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "by_status": {**_COUNTS, "description": "、".join(STATUSES)},
        "mother_age": {**_COUNTS, "description": "女方年龄段（如 25-29；空字符串为未填写）"},
        "father_age": {**_COUNTS, "description": "男方年龄段"},
        "mother_ethnicity": {**_COUNTS, "description": "女方民族（GB/T 3304 代码）"},
        "father_ethnicity": {**_COUNTS, "description": "男方民族（GB/T 3304 代码）"},
        "by_month": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["month", *CASE_TYPES, "total"],
            "properties": {"month": {"type": "string", "description": "YYYY-MM（北京时间）"},
                           "total": {"type": "integer"}, **{key: {"type": "integer"} for key in CASE_TYPES}}}},
        "processing": {"type": "object", "additionalProperties": False,
                       "required": ["completed", "median_days", "p90_days", "overdue", "overdue_share", "histogram"],
                       "properties": {"completed": {"type": "integer"}, "median_days": _nullable("integer"),
                                      "p90_days": _nullable("integer"), "overdue": {"type": "integer"},
                                      "overdue_share": _SHARE,
                                      "histogram": {**_COUNTS, "description": "办结用时（工作日）: 件数"}}},
        "limit_days": {"type": "integer", "description": "承诺时限（工作日）"},
        "as_of": _nullable("string", format="date-time", description="省、市级汇总数据的生成时间"),
        "live": {"type": "boolean", "description": "县、乡级为实时数据"},
    },
}

_MASKED = "默认隐藏中间位；reveal=true 时为完整值（记入审计日志）"
_CODE = _nullable("string", description="国家标准代码")
SCHEMAS["PlaceCount"] = {
    "type": "object", "additionalProperties": False, "required": ["code", "name", "count", "parts"],
    "properties": {"code": {"type": "string"}, "name": {"type": "string"}, "count": {"type": "integer"},
                   "parts": {"type": "array", "items": {"$ref": "#/components/schemas/PlaceCount"},
                             "description": "下一级区划"}},
}
SCHEMAS["PersonSummary"] = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "name", "masked_name", "id_number", "sex", "sex_label", "birth_year", "phone",
                 "hukou_division", "residence_division", "place", "verified"],
    "properties": {
        "id": {"type": "integer"},
        "name": _nullable("string", description="已核实的姓名；县级及以上部门为 null（见 masked_name）"),
        "masked_name": {"type": "string", "description": "如 张*；未核实时为空字符串"},
        "id_number": {"type": "string", "description": "已脱敏，如 110101********1227"},
        "sex": {"type": "string"}, "sex_label": {"type": "string"}, "birth_year": {"type": "integer"},
        "phone": _nullable("string", description="已脱敏，如 138****0001"),
        "hukou_division": _ref("Division"), "residence_division": _ref("Division"),
        "place": {**_ref("Division"), "description": "该人员在本辖区内的所在区划（汇总依据）"},
        "verified": {"type": "boolean", "description": "是否已经村（居）核实"},
    },
}
SCHEMAS["PeopleSearchRequest"] = {
    "type": "object", "additionalProperties": False, "required": ["query"],
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LENGTH,
                  "description": "完整的18位身份证号码、11位手机号码，或姓名的开头（只查已核实的姓名）"},
        "division": _nullable("string", pattern=DIVISION_CODE, description="本人辖区内的区划代码，默认为本人辖区"),
        "page": {"type": "integer", "minimum": 1, "maximum": MAX_PEOPLE_PAGE, "default": 1},
        "page_size": {"type": "integer", "minimum": 1, "maximum": MAX_PEOPLE_PAGE_SIZE,
                      "default": DEFAULT_PEOPLE_PAGE_SIZE},
    },
}
SCHEMAS["PeopleSearchResult"] = {
    "type": "object", "additionalProperties": False,
    "required": ["kind", "kind_label", "division", "names_visible", "total", "page", "page_size", "pages", "items",
                 "counts"],
    "properties": {
        "kind": {"type": "string", "enum": ["id_number", "phone", "name"]}, "kind_label": {"type": "string"},
        "division": {"type": "object", "required": ["code", "name"], "additionalProperties": False,
                     "properties": {"code": {"type": "string"}, "name": {"type": "string"}}},
        "names_visible": {"type": "boolean", "description": "村、乡镇、服务大厅为 true；县级及以上为 false"},
        "total": {"type": "integer"}, "page": {"type": "integer"}, "page_size": {"type": "integer"},
        "pages": {"type": "integer"}, "items": {"type": "array", "items": _ref("PersonSummary")},
        "counts": {"anyOf": [{"type": "array", "items": _ref("PlaceCount")}, {"type": "null"}],
                   "description": "县级及以上部门：按下两级区划汇总的人数"},
    },
}
SCHEMAS["PersonDetail"] = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "names_visible", "revealed", "name", "id_number", "sex", "sex_label", "birth_year",
                 "birth_date", "ethnicity", "ethnicity_label", "marital_status", "marital_status_label", "phone",
                 "employer", "employer_phone", "hukou_division", "residence_division", "verified_at", "created_at",
                 "cases", "children", "history"],
    "properties": {
        "id": {"type": "integer"}, "names_visible": {"type": "boolean"}, "revealed": {"type": "boolean"},
        "name": _nullable("string", description="县级及以上部门未 reveal 时为 张* 形式"),
        "id_number": {"type": "string", "description": _MASKED}, "sex": {"type": "string"},
        "sex_label": {"type": "string"}, "birth_year": {"type": "integer"},
        "birth_date": _nullable("string", format="date", description="县级及以上部门未 reveal 时为 null"),
        "ethnicity": _CODE, "ethnicity_label": _nullable("string"), "marital_status": _CODE,
        "marital_status_label": _nullable("string"), "phone": _nullable("string", description=_MASKED),
        "employer": _nullable("string"), "employer_phone": _nullable("string", description=_MASKED),
        "hukou_division": _ref("Division"), "residence_division": _ref("Division"),
        "verified_at": TIMESTAMP, "created_at": TIMESTAMP,
        "cases": {"type": "array", "description": "本辖区内涉及该人员的申请", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["case_number", "case_type", "case_type_label", "status", "side", "hukou_division",
                         "residence_division", "submitted_at"],
            "properties": {"case_number": {"type": "string"}, "case_type": {"type": "string"},
                           "case_type_label": {"type": "string"}, "status": {"type": "string"},
                           "side": {"type": "string", "enum": ["woman", "man"]},
                           "hukou_division": _ref("Division"), "residence_division": _ref("Division"),
                           "submitted_at": TIMESTAMP}}},
        "children": {"type": "array", "description": "这些申请最近一次申报的子女", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["name", "sex", "birth_date", "document_number", "relation", "relation_label",
                         "case_numbers"],
            "properties": {"name": _nullable("string"), "sex": _nullable("string"),
                           "birth_date": _nullable("string", format="date"),
                           "document_number": _nullable("string", description=_MASKED),
                           "relation": _nullable("string"), "relation_label": _nullable("string"),
                           "case_numbers": {"type": "array", "items": {"type": "string"}}}}},
        "history": {"type": "array", "description": "经核实的变更，最新在前", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["field", "label", "old_value", "new_value", "actor", "actor_name", "case_number", "at"],
            "properties": {"field": {"type": "string"}, "label": {"type": "string"},
                           "old_value": _nullable("string"), "new_value": _nullable("string"),
                           "actor": {"type": "string"}, "actor_name": {"type": "string"},
                           "case_number": _nullable("string", description="辖区外的申请为 null"), "at": TIMESTAMP}}},
    },
}

ERROR_DESCRIPTIONS = {
    400: "请求格式错误（非 JSON、类型不符、参数无效）",
    401: "缺少访问令牌，或令牌无效、已过期、已撤销（仅限工作人员账号的令牌）",
    403: "无权操作（不在本人辖区或角色之外）",
    404: "任务或人员不存在（辖区外的人员同样答复不存在）",
    409: "冲突：任务已经办理完毕、已取消或已由他人认领",
    422: "校验未通过，fields 按字段给出问题",
    429: "请求过于频繁（按令牌和客户端地址限流），请在 Retry-After 秒后重试",
}

RESPONSES = {
    f"E{status}": {
        **_json(_ref("Error"), f"{ERROR_DESCRIPTIONS[status]}（{MESSAGES[status]}）"),
        **({"headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}}}
           if status == 401 else {}),
        **({"headers": {"Retry-After": {"schema": {"type": "string"}, "description": "等待的秒数"}}}
           if status == 429 else {}),
    }
    for status in ERROR_DESCRIPTIONS
}

JSON_BODY_NOTE = "请求体须为 JSON 对象（Content-Type: application/json），不得包含未列出的字段。"

# The inbox filters: query parameters of GET /tasks, fields of the body of POST /tasks/search.
TASK_FILTERS: list[dict[str, Any]] = [
    {"name": "view", "in": "query", "schema": {"type": "string", "enum": list(VIEWS), "default": "todo"},
     "description": "、".join(f"{key}（{label}）" for key, label in VIEWS.items())},
    {"name": "case_type", "in": "query", "schema": {"type": "string", "enum": list(CASE_TYPES)},
     "description": "申请类型"},
    {"name": "case_status", "in": "query", "schema": {"type": "string"}, "description": "案件状态"},
    {"name": "division", "in": "query", "schema": {"type": "string", "pattern": DIVISION_CODE},
     "description": "本人辖区内的区划代码（2、4、6、9或12位）"},
    {"name": "due_before", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "期限不晚于该日（中国时间）"},
    {"name": "search", "in": "query", "schema": {"type": "string", "maxLength": MAX_SEARCH_LENGTH},
     "description": "受理编号（或其开头）或姓名的一部分；夫妻一方完整的身份证号码只能用 POST /tasks/search "
                    "放在请求体中"},
    {"name": "page", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER, "default": 1}},
    {"name": "page_size", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE}},
]
SCHEMAS["TaskSearchRequest"] = {
    "type": "object", "additionalProperties": False,
    "properties": {f["name"]: {**f["schema"], "description": f.get("description", "")} for f in TASK_FILTERS},
}

PATHS: dict[str, Any] = {
    "/tasks": {"get": {
        "operationId": "listTasks", "tags": ["tasks"], "summary": "待办列表（与工作台收件箱相同的任务）",
        "parameters": TASK_FILTERS,
        "responses": {"200": _json(_ref("TaskList"), "一页任务及各视图的数量"), **_errors(400, 401, 403)},
    }},
    "/tasks/search": {"post": {
        "operationId": "searchTasks", "tags": ["tasks"], "summary": "按条件查找待办（身份证号码只放在请求体中）",
        "description": "与 GET /tasks 相同的筛选条件，放在请求体中；按身份证号码查找只能用此接口。" + JSON_BODY_NOTE,
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _ref("TaskSearchRequest")}}},
        "responses": {"200": _json(_ref("TaskList"), "一页任务及各视图的数量"), **_errors(400, 401, 403)},
    }},
    "/tasks/claim": {"post": {
        "operationId": "claimTasks", "tags": ["tasks"], "summary": "批量认领",
        "description": "认领其中仍未被认领、本人可办理的任务；其余跳过。" + JSON_BODY_NOTE,
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _ref("BulkClaimRequest")}}},
        "responses": {"200": _json(_ref("BulkClaimResult"), "认领结果"), **_errors(400, 401, 422)},
    }},
    "/tasks/{task_id}": {"get": {
        "operationId": "getTask", "tags": ["tasks"], "summary": "任务详情、案件摘要（电话已脱敏）和表单结构",
        "parameters": [TASK_ID],
        "responses": {"200": _json(_ref("TaskDetail"), "任务"), **_errors(401, 403, 404)},
    }},
    "/tasks/{task_id}/claim": {"post": {
        "operationId": "claimTask", "tags": ["tasks"], "summary": "认领任务", "parameters": [TASK_ID],
        "responses": {"200": _json(_ref("TaskResult"), "已认领（本人已认领时不变）"), **_errors(401, 403, 404, 409)},
    }},
    "/tasks/{task_id}/release": {"post": {
        "operationId": "releaseTask", "tags": ["tasks"], "summary": "释放本人认领的任务", "parameters": [TASK_ID],
        "responses": {"200": _json(_ref("TaskResult"), "已取消认领，任务回到待办"), **_errors(401, 403, 404, 409)},
    }},
    "/tasks/{task_id}/complete": {"post": {
        "operationId": "completeTask", "tags": ["tasks"], "summary": "办理任务：提交办理结果并推进案件",
        "description": "办理结果按任务表单校验（422 给出字段问题）；已办理完毕的任务返回 409。" + JSON_BODY_NOTE,
        "parameters": [TASK_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CompleteRequest")}}},
        "responses": {"200": _json(_ref("CompleteResult"), "已办理；含案件的新状态"),
                      **_errors(400, 401, 403, 404, 409, 422)},
    }},
    "/statistics": {"get": {
        "operationId": "getStatistics", "tags": ["statistics"], "summary": "统计数据（与统计分析页面相同的数字）",
        "description": "按户籍地统计本人辖区（或其下级区划）的登记数：各下级区划、类型、状态、年龄段、民族、月份、"
                       "办理用时。省、市级来自定时汇总（as_of），县、乡级为实时数据。",
        "parameters": [
            {"name": "division", "in": "query", "schema": {"type": "string", "pattern": COUNTING_DIVISION_CODE},
             "description": "本人辖区内的区划代码（2、4、6或9位），默认为本人辖区"},
            {"name": "from", "in": "query", "schema": {"type": "string", "pattern": MONTH},
             "description": "起始月份 YYYY-MM（含，2000年起）"},
            {"name": "to", "in": "query", "schema": {"type": "string", "pattern": MONTH},
             "description": "截止月份 YYYY-MM（含），不得早于起始月份（否则为 422）"},
            {"name": "type", "in": "query", "schema": {"type": "string", "enum": list(CASE_TYPES)},
             "description": "申请类型"},
        ],
        "responses": {"200": _json(_ref("Statistics"), "统计数据"), **_errors(400, 401, 403, 422)},
    }},
    "/people/search": {"post": {
        "operationId": "searchPeople", "tags": ["people"], "summary": "信息资源库查询（号码只放在请求体中）",
        "description": "按完整身份证号码、完整手机号码或姓名开头查询本人辖区内的人员（户籍地或现居住地在辖区内，"
                       "或辖区内的申请涉及的人员）。号码一律脱敏；县级及以上部门只得到按区划汇总的人数和不含姓名的记录。"
                       + JSON_BODY_NOTE,
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _ref("PeopleSearchRequest")}}},
        "responses": {"200": _json(_ref("PeopleSearchResult"), "一页查询结果"), **_errors(400, 401, 403, 422)},
    }},
    "/people/{person_id}": {"get": {
        "operationId": "getPerson", "tags": ["people"], "summary": "人员信息：核实信息、涉及的申请、子女、变更记录",
        "description": "号码默认脱敏。reveal=true 显示完整号码（县级及以上部门还显示姓名），每次都记入审计日志。"
                       "辖区外的人员答复 404，与不存在相同。",
        "parameters": [
            {"name": "person_id", "in": "path", "required": True, "description": "人员编号", "schema": ID},
            {"name": "reveal", "in": "query", "schema": {"type": "boolean", "default": False},
             "description": "显示完整号码（记入审计日志）"},
        ],
        "responses": {"200": _json(_ref("PersonDetail"), "人员信息"), **_errors(400, 401, 403, 404)},
    }},
    "/openapi.json": {"get": {
        "operationId": "getOpenApi", "tags": ["meta"], "summary": "本接口说明（OpenAPI 3.1）",
        "security": [],
        "responses": {"200": {"description": "OpenAPI 文档", "content": {"application/json": {
            "schema": {"type": "object", "required": ["openapi", "paths"]}}}}, **_errors()},
    }},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "生育登记服务信息系统 工作人员接口",
        "version": "1.0.0",
        "description": (
            "供工作人员应用使用的 JSON 接口。每个请求在 Authorization 头中携带 `Bearer <令牌>`；令牌由管理员用 "
            "`flask users token` 为工作人员账号签发。错误均为 {\"error\": {\"code\", \"message\", \"fields\"}}。"
        ),
    },
    "servers": [{"url": SERVER_PREFIX}],
    "security": [{"bearerAuth": []}],
    "tags": [{"name": "tasks", "description": "待办任务"}, {"name": "statistics", "description": "统计数据"},
             {"name": "people", "description": "信息资源库"}, {"name": "meta", "description": "接口说明"}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "brt_…",
                                           "description": "工作人员的接口令牌"}},
        "schemas": SCHEMAS,
        "responses": RESPONSES,
    },
}


# -- the request body of one task, from its form definition ------------------------------------------------------

_VALUE_TYPES = {"string": "string", "long": "integer", "boolean": "boolean", "date": "string"}


def _value_schema(item: FormField, present: bool) -> dict[str, Any]:
    """Return the schema of one field's value; `present`: the value must be given (not null, not empty)."""
    if item.type == "enum":
        values: list[Any] = [value for value, _ in item.choices]
        return {"enum": values if present else [*values, None]}
    schema: dict[str, Any] = {"type": _VALUE_TYPES[item.type] if present else [_VALUE_TYPES[item.type], "null"]}
    if item.type == "string":
        longest, shortest = item.limit("maxlength"), item.limit("minlength")
        if longest is not None:
            schema["maxLength"] = longest
        if present or shortest:
            minimum = max(shortest or 0, 1 if present else 0)
            schema |= {"minLength": minimum} if present else {"anyOf": [{"maxLength": 0}, {"minLength": minimum}]}
    elif item.type == "long":
        schema |= {key: item.limit(name) for key, name in (("minimum", "min"), ("maximum", "max"))
                   if item.limit(name) is not None}
    elif item.type == "date":
        schema |= {"format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    if item.help:
        schema["description"] = item.help
    return schema


def _when(form: FormDefinition, condition: Condition) -> dict[str, Any]:
    """Return the JSON Schema `if` of a field condition, comparing the JSON value the way conditions do."""
    target = form.field(condition.field)
    value: Any = condition.value
    if target is not None and target.type == "boolean":
        value = condition.value == "true"
    elif target is not None and target.type == "long" and condition.value.lstrip("-").isdigit():
        value = int(condition.value)
    equal = {"properties": {condition.field: {"const": value}}, "required": [condition.field]}
    return equal if condition.operator == "==" else {"not": equal}


def payload_schema(form: FormDefinition) -> dict[str, Any]:
    """Return the JSON Schema of the body completing a task with this form: what the task page sends, as JSON.

    Fields shown on a condition are required only when it holds; a hidden field may be null or left out.
    """
    rules: list[dict[str, Any]] = []
    required: list[str] = []
    for item in form.fields:
        shown, needed = item.condition("showIf"), item.condition("requiredIf")
        must = item.required and not item.readonly
        if must and shown is None:
            required.append(item.id)
        triggers = ([[shown]] if must and shown is not None else []) + \
            ([[c for c in (shown, needed) if c is not None]] if needed is not None and not item.readonly else [])
        rules += [{"if": {"allOf": [_when(form, c) for c in conditions]},
                   "then": {"required": [item.id], "properties": {item.id: _value_schema(item, present=True)}}}
                  for conditions in triggers]
    schema: dict[str, Any] = {
        "type": "object", "additionalProperties": False, "required": required,
        "properties": {item.id: _value_schema(item, present=item.id in required) for item in form.fields},
    }
    if rules:
        schema["allOf"] = rules
    return schema
