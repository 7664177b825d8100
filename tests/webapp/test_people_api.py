"""The resource-base API (POST /api/v1/people/search, GET /api/v1/people/{id}): same rules as the pages.

Requests go through test_api's ApiClient, so every answer is checked against the schema the OpenAPI document gives
for its operation and status.
"""

import json

import pytest
from sqlalchemy import select

from engine.models import AuditEventModel
from services import api_tokens
from tests.applications import WOMAN_ID
from tests.fixtures import forget
from tests.identities import with_wrong_check
from tests.resource_world import A_NEW_PHONE, A_VILLAGE, B_MAN_ID, B_MAN_PHONE, B_VILLAGE, build
from tests.webapp.test_api import ApiClient
from webapp.api.openapi import SERVER_PREFIX

SEARCH = f"{SERVER_PREFIX}/people/search"


@pytest.fixture
def world(session, people, deployed):
    return build(session, people, deployed)


@pytest.fixture
def api(app, client, session, world):
    """Return an ApiClient with a fresh token for one of the world's people (by attribute name)."""
    def make(name: str) -> ApiClient:
        secret = api_tokens.issue_token(session, getattr(world.people, name), "测试")
        session.commit()
        return ApiClient(app, client, secret)

    return make


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.get_json()["error"]


def test_a_village_clerk_searches_in_a_json_body_and_reads_masked_numbers(world, api):
    hukou = api("hukou")
    found = hukou.post(SEARCH, json_body={"query": "张"}).get_json()
    assert (found["kind"], found["kind_label"], found["total"], found["names_visible"]) == ("name", "姓名", 1, True)
    assert found["division"] == {"code": A_VILLAGE, "name": "多福巷社区居委会"}
    assert found["counts"] is None
    (item,) = found["items"]
    assert (item["id"], item["name"], item["id_number"], item["phone"]) == (
        world.ids["zhang_li"], "张丽", "110101********1227", "137****0009")
    assert item["place"] == {"code": A_VILLAGE, "name": "多福巷社区居委会"}
    by_number = hukou.post(SEARCH, json_body={"query": WOMAN_ID, "page": 1, "page_size": 5}).get_json()
    assert [i["id"] for i in by_number["items"]] == [world.ids["zhang_li"]]
    assert WOMAN_ID not in json.dumps(by_number)
    assert hukou.post(SEARCH, json_body={"query": B_MAN_ID}).get_json()["total"] == 0


def test_the_county_gets_counts_and_rows_without_names(world, api):
    found = api("county").post(SEARCH, json_body={"query": "张", "division": None}).get_json()
    assert found["names_visible"] is False
    assert {item["name"] for item in found["items"]} == {None}
    assert {item["masked_name"] for item in found["items"]} == {"张*"}
    assert [(c["code"], c["count"], [(p["code"], p["count"]) for p in c["parts"]]) for c in found["counts"]] == [
        ("110101001", 1, [(A_VILLAGE, 1)]), ("110101002", 2, [(B_VILLAGE, 2)])]
    assert "张伟" not in json.dumps(found, ensure_ascii=False)


def test_a_person_is_read_masked_and_revealed_only_when_asked_with_an_audit_row(session, world, api):
    hukou = api("hukou")
    url = f"{SERVER_PREFIX}/people/{world.ids['zhang_li']}"
    person = hukou.get(url).get_json()
    assert (person["name"], person["id_number"], person["phone"], person["revealed"]) == (
        "张丽", "110101********1227", "137****0009", False)
    assert person["hukou_division"] == {"code": A_VILLAGE, "name": "多福巷社区居委会"}
    assert [c["case_type_label"] for c in person["cases"]] == ["二孩登记", "一孩登记"]
    assert [(c["name"], c["relation_label"]) for c in person["children"]] == [("刘小0", "夫妻双方亲生")]
    phone_change = next(h for h in person["history"] if h["field"] == "phone")
    assert (phone_change["old_value"], phone_change["new_value"], phone_change["actor_name"]) == (
        "138****0001", "137****0009", "李多福")
    forget(session)
    assert session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "pii_viewed")).all() == []

    revealed = hukou.get(url + "?reveal=true").get_json()
    assert (revealed["id_number"], revealed["phone"], revealed["revealed"]) == (WOMAN_ID, A_NEW_PHONE, True)
    forget(session)
    (audit,) = session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "pii_viewed")).all()
    assert (audit.detail["person_id"], audit.detail["via"]) == (world.ids["zhang_li"], "api")
    assert _error(hukou.get(url + "?reveal=maybe"), 400)["message"] == "参数 reveal 应为 true 或 false"

    county = api("county").get(f"{SERVER_PREFIX}/people/{world.ids['zhang_wei']}?reveal=1").get_json()
    assert (county["name"], county["id_number"], county["phone"]) == ("张伟", B_MAN_ID, B_MAN_PHONE)


def test_outside_the_jurisdiction_is_404_and_administrators_are_403(world, api):
    longfu = api("longfu")
    outside = _error(longfu.get(f"{SERVER_PREFIX}/people/{world.ids['zhang_li']}"), 404)
    missing = _error(longfu.get(f"{SERVER_PREFIX}/people/987654"), 404)
    assert outside == missing == {"code": "not_found", "message": "未找到该人员，或该人员不在您的辖区内"}
    _error(longfu.get(f"{SERVER_PREFIX}/people/{2**40}"), 404)
    for who in ("admin", "policy"):
        client = api(who)
        assert _error(client.post(SEARCH, json_body={"query": "张"}), 403)["message"] == "您的角色不能查询信息资源库"
        _error(client.get(f"{SERVER_PREFIX}/people/{world.ids['zhang_li']}"), 403)


def test_bad_searches_get_400_in_chinese_and_a_division_outside_403(world, api):
    hukou = api("hukou")
    # Well formed, but no searchable ID number, phone or name: 422 with the reason on the field.
    for body, message in [
        ({"query": with_wrong_check(WOMAN_ID)}, "身份证号码校验位不正确，请核对后重新输入"),
        ({"query": ""}, "请输入要查询的人员：完整的18位身份证号码、11位手机号码，或姓名（可只输入姓或名字的开头）"),
        ({"query": "' OR 1=1 --"}, "姓名只能包含汉字、字母和间隔号「·」"),
    ]:
        assert _error(hukou.post(SEARCH, json_body=body), 422)["fields"] == {"query": message}, body
    for body, message in [
        ({}, "请输入要查询的人员：完整的18位身份证号码、11位手机号码，或姓名（可只输入姓或名字的开头）"),
        ({"query": "张" * 10_000}, "搜索内容不能超过50个字"),
        ({"query": 110101}, "字段 query 应为字符串"),
        ({"query": "张", "page_size": 101}, "字段 page_size 应为1到100之间的整数"),
        ({"query": "张", "page": 0}, "字段 page 应为1到100000之间的整数"),
        ({"query": "张", "page": True}, "字段 page 应为1到100000之间的整数"),
        ({"query": "张", "division": "abc"}, "区划代码应为2、4、6、9或12位数字"),
        ({"query": "张", "sort": "name"}, "不支持的字段：sort"),
    ]:
        assert _error(hukou.post(SEARCH, json_body=body), 400)["message"] == message, body
    response = hukou.post(SEARCH, data="query=张", content_type="application/x-www-form-urlencoded")
    assert _error(response, 400)["message"] == "请求体应为 JSON，Content-Type 应为 application/json"
    assert _error(hukou.post(SEARCH, json_body={"query": "张", "division": B_VILLAGE}), 403)["message"] == (
        f"区划 {B_VILLAGE} 不在您的辖区内")
