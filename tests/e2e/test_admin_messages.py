"""The system administrator's message list at 1366 px: names in Chinese, long texts wrapped inside their column, and
deactivating an account through its confirmation page."""

import pytest

from processes.roles import SYSTEM_ADMIN
from services import accounts, mail, notifications
from tests.e2e.conftest import DESKTOP, staff_sign_in
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.e2e

LONG_OFFICE = "北京市东城区东华门街道社区事务受理服务中心（东华门大街 77 号一层 3 号窗口，周一至周五 9:00–17:00）"


def test_sms_list_fits_1366_and_names_are_chinese(session, people, browser_context, screenshots):
    admin = accounts.create_user(session, phone="13700000001", name="管理员", role=SYSTEM_ADMIN, password=PASSWORD,
                                 division_code="11")
    for n in range(6):
        notifications.send_sms(session, [people.citizen.phone], "offline_confirmation",
                               {"case_number": f"2026030200000{n}", "office": LONG_OFFICE, "place": LONG_OFFICE,
                                "documents": "身份证、户口簿、结婚证原件及近期一寸免冠照片两张", "hours": "工作日"},
                               case_number=f"2026030200000{n}")
    notifications.send_sms(session, [people.citizen.phone], "task_overdue",
                           {"case_number": "20260302000001", "task": "村（居）核实" * 20},
                           case_number="20260302000001")
    mail.send_mail(session, "wangfang@example.com", "password_reset", "重置密码", "……")
    session.commit()

    page = browser_context().new_page()
    page.goto("/auth/login?next=/admin/messages")
    staff_sign_in(page, admin, PASSWORD, "**/admin/messages")
    sms = page.locator("table.sms-list")
    assert "现场确认通知" in sms.inner_text()
    assert "记录（演示，不发送）" in sms.inner_text()
    assert "offline_confirmation" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"], "nothing spills sideways"
    # Each text stays in its column: it ends before the 受理编号 column begins.
    for row in sms.locator("tbody tr").all():
        text, number = row.locator("td.sms-text").bounding_box(), row.locator("td.case-number").bounding_box()
        assert text["x"] + text["width"] <= number["x"] + 1
    screenshots(page, "admin-messages-1366")

    page.goto("/admin/staff")
    row = page.locator("tr", has_text=people.other.name)
    row.get_by_role("button", name="停用").click()
    page.wait_for_load_state()
    assert "停用后，赵东厂" in page.locator(".confirm-action").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    screenshots(page, "admin-confirm-deactivate")
    page.get_by_role("button", name="确认停用").click()
    page.wait_for_url("**/admin/staff")
    assert "已停用账号：赵东厂" in page.locator(".alert").first.inner_text()
