"""Destructive or policy-changing administration actions: the first POST only says what will happen; the action is
done by the second, confirmed POST. A forged or script-less POST without ``confirm=1`` changes nothing."""

from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest
from sqlalchemy import delete, select

from engine.calendar import HolidayModel
from engine.models import AuditEventModel, ProcessDefinitionModel, ProcessInstanceModel
from processes.roles import POLICY_ADMIN, SYSTEM_ADMIN
from services import accounts, holidays, mail, notifications
from tests.fixtures import PASSWORD, csrf_token, dry_run_done, forget, post_form, sign_in

DIAGRAMS = Path(__file__).resolve().parents[1] / "diagrams"
CONFIRM_PAGE = "请确认："
CONFIRMED = {"confirm": "1"}


@pytest.fixture
def admins(session, people):
    """The `people`, with a system administrator and a policy administrator added."""
    people.admin = accounts.create_user(session, phone="13700000001", name="管理员", role=SYSTEM_ADMIN,
                                        password=PASSWORD, division_code="11")
    people.policy = accounts.create_user(session, phone="13700000002", name="周流程", role=POLICY_ADMIN,
                                         password=PASSWORD, division_code=None)
    session.commit()
    return people


def _audit(session, kind):
    forget(session)
    return session.scalars(select(AuditEventModel).where(AuditEventModel.kind == kind)).all()


def _asks(response, *sentences):
    """Assert that `response` is the confirmation page, saying each of `sentences`, with a confirming form."""
    assert response.status_code == 200
    assert CONFIRM_PAGE in response.text
    assert '<input type="hidden" name="confirm" value="1">' in response.text
    for sentence in sentences:
        assert sentence in response.text


# -- staff accounts ------------------------------------------------------------------------------------------------


def test_deactivating_an_account_asks_first_and_says_what_happens(session, admins, browser_for):
    admin = browser_for("admin")
    url = f"/admin/staff/{admins.other.id}/deactivate"
    asked = post_form(admin, "/admin/staff?search=赵", url, {"back": "/admin/staff?search=赵"})
    _asks(asked, "停用账号：赵东厂", "停用后，赵东厂（村（居）工作人员", "不能再登录", "确认停用")
    assert 'name="back" value="/admin/staff?search=赵"' in asked.text, "the list's place is carried over"
    forget(session)
    assert session.get(accounts.UserModel, admins.other.id).active
    assert _audit(session, "account_deactivated") == []

    done = admin.post(url, data={"csrf_token": csrf_token(asked.text), "back": "/admin/staff?search=赵", **CONFIRMED})
    assert done.status_code == 302
    assert unquote(done.location) == "/admin/staff?search=赵"
    forget(session)
    assert not session.get(accounts.UserModel, admins.other.id).active
    assert len(_audit(session, "account_deactivated")) == 1


def test_reactivating_an_account_asks_first(session, admins, browser_for):
    accounts.set_active(session, admins.other, False, "test")
    session.commit()
    admin = browser_for("admin")
    url = f"/admin/staff/{admins.other.id}/activate"
    asked = post_form(admin, "/admin/staff", url, {})
    _asks(asked, "重新启用账号：赵东厂", "启用后，赵东厂", "确认启用")
    forget(session)
    assert not session.get(accounts.UserModel, admins.other.id).active

    assert post_form(admin, "/admin/staff", url, CONFIRMED).status_code == 302
    forget(session)
    assert session.get(accounts.UserModel, admins.other.id).active


def test_resetting_a_password_asks_first_and_keeps_the_old_one_until_confirmed(session, admins, browser_for):
    admin = browser_for("admin")
    url = f"/admin/staff/{admins.hukou.id}/reset-password"
    asked = post_form(admin, "/admin/staff", url, {})
    _asks(asked, "重置密码：李多福", "原密码立即失效", "所有设备上的登录都将退出", "确认重置密码")
    assert "临时密码</dt>" not in asked.text
    forget(session)
    assert accounts.check_password(session.get(accounts.UserModel, admins.hukou.id), PASSWORD)

    done = post_form(admin, "/admin/staff", url, CONFIRMED)
    assert "已重置密码" in done.text
    forget(session)
    assert not accounts.check_password(session.get(accounts.UserModel, admins.hukou.id), PASSWORD)


