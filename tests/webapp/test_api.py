"""The staff JSON API: tokens, errors, the cross-role journey, and an OpenAPI document that matches the routes.

Every request made through `ApiClient` is recorded by route and method and its response is checked against the
schema the document gives for its status; the last test asserts that every documented operation was called.
"""

import hashlib
import json
from datetime import timedelta

import jsonschema
import openapi_spec_validator
import pytest
import referencing
import referencing.jsonschema as referencing_jsonschema
import time_machine
from sqlalchemy import select

from engine.db import utcnow
from engine.models import AuditEventModel
from processes.demo import HUKOU_VILLAGE, TOWNSHIP
from processes.roles import CITIZEN, VILLAGE_STAFF
from services import accounts, api_tokens, cases
from services.api_tokens import ApiTokenModel
from tests.applications import WOMAN_ID
from tests.fixtures import forget, open_task, refreshed
from webapp.api.openapi import DOCUMENT, SERVER_PREFIX

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# (method, documented path) of every request the tests below made through ApiClient.
CALLED: set[tuple[str, str]] = set()
_REGISTRY = referencing.Registry().with_resource(
    "urn:api", referencing.Resource.from_contents(DOCUMENT, default_specification=referencing_jsonschema.DRAFT202012))


def _documented_path(rule: str) -> str:
    """Return the OpenAPI path of a Flask rule: without the prefix, `<int:task_id>` as `{task_id}`."""
    path = rule.removeprefix(SERVER_PREFIX)
    while "<" in path:
        start, end = path.index("<"), path.index(">")
        path = path[:start] + "{" + path[start + 1:end].rpartition(":")[2] + "}" + path[end + 1:]
    return path


def _pointer(*parts: str) -> str:
    return "urn:api#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def check_against_document(method: str, path: str, response) -> None:
    """Assert that a response is JSON and matches the schema documented for its operation and status."""
    assert response.mimetype == "application/json", (method, path, response.status_code, response.text[:200])
    body = response.get_json()
    if "error" in body:
        schema = {"$ref": _pointer("components", "schemas", "Error")}
    else:
        responses = DOCUMENT["paths"][path][method.lower()]["responses"]
        assert str(response.status_code) in responses, f"{method} {path}: undocumented {response.status_code}"
        schema = {"$ref": _pointer("paths", path, method.lower(), "responses", str(response.status_code), "content",
                                   "application/json", "schema")}
    if response.status_code >= 400:
        assert set(body) == {"error"}, body
        documented = DOCUMENT["paths"].get(path, {}).get(method.lower(), {}).get("responses", {})
        if documented:
            assert str(response.status_code) in documented, f"{method} {path}: {response.status_code} not documented"
    jsonschema.Draft202012Validator(schema, registry=_REGISTRY).validate(body)


