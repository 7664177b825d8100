"""The administration pages: staff accounts, the message outbox, and read-only case views for officials."""

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from engine.calendar import CST
from engine.models import AuditEventModel, OutboxModel, ProcessInstanceModel
from processes import background
from processes.demo import HUKOU_VILLAGE, TOWNSHIP
from processes.roles import (
    CITY_OFFICIAL,
    COUNTY_OFFICIAL,
    PROVINCE_OFFICIAL,
    SERVICE_HALL,
    SYSTEM_ADMIN,
    TOWNSHIP_STAFF,
)
from processes.runtime import RUNTIME
from services import accounts, mail, notifications
from tests.fixtures import PASSWORD, csrf_token, decide, forget, post_form, sign_in, sms_templates

MONDAY_MORNING = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
NEW_STAFF = {"phone": "13900000099", "name": "钱社区", "role": "village_staff", "division_code": HUKOU_VILLAGE,
             "password": "Staff@2026"}


@pytest.fixture
def crew(session, people):
    """The `people`, with a system administrator and officials of other roles and places added."""
    def make(attribute, phone, name, role, division):
        setattr(people, attribute, accounts.create_user(session, phone=phone, name=name, role=role,
                                                        password=PASSWORD, division_code=division))

    make("admin", "13700000001", "管理员", SYSTEM_ADMIN, "11")
    make("far_county", "13900000021", "周西城", COUNTY_OFFICIAL, "110102")
    make("city", "13900000030", "吴市级", CITY_OFFICIAL, "1101")
    make("province", "13900000040", "郑省级", PROVINCE_OFFICIAL, "11")
    make("hall", "13900000050", "冯大厅", SERVICE_HALL, TOWNSHIP)
    make("far_township", "13900000060", "褚景山", TOWNSHIP_STAFF, "110101002")
    session.commit()
    return people


def _flashes(html):
    return re.findall(r'<p class="alert alert-\w+" role="status">([^<]+)</p>', html)


def _account_count(session):
    forget(session)
    return session.scalar(select(func.count()).select_from(accounts.UserModel))


def _audit(session, kind):
    forget(session)
    return session.scalars(select(AuditEventModel).where(AuditEventModel.kind == kind)).all()


# -- who may enter -------------------------------------------------------------------------------------------------


