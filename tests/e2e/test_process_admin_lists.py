"""流程管理 in a browser: the instance list and a case's service tasks and event log read in words, within the
screen. Screenshots are saved under test-artifacts/screenshots/."""

import pytest

from processes.roles import POLICY_ADMIN
from services import accounts
from tests.e2e.conftest import staff_sign_in
from tests.fixtures import PASSWORD, decide

pytestmark = pytest.mark.e2e


def test_a_policy_admin_reads_a_cases_service_tasks_in_words(session, people, submit, browser_context, screenshots):
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    decide(session, case, "township_audit", people.township, "approved")
    admin = accounts.create_user(session, phone="13900000090", name="周流程", role=POLICY_ADMIN, password=PASSWORD,
                                 division_code=None)
    session.commit()

    page = browser_context().new_page()
    page.goto("/auth/login?next=/admin/processes/")
    staff_sign_in(page, admin, PASSWORD, "**/admin/processes/")
    page.goto("/admin/processes/instances")
    row = page.locator("table.instances tbody tr").first
    assert row.locator("td").first.inner_text() == case.case_number
    screenshots(page, "process-instances-list")

    row.get_by_role("link", name="详情").click()
    page.wait_for_url("**/admin/processes/instances/*")
    tasks = page.locator("table.outbox-list tbody tr")
    sent = tasks.filter(has_text="短信通知登记成功")
    assert sent.locator("td").nth(1).inner_text() == "发送短信 · 登记成功"
    assert sent.locator("td").nth(2).inner_text() == "已完成"
    raw = sent.locator(".raw-ids")
    assert not raw.is_visible(), "the operator's key stays folded in 详情"
    sent.get_by_text("详情").click()
    assert "sms.send" in raw.inner_text()
    assert raw.is_visible()
    events = page.locator("table.events tbody tr")
    assert events.filter(has_text="办理任务").filter(has_text=people.township.name).count() == 1
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshots(page, "process-instance-service-tasks")
