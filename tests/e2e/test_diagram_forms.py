"""A step with its own form, made by a diagram alone, in a real browser: the policy admin uploads the version with a
县级抽查, and the county official fills its form (a field shown only for 抽查不合格) on a desktop and on a phone."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from processes.roles import POLICY_ADMIN
from services import accounts
from tests.e2e.conftest import PHONE, staff_sign_in
from tests.fixtures import PASSWORD, decide, forget, open_task, refreshed

pytestmark = pytest.mark.e2e

SPOT_CHECK = Path(__file__).resolve().parents[1] / "diagrams" / "birth_registration_spot_check.bpmn"


def _upload_and_activate(session, browser_context, screenshots) -> None:
    admin = accounts.create_user(session, phone="13900000090", name="周流程", role=POLICY_ADMIN,
                                 password=PASSWORD, division_code=None)
    session.commit()
    page = browser_context().new_page()
    page.goto("/auth/login?next=/admin/processes/")
    staff_sign_in(page, admin, PASSWORD, "**/admin/processes/")
    page.set_input_files("#diagram", str(SPOT_CHECK))
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_url("**/admin/processes/*")
    expect(page.locator(".diff")).to_contain_text("县级抽查")
    expect(page.locator(".dry-run")).to_contain_text("全部路径均正常结束", timeout=30_000)
    screenshots(page, "diagram-forms-review")
    page.get_by_role("button", name="启用此版本").click()
    page.get_by_role("button", name="确认启用").click()
    expect(page.locator(".version-state")).to_contain_text("已启用")


def test_a_county_spot_check_is_filled_in_the_browser(session, people, submit, browser_context, screenshots):
    _upload_and_activate(session, browser_context, screenshots)
    case = submit()
    case = decide(session, case, "verify_hukou", people.hukou, "verified", "户口簿一致")
    case = decide(session, case, "verify_residence", people.residence, "verified")
    case = decide(session, case, "township_audit", people.township, "approved")
    task = open_task(session, case, "county_spot_check")

    page = browser_context().new_page()
    page.goto(f"/auth/login?next=/staff/tasks/{task.id}")
    staff_sign_in(page, people.county, PASSWORD, f"**/staff/tasks/{task.id}")
    reason = page.get_by_label("不合格原因")
    expect(reason).to_be_hidden()
    page.get_by_label("实地抽查").check()
    page.get_by_label("抽查日期").fill("2026-03-02")
    page.get_by_label("抽查意见").fill("查看了户口簿与结婚证原件")
    page.get_by_label("抽查不合格").check()
    expect(reason).to_be_visible()
    screenshots(page, "diagram-forms-spot-check-desktop")
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".field-error")).to_have_text(["此项为必填项"])
    screenshots(page, "diagram-forms-spot-check-refused")
    page.get_by_label("不合格原因").fill("户籍地与户口簿不一致")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url("**/staff/")
    expect(page.locator(".alert").first).to_contain_text("县级抽查「抽查不合格」")
    forget(session)
    assert refreshed(session, case).status == "不予登记"


def test_the_task_page_reads_on_a_phone_with_the_form_first(session, people, submit, browser_context, screenshots):
    case = submit()
    task = open_task(session, case, "verify_hukou")
    page = browser_context(viewport=PHONE).new_page()
    page.goto(f"/auth/login?next=/staff/tasks/{task.id}")
    staff_sign_in(page, people.hukou, PASSWORD, f"**/staff/tasks/{task.id}")
    form_top = page.locator(".task-form").bounding_box()["y"]
    facts_top = page.get_by_role("heading", name="申请信息").bounding_box()["y"]
    assert form_top < facts_top, "the decision form comes before the case facts"
    assert page.locator("details.diagram-details").get_attribute("open") is None, "the diagram starts collapsed"
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a 390px phone"
    screenshots(page, "diagram-forms-task-phone")