def test_a_visitor_is_sent_to_sign_in(client):
    for url in ("/admin/", "/admin/staff", "/admin/messages", "/admin/cases", "/admin/cases/20260302000001"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.location.startswith("/auth/login")


@pytest.mark.parametrize("name", ["citizen", "hukou", "township", "county", "city", "hall"])
def test_only_system_admins_manage_accounts_and_messages(session, crew, browser_for, name):
    browser = browser_for(name)
    token = csrf_token(browser.get("/auth/me").text)
    assert browser.get("/admin/staff").status_code == 403
    assert browser.get("/admin/messages").status_code == 403
    assert browser.post("/admin/staff", data={"csrf_token": token, **NEW_STAFF}).status_code == 403
    assert browser.post(f"/admin/staff/{crew.other.id}/deactivate", data={"csrf_token": token}).status_code == 403
    assert browser.post("/admin/messages/outbox/1/retry", data={"csrf_token": token}).status_code == 403
    assert "您没有权限访问此页面" in browser.get("/admin/staff").text
    forget(session)
    assert accounts.find_by_phone(session, NEW_STAFF["phone"]) is None
    assert session.get(accounts.UserModel, crew.other.id).active


def test_the_admin_index_sends_each_role_to_its_page(crew, browser_for):
    assert browser_for("admin").get("/admin/").location == "/admin/staff"
    assert browser_for("county").get("/admin/").location == "/statistics/", "officials start on their home"
    assert browser_for("hukou").get("/admin/").location == "/staff/"
    assert browser_for("citizen").get("/admin/").status_code == 403


# -- staff accounts ------------------------------------------------------------------------------------------------


def test_the_staff_list_shows_role_division_state_and_last_sign_in(crew, browser_for):
    admin = browser_for("admin")
    page = admin.get("/admin/staff")
    assert page.status_code == 200
    assert "李多福" in page.text
    assert "村（居）工作人员" in page.text
    assert "北京市东城区东华门街道多福巷社区居委会" in page.text
    assert "从未登录" in page.text, "staff who never signed in"
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d</td>", page.text), "the admin's own last sign-in"
    assert "张丽" not in page.text, "citizens are not staff"
    assert "当前账号" in page.text, "no button to deactivate oneself"


def test_staff_are_found_by_name_or_phone(crew, browser_for):
    admin = browser_for("admin")
    by_name = admin.get("/admin/staff?search=李多")
    assert "李多福" in by_name.text
    assert "王银闸" not in by_name.text
    by_phone = admin.get("/admin/staff?search=13900000002")
    assert "王银闸" in by_phone.text
    assert "李多福" not in by_phone.text
    assert "没有符合条件的工作人员账号" in admin.get("/admin/staff?search=%25").text, "% is a character, not a wildcard"


def test_an_admin_creates_a_staff_account_that_can_sign_in(session, crew, browser_for, client):
    admin = browser_for("admin")
    response = post_form(admin, "/admin/staff", "/admin/staff", {**NEW_STAFF, "phone": "139 0000 0099"})
    assert response.status_code == 302
    assert response.location == "/admin/staff"
    page = admin.get("/admin/staff")
    assert ("已创建工作人员账号：钱社区（村（居）工作人员，北京市东城区东华门街道多福巷社区居委会），"
            "手机号码 13900000099") in _flashes(page.text)
    forget(session)
    user = accounts.find_by_phone(session, "13900000099")
    assert (user.name, user.role, user.division_code, user.active) == ("钱社区", "village_staff", HUKOU_VILLAGE, True)
    assert check_password_hash(user.password_hash, "Staff@2026")
    sign_in(client, user, password="Staff@2026")
    assert client.get("/staff/").status_code == 200


@pytest.mark.parametrize(("changes", "message"), [
    ({"role": "citizen"}, "角色 &#39;citizen&#39; 不是工作人员角色，可选：village_staff（村（居）工作人员）"),
    ({"role": ""}, "请选择角色"),
    ({"division_code": "110101001999"}, "没有代码为 110101001999 的行政区划"),
    ({"role": "township_staff"},
     "乡镇（街道）工作人员的所属区划应为 9 位代码，110101001001（多福巷社区居委会）是 12 位"),
    ({"role": "county_official", "division_code": "11"}, "县级卫生健康部门的所属区划应为 6 位代码"),
    ({"phone": "1390000009"}, "手机号码 &#39;1390000009&#39; 无效：应为以 1 开头的 11 位数字"),
    ({"phone": "13900000001"}, "手机号码 13900000001 已被其他账号使用"),
    ({"phone": ""}, "请输入手机号码"),
    ({"name": "  "}, "请输入姓名"),
    ({"name": "长" * 51}, "姓名不超过 50 个字"),
    ({"password": "staff2026"}, "密码不符合要求：密码需包含大写字母、小写字母、数字、其他符号中的至少 3 类"),
    ({"password": "Ab1!"}, "密码不符合要求：密码至少 8 位"),
    ({"password": ""}, "请输入初始密码"),
])
def test_bad_input_is_refused_on_the_form_and_nothing_is_written(session, crew, browser_for, changes, message):
    admin = browser_for("admin")
    before = _account_count(session)
    response = post_form(admin, "/admin/staff", "/admin/staff", {**NEW_STAFF, **changes})
    assert response.status_code == 200
    assert f'<p class="field-error">{message}' in response.text
    assert "账号未创建，请按提示修改后重新提交" in _flashes(response.text)
    assert "Staff@2026" not in response.text, "the password is not sent back"
    assert _account_count(session) == before


def test_a_post_without_its_csrf_token_is_refused(session, crew, browser_for):
    admin = browser_for("admin")
    assert admin.post("/admin/staff", data=NEW_STAFF).status_code == 400
    assert admin.post(f"/admin/staff/{crew.other.id}/deactivate").status_code == 400
    forget(session)
    assert accounts.find_by_phone(session, NEW_STAFF["phone"]) is None
    assert session.get(accounts.UserModel, crew.other.id).active


def test_deactivating_is_audited_ends_the_session_and_activating_does_not_revive_it(session, crew, browser_for,
                                                                                   client):
    admin, other = browser_for("admin"), browser_for("other")
    assert other.get("/staff/").status_code == 200
    response = post_form(admin, "/admin/staff", f"/admin/staff/{crew.other.id}/deactivate", {"confirm": "1"})
    assert response.status_code == 302
    assert "已停用账号：赵东厂（13900000003）" in _flashes(admin.get("/admin/staff").text)
    assert "已停用" in admin.get("/admin/staff?search=赵东厂").text

    (event,) = _audit(session, "account_deactivated")
    assert (event.instance_id, event.actor, event.detail["phone_ending"]) == (None, crew.admin.actor, "0003")
    assert not session.get(accounts.UserModel, crew.other.id).active
    assert other.get("/staff/").location.startswith("/auth/login"), "signed out at the next request"
    refused = post_form(other, "/auth/login", "/auth/login", {"phone": crew.other.phone, "password": PASSWORD})
    assert accounts.INACTIVE in refused.text

    activated = post_form(admin, "/admin/staff", f"/admin/staff/{crew.other.id}/activate", {"confirm": "1"})
    assert activated.status_code == 302
    (event,) = _audit(session, "account_activated")
    assert (event.instance_id, event.actor, event.detail["phone_ending"]) == (None, crew.admin.actor, "0003")
    assert session.get(accounts.UserModel, crew.other.id).active
    assert other.get("/staff/").location.startswith("/auth/login"), "the session from before stays ended"
    # The password is accepted again: the SMS code step follows (a new code must wait out the resend interval).
    accepted = post_form(client, "/auth/login", "/auth/login", {"phone": crew.other.phone, "password": PASSWORD})
    assert accepted.location == "/auth/verify"


def test_an_admin_cannot_deactivate_themself(session, crew, browser_for):
    admin = browser_for("admin")
    response = post_form(admin, "/admin/staff", f"/admin/staff/{crew.admin.id}/deactivate", {"confirm": "1"})
    assert response.status_code == 302
    assert "不能停用自己的账号" in _flashes(admin.get("/admin/staff").text)
    assert _audit(session, "account_deactivated") == []
    assert session.get(accounts.UserModel, crew.admin.id).active
    assert admin.get("/admin/staff").status_code == 200


def test_citizens_and_unknown_accounts_are_not_staff_to_deactivate(session, crew, browser_for):
    admin = browser_for("admin")
    citizen = post_form(admin, "/admin/staff", f"/admin/staff/{crew.citizen.id}/deactivate", {"confirm": "1"})
    assert citizen.status_code == 404
    assert post_form(admin, "/admin/staff", "/admin/staff/99999/deactivate", {"confirm": "1"}).status_code == 404
    assert _audit(session, "account_deactivated") == []
    assert session.get(accounts.UserModel, crew.citizen.id).active


# -- message outbox ------------------------------------------------------------------------------------------------


def _outbox_rows(html):
    section = html.split("<h2>已发送短信</h2>")[0]
    cell = r"\s*<td[^>]*>(.*?)</td>"
    return re.findall(r"<tr>" + cell * 5, section, re.DOTALL)


def test_a_failing_sms_shows_as_an_incident_and_is_retried_from_the_page(session, crew, submit, browser_for,
                                                                         monkeypatch):
    def broken(_session, _phone, _text):
        raise ConnectionError("短信网关无响应")

    admin = browser_for("admin")
    monkeypatch.setitem(notifications.PROVIDERS, "record", broken)
    with time_machine.travel(MONDAY_MORNING, tick=False):
        case = submit(same_village=True)
        decide(session, case, "verify_both", crew.hukou, "verified")
        decide(session, case, "township_audit", crew.township, "approved")
    row = session.scalar(select(OutboxModel).where(OutboxModel.bpmn_id == "notify_approved"))

    page = admin.get("/admin/messages")
    (shown,) = _outbox_rows(page.text)
    assert "重试中" in shown[0]
    assert (shown[1], shown[2], shown[3], shown[4]) == (
        case.case_number, "短信通知登记成功", "发送短信 · 登记成功", "1"), "the step and what it does in words, not ids"
    assert "短信网关无响应" in page.text
    assert f'action="/admin/messages/outbox/{row.id}/retry"' not in page.text, "only an incident has a retry button"
    refused = post_form(admin, "/admin/messages", f"/admin/messages/outbox/{row.id}/retry", {})
    assert refused.status_code == 302
    assert "该服务任务不处于故障状态，无需重试" in _flashes(admin.get("/admin/messages").text)

    with time_machine.travel(MONDAY_MORNING, tick=False) as clock:
        for _ in range(RUNTIME.retry_policy.max_attempts):
            clock.shift(timedelta(hours=12))
            background.tick()
    forget(session)
    assert session.get(OutboxModel, row.id).status == "incident"

    page = admin.get("/admin/messages")
    (shown,) = _outbox_rows(page.text)
    assert '<span class="badge badge-bad">故障</span>' in shown[0]
    assert shown[4] == str(RUNTIME.retry_policy.max_attempts)
    assert f'action="/admin/messages/outbox/{row.id}/retry"' in page.text
    assert sms_templates(session, case) == []

    monkeypatch.undo()
    response = post_form(admin, "/admin/messages", f"/admin/messages/outbox/{row.id}/retry", {})
    assert response.status_code == 302
    assert response.location == "/admin/messages"
    page = admin.get("/admin/messages")
    assert "已重新提交服务任务：短信通知登记成功（发送短信 · 登记成功），系统将立即重试" in _flashes(page.text)
    assert "没有失败的服务任务" in page.text
    assert "138****0001" in page.text, "the citizen's phone, masked"
    assert "13800000001" not in page.text
    assert "已登记成功" in page.text
    assert "<td>登记成功</td>" in page.text, "the template by its Chinese name"
    assert "audit_approved" not in page.text
    forget(session)
    assert session.get(OutboxModel, row.id).status == "done"
    instance = session.get(ProcessInstanceModel, case.instance_id)
    assert (instance.status, instance.incident) == ("completed", False)
    assert sms_templates(session, case) == ["audit_approved"]
    retried = session.scalar(select(AuditEventModel).where(AuditEventModel.kind == "incident_retried"))
    assert retried.actor == crew.admin.actor


def test_messages_are_newest_first_and_sign_in_codes_are_not_shown(session, crew, browser_for):
    browser_for("hukou")  # a sign-in code SMS
    admin = browser_for("admin")
    for n in range(3):
        notifications.send_sms(session, [f"1380000010{n}"], "task_overdue",
                               {"case_number": f"2026030200000{n}", "task": "户籍地村（居）核实"},
                               case_number=f"2026030200000{n}")
    session.commit()
    page = admin.get("/admin/messages").text
    numbers = re.findall(r"受理编号(2026030200000\d)的", page)
    assert numbers == ["20260302000002", "20260302000001", "20260302000000"]
    assert "138****0100" in page
    assert "验证码短信，内容不显示" in page
    assert "您的验证码为" not in page


def test_emails_are_listed_without_their_recovery_links(session, crew, browser_for):
    mail.send_mail(session, "wangfang@example.com", "password_reset", "重置密码", "请打开 https://x/auth/reset/SECRET")
    session.commit()
    page = browser_for("admin").get("/admin/messages").text
    assert "w***@example.com" in page
    assert "重置密码" in page
    assert "SECRET" not in page
    assert "wangfang@example.com" not in page


def test_messages_are_paginated(session, crew, browser_for):
    admin = browser_for("admin")
    for n in range(60):
        notifications.send_sms(session, ["13800000100"], "audit_approved", {"case_number": f"C{n:03d}"})
    session.commit()
    first = admin.get("/admin/messages").text
    assert "C059" in first
    assert "C000" not in first
    assert 'href="/admin/messages?page=2"' in first
    second = admin.get("/admin/messages?page=2").text
    assert "C000" in second
    assert "C059" not in second


def test_retrying_an_unknown_service_task_is_404(crew, browser_for):
    admin = browser_for("admin")
    assert post_form(admin, "/admin/messages", "/admin/messages/outbox/99999/retry", {}).status_code == 404


# -- read-only case views ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["county", "city", "province", "township", "hall"])
def test_officials_over_the_case_read_it(crew, submit, browser_for, name):
    case = submit()
    browser = browser_for(name)
    page = browser.get(f"/admin/cases/{case.case_number}")
    assert page.status_code == 200, page.text
    assert case.case_number in page.text
    assert "办理中" in page.text
    assert "138****0001" in page.text, "the phone is masked"
    assert "13800000001" not in page.text
    assert "户籍地村（居）核实：村（居）工作人员，北京市东城区东华门街道多福巷社区居委会" in page.text
    assert 'class="active" data-element="verify_hukou"' in page.text, "the diagram marks the current step"
    assert "提交申请" in page.text, "the history"
    assert "<form" not in page.text.split("<main")[1], "nothing to act on"


def test_the_case_view_shows_results_and_history(session, crew, submit, browser_for):
    case = submit()
    case = decide(session, case, "verify_hukou", crew.hukou, "mismatch", "户口簿地址与申报不一致")
    page = browser_for("county").get(f"/admin/cases/{case.case_number}")
    assert "户口簿地址与申报不一致" in page.text
    assert "李多福" in page.text
    assert case.status in page.text


@pytest.mark.parametrize("name", ["far_county", "far_township", "hukou", "other", "citizen", "admin"])
def test_others_may_not_read_the_case(crew, submit, browser_for, name):
    case = submit()
    browser = browser_for(name)
    assert browser.get(f"/admin/cases/{case.case_number}").status_code == 403


def test_an_unknown_case_is_404(crew, browser_for):
    county = browser_for("county")
    assert county.get("/admin/cases/20260302999999").status_code == 404
    assert county.get("/admin/cases/not-a-number").status_code == 404


def test_the_case_search_finds_cases_of_the_division_only(crew, submit, browser_for):
    case = submit()
    county, far = browser_for("county"), browser_for("far_county")
    found = county.get(f"/admin/cases?number={case.case_number}")
    assert found.location == f"/admin/cases/{case.case_number}"
    listed = county.get("/admin/cases")
    assert f'href="/admin/cases/{case.case_number}"' in listed.text
    assert "北京市东城区" in listed.text

    hidden = far.get(f"/admin/cases?number={case.case_number}")
    assert hidden.status_code == 200
    assert f"未找到受理编号为 {case.case_number} 的案件，或该案件不在您的管辖范围内" in _flashes(hidden.text)
    assert case.case_number not in far.get("/admin/cases").text
    missing = county.get("/admin/cases?number=<script>")
    assert "未找到受理编号为 &lt;script&gt; 的案件" in missing.text
    for name in ("hukou", "citizen", "admin"):
        assert browser_for(name).get("/admin/cases").status_code == 403