def test_signing_out_everywhere_asks_first(client, people):
    sign_in(client, people.citizen)
    asked = post_form(client, "/auth/me", "/auth/me/sessions/end-all", {})
    _asks(asked, "在所有设备上退出", "包括当前这台设备", "确认全部退出")
    assert client.get("/auth/me").status_code == 200, "still signed in"

    done = post_form(client, "/auth/me", "/auth/me/sessions/end-all", CONFIRMED)
    assert done.location == "/auth/login"
    assert client.get("/auth/me").status_code == 302


# -- holidays ------------------------------------------------------------------------------------------------------


@pytest.fixture
def shipped_table(session):
    """Restore the shipped holiday table afterwards (reference data shared by all tests)."""
    yield
    forget(session)
    session.execute(delete(HolidayModel))
    holidays.import_holidays(session)
    session.commit()


def test_removing_a_holiday_asks_first(session, admins, browser_for, shipped_table):  # noqa: ARG001
    admin = browser_for("admin")
    url = "/admin/holidays/2026/days/2026-10-01/delete"
    asked = post_form(admin, "/admin/holidays/2026", url, {})
    _asks(asked, "删除 2026-10-01", "不再按休（放假）计算，而按平常的工作日计算", "确认删除")
    forget(session)
    assert session.get(HolidayModel, date(2026, 10, 1)) is not None

    assert post_form(admin, "/admin/holidays/2026", url, CONFIRMED).status_code == 302
    forget(session)
    assert session.get(HolidayModel, date(2026, 10, 1)) is None


# -- process versions ----------------------------------------------------------------------------------------------


def _upload_v2(session, policy):
    from tests.webapp.test_process_admin_pages import upload

    response = upload(policy, (DIAGRAMS / "birth_registration_2021.bpmn").read_bytes())
    assert response.status_code == 302
    dry_run_done(policy, response.location)
    forget(session)
    return session.scalars(select(ProcessDefinitionModel).where(
        ProcessDefinitionModel.key == "birth_registration").order_by(ProcessDefinitionModel.version.desc())).first()


def test_activating_and_retiring_a_version_ask_first_and_say_what_changes(session, admins, browser_for, deployed,
                                                                          submit):
    submit()  # one case running on v1
    policy = browser_for("policy")
    v2 = _upload_v2(session, policy)
    page = f"/admin/processes/{v2.id}"
    asked = post_form(policy, page, f"{page}/activate", {})
    _asks(asked, f"启用 {v2.name}（birth_registration）v2",
          "启用后，新申请将按 v2 办理；已在办的 1 件仍按原版本办结（v1 1 件）", "确认启用")
    forget(session)
    assert not session.get(ProcessDefinitionModel, v2.id).active
    assert _audit(session, "version_activated") == []

    assert post_form(policy, page, f"{page}/activate", CONFIRMED).status_code == 302
    forget(session)
    assert session.get(ProcessDefinitionModel, v2.id).active

    v1 = f"/admin/processes/{deployed['birth_registration'].id}"
    asked = post_form(policy, v1, f"{v1}/retire", {})
    _asks(asked, "停用后，新申请将按 v2 办理；此版本已在办的 1 件仍按此版本办结。", "确认停用")
    forget(session)
    assert session.get(ProcessDefinitionModel, deployed["birth_registration"].id).active
    assert post_form(policy, v1, f"{v1}/retire", CONFIRMED).status_code == 302
    forget(session)
    assert not session.get(ProcessDefinitionModel, deployed["birth_registration"].id).active


