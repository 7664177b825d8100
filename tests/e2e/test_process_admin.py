"""流程管理 in a real browser: upload the 2021 policy diagram, read the report and the diff, the dry run, activate."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from processes.roles import POLICY_ADMIN
from services import accounts
from tests.e2e.conftest import staff_sign_in
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.e2e

POLICY_2021 = Path(__file__).resolve().parents[1] / "diagrams" / "birth_registration_2021.bpmn"


def test_upload_review_dry_run_and_activate(session, deployed, browser_context, screenshots):  # noqa: ARG001
    admin = accounts.create_user(session, phone="13900000090", name="周流程", role=POLICY_ADMIN,
                                 password=PASSWORD, division_code=None)
    session.commit()
    page = browser_context().new_page()
    page.goto("/auth/login?next=/admin/processes/")
    staff_sign_in(page, admin, PASSWORD, "**/admin/processes/")
    assert page.get_by_role("heading", name="流程管理").is_visible()
    screenshots(page, "process-admin-list")

    page.set_input_files("#diagram", str(POLICY_2021))
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_url("**/admin/processes/*")
    assert "待启用" in page.locator(".version-state").inner_text()
    assert "检查通过" in page.locator(".validation-ok").inner_text()
    assert "first_child,second_child,third_child" in page.locator(".diff").inner_text()
    # The dry run runs in the background: the page shows 仍在模拟… and reloads itself until the report is there.
    expect(page.locator(".dry-run")).to_contain_text("全部路径均正常结束", timeout=30_000)
    assert page.locator(".diagram-preview svg").count() == 1
    screenshots(page, "process-admin-review")

    page.get_by_role("button", name="启用此版本").click()
    page.wait_for_load_state()
    assert "启用后，新申请将按 v2 办理" in page.locator(".confirm-action").inner_text()
    screenshots(page, "process-admin-confirm-activate")
    page.get_by_role("button", name="确认启用").click()
    page.wait_for_load_state()
    assert "新申请将按此版本办理" in page.locator(".alert").first.inner_text()
    assert "已启用" in page.locator(".version-state").inner_text()
    screenshots(page, "process-admin-activated")
