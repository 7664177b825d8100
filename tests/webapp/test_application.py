"""The citizen's application pages: notice, type choice, the form with its checks, drafts, lookup."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from engine.models import ProcessDefinitionModel
from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE
from services import applications, cases
from services.accounts import UserModel
from services.db import db
from tests.fixtures import csrf_token, post_form, sign_in
from tests.identities import id_number, with_wrong_check

WOMAN_ID = id_number("19930307", "2")
MAN_ID = id_number("19910512", "1")


def spouse_fields(prefix, number, name, **overrides):
    fields = {"name": name, "id_number": number,
              "birth_date": f"{number[6:10]}-{number[10:12]}-{number[12:14]}", "ethnicity": "01",
              "phone": "13800000001", "employer": "东城区某公司", "employer_phone": "010-12345678",
              "marital_status": "21", "hukou_division": HUKOU_VILLAGE, "residence_division": RESIDENCE_VILLAGE,
              **overrides}
    return {f"{prefix}-{key}": value for key, value in fields.items()}


def form_fields(woman=None, man=None, children=()):
    data = {**spouse_fields("woman", WOMAN_ID, "张丽", **(woman or {})),
            **spouse_fields("man", MAN_ID, "刘强", **(man or {}))}
    for index, child in enumerate(children):
        data.update({f"children-{index}-{key}": value for key, value in child.items()})
    return data


@pytest.fixture
def citizen(client, people, deployed):  # noqa: ARG001 - the diagrams must be deployed
    """The demo citizen, signed in, past the notice."""
    sign_in(client, people.citizen)
    response = post_form(client, "/apply", "/apply", {"read": "y"})
    assert response.location == "/apply/types"
    return client


def new_draft(client, case_type="first_child"):
    page = client.get("/apply/types")
    response = client.post(f"/apply/new/{case_type}", data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    return response.location


def post_application(client, url, data, action="next"):
    page = client.get(url)
    return client.post(url, data={"csrf_token": csrf_token(page.text), "action": action, **data})


def test_the_notice_must_be_confirmed_before_choosing_a_type(client, people, deployed):  # noqa: ARG001
    sign_in(client, people.citizen)
    assert client.get("/apply/types").location == "/apply"
    refused = post_form(client, "/apply", "/apply", {})
    assert "请先阅读申报须知并勾选确认" in refused.text
    assert "一次备齐" in refused.text, "the notice lists the materials to bring in one go"
    assert post_form(client, "/apply", "/apply", {"read": "y"}).location == "/apply/types"


def test_the_types_offered_follow_the_active_definitions(citizen, session):
    page = citizen.get("/apply/types").text
    assert re.findall(r"<h2>(.+?)</h2>", page)[:3] == ["一孩登记", "二孩登记", "三孩审批"]

    session.execute(update(ProcessDefinitionModel).where(ProcessDefinitionModel.key == "third_child_approval")
                    .values(active=False))
    session.commit()
    page = citizen.get("/apply/types")
    assert "三孩审批" not in page.text
    refused = citizen.post("/apply/new/third_child", data={"csrf_token": csrf_token(page.text)})
    assert refused.location == "/apply/types"
    assert "当前不受理该类型的申请" in citizen.get("/apply/types").text


def test_a_wrong_checksum_is_explained_and_the_answers_are_kept_as_a_draft(citizen, session):
    url = new_draft(citizen)
    page = post_application(citizen, url, form_fields(woman={"id_number": with_wrong_check(WOMAN_ID)}))
    assert page.status_code == 200
    assert "身份证号码校验位不正确，请核对后重新输入" in page.text
    assert "申请信息有误，请按提示修改（已保存为草稿）" in page.text
    draft = db.session.scalar(select(applications.ApplicationModel))
    assert draft.answers["man"]["name"] == "刘强", "what was typed is kept"
    assert db.session.scalar(select(cases.CaseModel)) is None


def test_birth_date_and_sex_must_agree_with_the_id_number(citizen):
    url = new_draft(citizen)
    page = post_application(citizen, url, form_fields(woman={"birth_date": "1993-03-08"}, man={"id_number": WOMAN_ID}))
    assert "身份证号码中的出生日期为 1993-03-07，与填写的出生日期不一致" in page.text
    assert "身份证号码显示为女性，与男方不符" in page.text


def test_a_complete_form_goes_on_to_the_materials(citizen):
    url = new_draft(citizen)
    response = post_application(citizen, url, form_fields())
    assert response.status_code == 302
    assert response.location == f"{url}/review" or response.location.endswith("/materials")


def test_parity_is_checked_on_the_form(citizen):
    url = new_draft(citizen, "second_child")
    page = post_application(citizen, url, form_fields())
    assert "申请二孩登记（第2孩）时，「夫妻双方亲生」的子女应为 1 个，您填写了 0 个" in page.text


def test_a_draft_is_saved_and_resumed_with_its_children(citizen):
    url = new_draft(citizen, "second_child")
    added = post_application(citizen, url, form_fields(), action="add_child")
    assert "子女 1" in added.text
    child = {"name": "刘小明", "sex": "1", "birth_date": "2021-06-01", "document_number": "O110123456",
             "relation": "both"}
    saved = post_application(citizen, url, form_fields(children=[child]), action="save")
    assert saved.location == url
    resumed = citizen.get(url).text
    assert 'value="刘小明"' in resumed
    assert 'value="张丽"' in resumed
    removed = post_application(citizen, url, form_fields(children=[child]), action="remove_child-0")
    assert 'value="刘小明"' not in removed.text


def test_a_known_applicant_finds_their_own_details_filled_in(citizen, session, people):
    session.execute(update(UserModel).where(UserModel.id == people.citizen.id).values(id_number=WOMAN_ID))
    session.commit()
    page = citizen.get(new_draft(citizen)).text
    assert f'value="{WOMAN_ID}"' in page
    assert 'value="1993-03-07"' in page


def test_another_citizens_draft_is_not_found(citizen, session, people):
    from services import accounts

    other = accounts.create_user(session, phone="13800000002", name="王芳", role="citizen", password="Test@12345")
    draft = applications.start(session, other.id, "first_child")
    session.commit()
    assert citizen.get(f"/apply/{draft.token}").status_code == 404
    assert citizen.get(f"/apply/{draft.token}/review").status_code == 404


def test_staff_do_not_apply(browser_for):
    assert browser_for("hukou").get("/apply").status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, app):  # noqa: ARG001
    assert client.get("/apply").location.startswith("/auth/login")
    assert client.get("/my").location.startswith("/auth/login")


def test_the_division_picker_lists_each_level(client, app):  # noqa: ARG001
    provinces = client.get("/divisions/0/children").json
    assert {"code": "11", "name": "北京市"} in provinces
    villages = client.get("/divisions/110101001/children").json
    assert {"code": HUKOU_VILLAGE, "name": "多福巷社区居委会"} in villages
    assert client.get("/divisions/abc/children").status_code == 400
    assert client.get("/divisions/99/children").json == []


def test_the_lookup_needs_the_right_phone(client, submit):
    case = submit()
    found = post_form(client, "/track", "/track", {"case_number": case.case_number, "phone": "13800000001"})
    assert "办理中" in found.text
    assert "张丽" not in found.text, "the lookup shows no personal details"
    wrong = post_form(client, "/track", "/track", {"case_number": case.case_number, "phone": "13800000009"})
    assert "未找到该申请，请核对受理编号和手机号码" in wrong.text
    malformed = post_form(client, "/track", "/track", {"case_number": "<script>", "phone": "x"})
    assert "受理编号为 14 位数字" in malformed.text


HOSTILE = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["<script>alert(1)</script>", "' OR 1=1 --", "\x00\x1b[31m", "a" * 5000, "2023-02-30",
                     "9999-99-99", with_wrong_check(WOMAN_ID), "１１０１０１", "\u202e",
                     "Robert'); DROP TABLE person;--"]),
)
FIELDS = ["woman-name", "woman-id_number", "woman-birth_date", "woman-phone", "woman-employer_phone",
          "woman-hukou_division", "woman-ethnicity", "man-marital_status", "children-0-birth_date",
          "children-0-document_number", "children-0-relation"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=HOSTILE)
def test_hostile_input_gets_a_message_never_a_500_or_a_case(citizen, field, value):
    url = new_draft(citizen) if not hasattr(citizen, "draft_url") else citizen.draft_url
    citizen.draft_url = url
    child = {"name": "刘小明", "sex": "1", "birth_date": "2021-06-01", "document_number": "O110123456",
             "relation": "adopted"}
    response = post_application(citizen, url, {**form_fields(children=[child]), field: value})
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert 'class="field-error"' in response.text or "alert-error" in response.text
    assert db.session.scalar(select(cases.CaseModel)) is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=HOSTILE, phone=HOSTILE)
def test_hostile_lookups_get_a_message_never_a_500(client, app, number, phone):  # noqa: ARG001
    page = client.get("/track")
    response = client.post("/track", data={"csrf_token": csrf_token(page.text), "case_number": number,
                                           "phone": phone})
    assert response.status_code == 200
    assert "alert-error" in response.text or 'class="field-error"' in response.text