def test_migrating_cases_asks_first_and_counts_them(session, admins, browser_for, deployed, submit):
    submit()
    policy = browser_for("policy")
    v2 = _upload_v2(session, policy)
    v1 = deployed["birth_registration"]
    page = f"/admin/processes/{v1.id}?to={v2.id}"
    url = f"/admin/processes/{v1.id}/migrate/{v2.id}"
    asked = post_form(policy, page, url, {})
    _asks(asked, "将把 1 件运行中案件从 v1 迁到 v2", "0 件不能迁移", "确认迁移 1 件")
    moved = post_form(policy, page, url, CONFIRMED)
    assert moved.status_code == 302
    assert "已迁移 1 个案件到 v2" in policy.get(moved.location).text

    back = f"/admin/processes/{v1.id}/revert/{v2.id}"
    asked = post_form(policy, page, back, {})
    _asks(asked, "共 1 次迁移：迁移后尚无办理记录的案件回到 v1 继续办理", "确认撤回")
    reverted = post_form(policy, page, back, CONFIRMED)
    assert "已撤回 1 个迁移" in policy.get(reverted.location).text


def test_cancelling_a_case_instance_asks_first(session, admins, browser_for, submit):
    case = submit()
    policy = browser_for("policy")
    page = f"/admin/processes/instances/{case.instance_id}"
    url = f"{page}/cancel"
    asked = post_form(policy, page, url, {"reason": "申请人撤回"})
    _asks(asked, f"撤销案件实例 {case.instance_id}", "不能恢复。撤销原因：申请人撤回", "确认撤销")
    assert 'name="reason" value="申请人撤回"' in asked.text
    forget(session)
    assert session.get(ProcessInstanceModel, case.instance_id).status == "running"

    assert post_form(policy, page, url, {"reason": "申请人撤回", **CONFIRMED}).status_code == 302
    forget(session)
    assert session.get(ProcessInstanceModel, case.instance_id).status == "cancelled"


def test_a_forged_post_without_confirmation_changes_nothing(session, admins, browser_for, deployed):
    """A POST with a valid token but no confirm field (a script-less form or a forged one) is only a question."""
    admin, policy = browser_for("admin"), browser_for("policy")
    token = csrf_token(admin.get("/admin/staff").text)
    for url in (f"/admin/staff/{admins.other.id}/deactivate", f"/admin/staff/{admins.hukou.id}/reset-password"):
        response = admin.post(url, data={"csrf_token": token, "confirm": "yes"})
        _asks(response)
    v1 = deployed["birth_registration"].id
    token = csrf_token(policy.get(f"/admin/processes/{v1}").text)
    _asks(policy.post(f"/admin/processes/{v1}/retire", data={"csrf_token": token}))
    forget(session)
    assert session.get(accounts.UserModel, admins.other.id).active
    assert accounts.check_password(session.get(accounts.UserModel, admins.hukou.id), PASSWORD)
    assert session.get(ProcessDefinitionModel, v1).active


# -- message lists in words ----------------------------------------------------------------------------------------


def test_message_lists_name_templates_purposes_and_send_methods_in_chinese(session, admins, browser_for):
    notifications.send_sms(session, ["13800000100"], "verification_code", {"code": "123456", "minutes": "5"})
    notifications.send_sms(session, ["13800000100"], "audit_approved", {"case_number": "20260302000001"})
    mail.send_mail(session, "wangfang@example.com", "password_reset", "重置密码", "……")
    session.commit()
    page = browser_for("admin").get("/admin/messages").text
    for name in ("<td>短信验证码</td>", "<td>登记成功</td>", "<td>找回密码</td>", "<td>记录（演示，不发送）</td>"):
        assert name in page
    for key in ("verification_code", "audit_approved", "password_reset", ">record<"):
        assert key not in page


def test_every_sms_template_has_a_chinese_name():
    from webapp.admin.labels import SMS_TEMPLATE_NAMES

    assert set(notifications.TEMPLATES) <= set(SMS_TEMPLATE_NAMES)