class ApiClient:
    """A test client that sends one bearer token, records the operations it calls and checks every answer."""

    def __init__(self, app, client, token: str | None):
        self.app, self.client, self.token = app, client, token

    def request(self, method: str, url: str, *, json_body=None, data=None, content_type=None, headers=None):
        """Send a request and return the response, checked against the OpenAPI document."""
        sent = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        sent.update(headers or {})
        if json_body is not None:
            data, content_type = json.dumps(json_body, ensure_ascii=False), "application/json"
        response = self.client.open(url, method=method, data=data, content_type=content_type, headers=sent)
        adapter = self.app.url_map.bind("localhost")
        try:
            rule, _ = adapter.match(url.partition("?")[0], method=method, return_rule=True)
        except Exception:  # noqa: BLE001 - unknown paths and wrong methods are recorded as no operation
            check_against_document(method, "", response)
            return response
        path = _documented_path(rule.rule)
        CALLED.add((method, path))
        check_against_document(method, path, response)
        return response

    def get(self, url: str, **kwargs):
        """GET `url`."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        """POST `url`."""
        return self.request("POST", url, **kwargs)


@pytest.fixture
def api(app, client, session, people):
    """Return an ApiClient for one of the `people` (by attribute name) with a fresh token, or for a raw token."""
    secrets_of: dict[str, str] = {}

    def make(name: str | None = None, *, token: str | None = None) -> ApiClient:
        if name is not None and name not in secrets_of:
            secrets_of[name] = api_tokens.issue_token(session, getattr(people, name), "测试")
            session.commit()
        return ApiClient(app, client, secrets_of[name] if name is not None else token)

    return make


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.get_json()["error"]


def _task_ids(session, case, *bpmn_ids):
    ids = [open_task(session, case, bpmn_id).id for bpmn_id in bpmn_ids]
    session.commit()
    return ids


def _todo(client) -> list[int]:
    response = client.get(f"{SERVER_PREFIX}/tasks?view=todo")
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.get_json()["items"]]


# -- tokens -------------------------------------------------------------------------------------------------------


def test_a_token_is_shown_once_stored_as_a_hash_and_names_its_staff_account(session, people):
    secret = api_tokens.issue_token(session, people.hukou, "手机App", days=30)
    session.commit()
    assert secret.startswith("brt_")
    assert len(secret) > 40
    token = session.scalar(select(ApiTokenModel))
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.name, token.token_hash}
    assert token.expires_at - token.created_at == timedelta(days=30)
    assert token.last_used_at is None
    assert api_tokens.user_for_token(session, secret).id == people.hukou.id
    assert token.last_used_at is not None
    assert api_tokens.user_for_token(session, secret + "x") is None
    assert api_tokens.user_for_token(session, "brt_" + "A" * 43) is None
    assert api_tokens.user_for_token(session, "") is None
    assert api_tokens.user_for_token(session, "brt_" + "a" * 500) is None
    assert api_tokens.issue_token(session, people.hukou, "另一个") != secret
    assert [t.name for t in api_tokens.tokens_of(session, people.hukou)] == ["另一个", "手机App"]


def test_a_token_expires_and_a_revoked_token_stays_revoked(session, people):
    secret = api_tokens.issue_token(session, people.hukou, "平板", days=1)
    forever = api_tokens.issue_token(session, people.hukou, "长期", days=None)
    session.commit()
    with time_machine.travel(utcnow() + timedelta(days=1, seconds=1)):
        assert api_tokens.user_for_token(session, secret) is None
        assert api_tokens.user_for_token(session, forever) is not None
    token = session.scalar(select(ApiTokenModel).where(ApiTokenModel.name == "长期"))
    assert api_tokens.revoke(session, token.id) is True
    assert api_tokens.revoke(session, token.id) is False
    assert api_tokens.user_for_token(session, forever) is None
    with pytest.raises(LookupError):
        api_tokens.revoke(session, 999_999)


def test_only_active_staff_get_and_keep_tokens(session, people):
    with pytest.raises(api_tokens.TokenRefused, match="只有工作人员账号"):
        api_tokens.issue_token(session, people.citizen, "x")
    for days in (0, -1, api_tokens.MAX_DAYS + 1):
        with pytest.raises(api_tokens.TokenRefused, match="有效天数"):
            api_tokens.issue_token(session, people.hukou, "x", days=days)
    with pytest.raises(api_tokens.TokenRefused, match="名称"):
        api_tokens.issue_token(session, people.hukou, "   ")
    secret = api_tokens.issue_token(session, people.hukou, "x")
    people.hukou.active = False
    assert api_tokens.user_for_token(session, secret) is None
    with pytest.raises(api_tokens.TokenRefused, match="停用"):
        api_tokens.issue_token(session, people.hukou, "y")
    assert api_tokens.CITIZEN_ROLE == CITIZEN


def test_the_cli_issues_a_token_for_staff_only(app, session, people, api):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "token", "--phone", people.hukou.phone, "--name", "巡查手机", "--days", "7"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("brt_")
    assert "只显示这一次" in result.stderr
    assert api(token=secret).get(f"{SERVER_PREFIX}/tasks").status_code == 200
    refused = runner.invoke(args=["users", "token", "--phone", people.citizen.phone, "--name", "x"])
    assert refused.exit_code != 0
    assert "只有工作人员账号" in refused.output
    assert runner.invoke(args=["users", "token", "--phone", "13999999999", "--name", "x"]).exit_code != 0
    assert "有效天数" in runner.invoke(
        args=["users", "token", "--phone", people.hukou.phone, "--name", "x", "--days", "0"]).output
    forget(session)
    assert [t.name for t in api_tokens.tokens_of(session, people.hukou)] == ["巡查手机"]


# -- authentication -----------------------------------------------------------------------------------------------


def test_requests_without_a_valid_staff_token_get_401(session, people, api, browser_for):
    error = _error(api().get(f"{SERVER_PREFIX}/tasks"), 401)
    assert error == {"code": "unauthorized", "message": "缺少访问令牌，请在 Authorization 头中提供 Bearer 令牌"}
    for header in ("Bearer brt_not-a-token", "Basic aGVsbG86d29ybGQ=", "Bearer", "brt_x"):
        response = api().get(f"{SERVER_PREFIX}/tasks", headers={"Authorization": header})
        assert _error(response, 401)["message"] == "访问令牌无效、已过期或已被撤销"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    # A citizen's token (none can be issued; one written straight to the table) is refused all the same.
    secret = "brt_citizen-token-written-by-hand"
    session.add(ApiTokenModel(user_id=people.citizen.id, name="x", token_hash=api_tokens.hash_secret(secret)))
    session.commit()
    _error(api(token=secret).get(f"{SERVER_PREFIX}/tasks"), 401)

    # A staff member signed in on the web still needs a token: the session cookie is not an API credential.
    assert browser_for("hukou").get(f"{SERVER_PREFIX}/tasks").status_code == 401

    staff = api("hukou")
    assert staff.get(f"{SERVER_PREFIX}/tasks").status_code == 200
    token = session.scalar(select(ApiTokenModel).where(ApiTokenModel.user_id == people.hukou.id))
    api_tokens.revoke(session, token.id)
    session.commit()
    _error(staff.get(f"{SERVER_PREFIX}/tasks"), 401)


def test_an_expired_token_gets_401(api):
    staff = api("township")
    assert staff.get(f"{SERVER_PREFIX}/tasks").status_code == 200
    with time_machine.travel(utcnow() + timedelta(days=91)):
        _error(staff.get(f"{SERVER_PREFIX}/tasks"), 401)


def test_api_answers_are_json_without_a_session_cookie(api):
    response = api("hukou").get(f"{SERVER_PREFIX}/tasks")
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert _error(api("hukou").get(f"{SERVER_PREFIX}/no-such-thing"), 404)["code"] == "not_found"
    wrong_method = api("hukou").get(f"{SERVER_PREFIX}/tasks/1/complete")
    assert _error(wrong_method, 405)["code"] == "method_not_allowed"
    assert wrong_method.headers["Allow"] == "OPTIONS, POST"


# -- the journey --------------------------------------------------------------------------------------------------


def test_a_case_goes_from_two_village_verifications_to_approval_through_the_api(session, submit, api):
    case = submit()
    hukou_task, residence_task = _task_ids(session, case, "verify_hukou", "verify_residence")
    hukou, residence, other, township = (api(n) for n in ("hukou", "residence", "other", "township"))

    assert _todo(hukou) == [hukou_task]
    assert _todo(residence) == [residence_task]
    assert _todo(other) == []
    assert _todo(township) == []

    listing = hukou.get(f"{SERVER_PREFIX}/tasks").get_json()
    assert (listing["total"], listing["page"], listing["page_size"]) == (1, 1, 20)
    assert listing["counts"] == {"todo": 1, "claimed": 0, "done": 0, "overdue": 0}
    (item,) = listing["items"]
    assert (item["case_number"], item["woman_name"], item["case_type_label"]) == (case.case_number, "张丽", "一孩登记")

    detail = hukou.get(f"{SERVER_PREFIX}/tasks/{hukou_task}").get_json()
    assert detail["task"]["name"] == "户籍地村（居）核实"
    assert detail["case"]["contact_phone"] == "138****0001"
    assert "13800000001" not in json.dumps(detail)
    form = detail["form"]
    fields = {field["name"]: field for field in form["fields"]}
    assert (form["form_key"], form["title"], list(fields), form["payload_schema"]["required"]) == (
        "village_verification", "户籍地村（居）核实", ["decision", "reason"], ["decision"])
    assert {key: fields["decision"][key] for key in ("label", "type", "required", "choices")} == {
        "label": "办理结果", "type": "enum", "required": True,
        "choices": [{"value": "verified", "label": "情况属实"}, {"value": "mismatch", "label": "情况不符"}]}
    assert {key: fields["reason"][key] for key in ("label", "type", "required", "max_length", "required_if")} == {
        "label": "意见或原因", "type": "string", "required": False, "max_length": 500,
        "required_if": {"field": "decision", "operator": "==", "value": "mismatch"}}
    assert _error(other.get(f"{SERVER_PREFIX}/tasks/{hukou_task}"), 403)["code"] == "forbidden"
    _error(hukou.get(f"{SERVER_PREFIX}/tasks/{residence_task}"), 403)
    _error(residence.post(f"{SERVER_PREFIX}/tasks/{hukou_task}/complete", json_body={"decision": "verified"}), 403)

    claimed = hukou.post(f"{SERVER_PREFIX}/tasks/{hukou_task}/claim").get_json()["task"]
    assert (claimed["claimed_by_me"], claimed["claimed_by_name"]) == (True, "李多福")
    done = hukou.post(f"{SERVER_PREFIX}/tasks/{hukou_task}/complete", json_body={"decision": "verified", "reason": ""})
    assert done.status_code == 200, done.text
    assert done.get_json()["case"] == {"case_number": case.case_number, "status": "办理中",
                                       "status_changed_at": done.get_json()["case"]["status_changed_at"]}
    assert done.get_json()["task"]["status"] == "completed"
    assert _todo(township) == [], "the audit waits for both villages"

    assert residence.post(f"{SERVER_PREFIX}/tasks/{residence_task}/complete",
                          json_body={"decision": "verified"}).status_code == 200
    forget(session)
    (audit_task,) = _task_ids(session, case, "township_audit")
    assert _todo(township) == [audit_task]
    audit = township.get(f"{SERVER_PREFIX}/tasks/{audit_task}").get_json()
    assert [(d["step"], d["decision_label"]) for d in audit["case"]["decisions"]] == [
        ("verify_hukou", "情况属实"), ("verify_residence", "情况属实")]
    assert [c["value"] for c in audit["form"]["fields"][0]["choices"]] == ["approved", "rejected"]
    approved = township.post(f"{SERVER_PREFIX}/tasks/{audit_task}/complete", json_body={"decision": "approved"})
    assert approved.get_json()["case"]["status"] == "登记成功"
    assert refreshed(session, case).status == "登记成功"

    # What one completed stays visible to them, read only; doing it again is a conflict.
    done_view = hukou.get(f"{SERVER_PREFIX}/tasks?view=done").get_json()
    assert [i["id"] for i in done_view["items"]] == [hukou_task]
    assert hukou.get(f"{SERVER_PREFIX}/tasks/{hukou_task}").get_json()["task"]["completed_by_name"] == "李多福"
    again = hukou.post(f"{SERVER_PREFIX}/tasks/{hukou_task}/complete", json_body={"decision": "verified"})
    assert _error(again, 409)["message"] == "该任务已经办理完毕，无需重复提交"
    assert "已经办理完毕" in _error(hukou.post(f"{SERVER_PREFIX}/tasks/{hukou_task}/claim"), 409)["message"]

    forget(session)
    trail = [(e.kind, e.element, e.actor) for e in session.scalars(
        select(AuditEventModel).where(AuditEventModel.instance_id == case.instance_id,
                                      AuditEventModel.kind.in_(["task_claimed", "task_completed"]))
        .order_by(AuditEventModel.id))]
    assert trail == [
        ("task_claimed", "verify_hukou", f"user:{api_user_id(session, '13900000001')}"),
        ("task_completed", "verify_hukou", f"user:{api_user_id(session, '13900000001')}"),
        ("task_completed", "verify_residence", f"user:{api_user_id(session, '13900000002')}"),
        ("task_completed", "township_audit", f"user:{api_user_id(session, '13900000010')}"),
    ]


def api_user_id(session, phone: str) -> int:
    """Return the id of the account with `phone`."""
    return accounts.find_by_phone(session, phone).id


def test_a_task_claimed_by_a_colleague_cannot_be_claimed_or_completed(session, submit, api, people):
    case = submit()
    (task,) = _task_ids(session, case, "verify_hukou")
    accounts.create_user(session, phone="13900000011", name="钱多福", role=VILLAGE_STAFF, password="Test@12345",
                         division_code=HUKOU_VILLAGE)
    session.commit()
    colleague_secret = api_tokens.issue_token(session, accounts.find_by_phone(session, "13900000011"), "x")
    session.commit()
    hukou, colleague = api("hukou"), api(token=colleague_secret)

    assert colleague.post(f"{SERVER_PREFIX}/tasks/{task}/claim").status_code == 200
    assert colleague.post(f"{SERVER_PREFIX}/tasks/{task}/claim").status_code == 200, "claiming again is a no-op"
    assert _error(hukou.post(f"{SERVER_PREFIX}/tasks/{task}/claim"), 409)["message"] == (
        "该任务已由钱多福认领，请刷新待办列表")
    refused = hukou.post(f"{SERVER_PREFIX}/tasks/{task}/complete", json_body={"decision": "verified"})
    assert _error(refused, 409)["message"] == "该任务已由其他工作人员认领"
    assert _error(hukou.post(f"{SERVER_PREFIX}/tasks/{task}/release"), 403)["message"] == "只能释放自己认领的任务"
    assert _todo(hukou) == []

    released = colleague.post(f"{SERVER_PREFIX}/tasks/{task}/release").get_json()["task"]
    assert released["claimed_by"] is None
    refused = colleague.post(f"{SERVER_PREFIX}/tasks/{task}/release")
    assert _error(refused, 409)["message"] == "该任务尚未被认领，无需释放"
    assert hukou.post(f"{SERVER_PREFIX}/tasks/{task}/complete", json_body={"decision": "verified"}).status_code == 200
    forget(session)
    assert [v.decision for v in cases.verifications(session, case)] == ["verified"]
    colleague_actor = accounts.find_by_phone(session, "13900000011").actor
    assert [(e.kind, e.actor) for e in session.scalars(select(AuditEventModel).where(
        AuditEventModel.kind.in_(["task_claimed", "task_released"])).order_by(AuditEventModel.id))] == [
        ("task_claimed", colleague_actor), ("task_released", colleague_actor)]
    assert people.hukou.actor in {e.actor for e in session.scalars(select(AuditEventModel).where(
        AuditEventModel.kind == "task_completed"))}


def test_outside_the_jurisdiction_is_403_and_unknown_tasks_are_404(session, submit, api):
    case = submit()
    (task,) = _task_ids(session, case, "verify_hukou")
    other, township = api("other"), api("township")
    _error(other.get(f"{SERVER_PREFIX}/tasks/{task}"), 403)
    assert _error(other.post(f"{SERVER_PREFIX}/tasks/{task}/claim"), 403)["message"] == "您无权认领该任务"
    _error(other.post(f"{SERVER_PREFIX}/tasks/{task}/release"), 403)
    _error(other.post(f"{SERVER_PREFIX}/tasks/{task}/complete", json_body={"decision": "verified"}), 403)
    _error(township.get(f"{SERVER_PREFIX}/tasks/{task}"), 403)
    assert _error(other.get(f"{SERVER_PREFIX}/tasks?division=110102"), 403)["message"] == (
        "区划 110102 不在您的辖区内，无法查看")
    # An id beyond any stored one is turned away by the route itself, before the task is looked up.
    for unknown, message in ((999_999, "任务不存在"), (99_999_999_999_999_999, "接口或资源不存在")):
        assert _error(other.get(f"{SERVER_PREFIX}/tasks/{unknown}"), 404)["message"] == message
        _error(other.post(f"{SERVER_PREFIX}/tasks/{unknown}/claim"), 404)
        _error(other.post(f"{SERVER_PREFIX}/tasks/{unknown}/release"), 404)
        _error(other.post(f"{SERVER_PREFIX}/tasks/{unknown}/complete", json_body={"decision": "verified"}), 404)
    forget(session)
    assert cases.verifications(session, case) == []


def test_bulk_claim_takes_what_is_mine_and_skips_the_rest(session, submit, api):
    first, second = submit(), submit()
    mine = _task_ids(session, first, "verify_hukou") + _task_ids(session, second, "verify_hukou")
    (not_mine,) = _task_ids(session, first, "verify_residence")
    hukou = api("hukou")
    result = hukou.post(f"{SERVER_PREFIX}/tasks/claim", json_body={"task_ids": [*mine, not_mine, 999_999, mine[0]]})
    assert result.get_json() == {"requested": 4, "claimed": 2, "claimed_task_ids": sorted(mine)}
    again = hukou.post(f"{SERVER_PREFIX}/tasks/claim", json_body={"task_ids": mine}).get_json()
    assert (again["claimed"], again["claimed_task_ids"]) == (0, sorted(mine))
    assert hukou.get(f"{SERVER_PREFIX}/tasks?view=claimed").get_json()["total"] == 2
    assert api("residence").get(f"{SERVER_PREFIX}/tasks?view=claimed").get_json()["total"] == 0

    assert _error(hukou.post(f"{SERVER_PREFIX}/tasks/claim", json_body={"task_ids": []}), 422)["fields"] == {
        "task_ids": "至少包含一个任务编号"}
    _error(hukou.post(f"{SERVER_PREFIX}/tasks/claim", json_body={"task_ids": list(range(1, 102))}), 422)
    for bad in ({"task_ids": ["1"]}, {"task_ids": [True]}, {"task_ids": 1}, {"task_ids": [0]}, {"task_ids": [1.5]},
                {}, {"task_ids": [1], "extra": 1}, [1, 2]):
        _error(hukou.post(f"{SERVER_PREFIX}/tasks/claim", json_body=bad), 400)


# -- validation ---------------------------------------------------------------------------------------------------


def test_a_decision_is_validated_against_the_form_with_messages_per_field(session, submit, api):
    case = submit()
    (task,) = _task_ids(session, case, "verify_hukou")
    hukou = api("hukou")
    url = f"{SERVER_PREFIX}/tasks/{task}/complete"

    error = _error(hukou.post(url, json_body={"decision": "mismatch", "reason": "   "}), 422)
    assert (error["code"], error["fields"]) == ("validation_failed", {"reason": "选择「情况不符」时必须填写意见或原因"})
    error = _error(hukou.post(url, json_body={"decision": "maybe"}), 422)
    assert error["fields"] == {"decision": "请从给定选项中选择（情况属实、情况不符）"}
    assert set(_error(hukou.post(url, json_body={}), 422)["fields"]) == {"decision"}
    assert set(_error(hukou.post(url, json_body={"decision": "", "reason": None}), 422)["fields"]) == {"decision"}
    error = _error(hukou.post(url, json_body={"decision": "mismatch", "reason": "长" * 501}), 422)
    assert error["fields"] == {"reason": "长度不能超过 500 个字"}
    forget(session)
    assert cases.verifications(session, case) == []

    assert hukou.post(url, json_body={"decision": "mismatch", "reason": "户口簿地址与申报不一致"}).status_code == 200
    forget(session)
    assert [(v.decision, v.reason) for v in cases.verifications(session, case)] == [
        ("mismatch", "户口簿地址与申报不一致")]


def test_malformed_requests_get_400_in_chinese_never_500(session, submit, api):
    case = submit()
    (task,) = _task_ids(session, case, "verify_hukou")
    hukou = api("hukou")
    url = f"{SERVER_PREFIX}/tasks/{task}/complete"
    not_json = "请求体应为 JSON，Content-Type 应为 application/json"
    cases_of_bad_input = [
        ("decision=verified", "application/x-www-form-urlencoded", not_json),
        ('{"decision": "verified"}', "text/plain", not_json),
        ("", "application/json", "请求体不是有效的 JSON"),
        ("{decision: verified}", "application/json", "请求体不是有效的 JSON"),
        ('{"decision": NaN}', "application/json", "请求体不是有效的 JSON"),
        ('{"decision": "verified", "decision": "mismatch"}', "application/json", "请求体不是有效的 JSON"),
        (b'{"decision": "\xff"}', "application/json", "请求体不是有效的 JSON"),
        ("[" * 100_000, "application/json", "请求体不是有效的 JSON"),
        ('["verified"]', "application/json", "请求体应为 JSON 对象"),
    ]
    for data, content_type, message in cases_of_bad_input:
        response = hukou.post(url, data=data, content_type=content_type)
        assert _error(response, 400)["message"] == message, data
    for data, message in [('{"decision": 1}', "字段 decision 应为字符串"),
                          ('{"decision": "verified", "reason": ["x"]}', "字段 reason 应为字符串"),
                          ('{"decision": "verified", "note": "x"}', "不支持的字段：note")]:
        # The keys and types of the body are the task form's: refused like its other rules, field by field.
        assert _error(hukou.post(url, data=data, content_type="application/json"), 422)["message"] == message, data
    for query, message in [("view=bogus", "未知的待办视图：bogus"), ("page=0", "参数 page 应为正整数"),
                           ("page=abc", "参数 page 应为正整数"), ("page_size=101", "每页条数应在1到100之间"),
                           ("due_before=2026-13-01", "参数 due_before 的日期格式应为 YYYY-MM-DD"),
                           ("case_type=fourth_child", "未知的申请类型：fourth_child"),
                           ("division=abc", "区划代码应为2、4、6、9或12位数字"),
                           ("search=" + "张" * 51, "搜索内容不能超过50个字")]:
        assert _error(hukou.get(f"{SERVER_PREFIX}/tasks?{query}"), 400)["message"] == message, query
    forget(session)
    assert cases.verifications(session, case) == []


def test_the_inbox_filters_as_the_workbench_does(session, submit, api):
    first = submit()
    second = submit(case_type="second_child")
    hukou = api("hukou")
    assert hukou.get(f"{SERVER_PREFIX}/tasks?case_type=second_child").get_json()["total"] == 1
    assert hukou.get(f"{SERVER_PREFIX}/tasks?search={second.case_number}").get_json()["total"] == 1
    assert hukou.get(f"{SERVER_PREFIX}/tasks?search=刘强").get_json()["total"] == 2
    assert hukou.get(f"{SERVER_PREFIX}/tasks?division={HUKOU_VILLAGE}").get_json()["total"] == 2
    assert hukou.get(f"{SERVER_PREFIX}/tasks?due_before=2000-01-01").get_json()["total"] == 0
    page = hukou.get(f"{SERVER_PREFIX}/tasks?page_size=1&page=2").get_json()
    assert (page["total"], page["pages"], len(page["items"])) == (2, 2, 1)
    assert hukou.get(f"{SERVER_PREFIX}/tasks?page=9").get_json()["items"] == []
    assert api("township").get(f"{SERVER_PREFIX}/tasks?division={TOWNSHIP}").get_json()["total"] == 0
    assert first.case_number != second.case_number


def test_an_id_number_is_searched_in_the_body_never_in_the_url(apply, api):
    case = apply()
    hukou = api("hukou")
    refused = _error(hukou.get(f"{SERVER_PREFIX}/tasks?search={WOMAN_ID}"), 400)
    assert "POST /api/v1/tasks/search" in refused["message"]
    found = hukou.post(f"{SERVER_PREFIX}/tasks/search", json_body={"search": WOMAN_ID, "page_size": 1.0})
    assert found.status_code == 200, found.get_json()
    assert [item["case_number"] for item in found.get_json()["items"]] == [case.case_number]
    # The same filters as the query string, with their checks.
    assert hukou.post(f"{SERVER_PREFIX}/tasks/search",
                      json_body={"search": WOMAN_ID, "case_type": "second_child"}).get_json()["total"] == 0
    _error(hukou.post(f"{SERVER_PREFIX}/tasks/search", json_body={"page": [1]}), 400)
    _error(hukou.post(f"{SERVER_PREFIX}/tasks/search", json_body={"whatever": 1}), 400)


def test_statistics_are_scoped_to_the_token_owners_division(submit, api):
    submit()
    submit(case_type="second_child")
    county = api("county").get(f"{SERVER_PREFIX}/statistics").get_json()
    assert (county["division"]["code"], county["total"], county["live"]) == ("110101", 2, True)
    assert county["by_type"] == {"first_child": 1, "second_child": 1, "third_child": 0}
    assert {child["code"]: child["cases"] for child in county["children"]}[TOWNSHIP] == 2
    township = api("county").get(f"{SERVER_PREFIX}/statistics?division={TOWNSHIP}&type=second_child").get_json()
    assert (township["division"]["code"], township["total"]) == (TOWNSHIP, 1)
    assert [p["code"] for p in township["division"]["path"]] == ["11", "1101", "110101", TOWNSHIP]
    own = api("township").get(f"{SERVER_PREFIX}/statistics").get_json()
    assert own["division"]["code"] == TOWNSHIP
    for who, division in (("township", "110101"), ("county", "11"), ("county", "130623")):
        error = _error(api(who).get(f"{SERVER_PREFIX}/statistics?division={division}"), 403)
        assert error["message"] == "无权查看该区划的统计数据（仅限本人辖区及其下级区划）"
    _error(api("hukou").get(f"{SERVER_PREFIX}/statistics"), 403)
    for query, message in (("from=2026-13", "起始月份应为 YYYY-MM 格式的月份，如 2026-01"),
                           ("type=fourth_child", "未知的申请类型：fourth_child")):
        assert _error(api("county").get(f"{SERVER_PREFIX}/statistics?{query}"), 400)["message"] == message
    # Two well-formed months in the wrong order: valid by the document, refused for what they say.
    assert _error(api("county").get(f"{SERVER_PREFIX}/statistics?from=2026-02&to=2026-01"), 422)["message"] == (
        "起始月份不能晚于截止月份")


# -- the OpenAPI document -----------------------------------------------------------------------------------------


def test_the_openapi_document_is_valid_and_served_without_a_token(api):
    response = api().get(f"{SERVER_PREFIX}/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document == json.loads(json.dumps(DOCUMENT))
    openapi_spec_validator.validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "brt_…", "description": "工作人员的接口令牌"}


def test_every_api_route_is_in_the_openapi_document(app):
    routes = {
        (method, _documented_path(rule.rule))
        for rule in app.url_map.iter_rules() if rule.rule.startswith(SERVER_PREFIX + "/")
        for method in rule.methods & METHODS
    }
    documented = {(method.upper(), path) for path, operations in DOCUMENT["paths"].items() for method in operations}
    assert routes == documented
    assert all(rule.endpoint.startswith("api.") for rule in app.url_map.iter_rules()
               if rule.rule.startswith(SERVER_PREFIX + "/"))


def test_every_documented_operation_answers_as_documented(session, submit, apply, api):
    """Walk each operation of the document once, in the order a staff app would; each answer is schema-checked."""
    CALLED.clear()
    case = submit(same_village=True)
    (task,) = _task_ids(session, case, "verify_both")
    hukou = api("hukou")
    assert hukou.get(f"{SERVER_PREFIX}/openapi.json").status_code == 200
    assert _todo(hukou) == [task]
    searched = hukou.post(f"{SERVER_PREFIX}/tasks/search", json_body={"search": case.case_number})
    assert [item["id"] for item in searched.get_json()["items"]] == [task]
    assert hukou.get(f"{SERVER_PREFIX}/tasks/{task}").status_code == 200
    assert hukou.post(f"{SERVER_PREFIX}/tasks/{task}/claim").status_code == 200
    assert hukou.post(f"{SERVER_PREFIX}/tasks/{task}/release").status_code == 200
    assert hukou.post(f"{SERVER_PREFIX}/tasks/claim", json_body={"task_ids": [task]}).get_json()["claimed"] == 1
    done = hukou.post(f"{SERVER_PREFIX}/tasks/{task}/complete", json_body={"decision": "verified", "reason": ""})
    assert done.status_code == 200, done.text
    assert api("township").get(f"{SERVER_PREFIX}/statistics?type=first_child").get_json()["total"] == 1
    person = apply().woman_id
    found = hukou.post(f"{SERVER_PREFIX}/people/search", json_body={"query": WOMAN_ID}).get_json()
    assert [item["id"] for item in found["items"]] == [person]
    assert hukou.get(f"{SERVER_PREFIX}/people/{person}").get_json()["id_number"] == "110101********1227"
    documented = {(method.upper(), path) for path, operations in DOCUMENT["paths"].items() for method in operations}
    assert documented == CALLED, "a documented operation is not walked here (or an undocumented one is)"
