"""The applicant's material page on a phone (390 px): an upload, a refusal, and the result as thumbnails.

Screenshots go to test-artifacts/screenshots/ like the workbench journey's.
"""

import pytest

from processes.roles import CITIZEN
from services import accounts, applications
from tests.e2e.conftest import PHONE
from tests.fixtures import PASSWORD
from tests.samples import NOT_AN_IMAGE, photo

pytestmark = pytest.mark.e2e



def test_an_applicant_uploads_materials_from_a_phone(session, browser_context, screenshots, tmp_path):
    user = accounts.create_user(session, phone="13800000009", name="周敏", role=CITIZEN, password=PASSWORD)
    application = applications.start(session, user.id, "first_child")
    application.answers = {"woman": {"marital_status": "21"}, "man": {"marital_status": "21"}, "after_birth": True}
    session.commit()
    good, bad = tmp_path / "身份证正面.jpg", tmp_path / "合影.jpg"
    good.write_bytes(photo(1200, 800, gps=True, noise=True))
    bad.write_bytes(NOT_AN_IMAGE)

    context = browser_context(PHONE)
    try:
        page = context.new_page()
        page.goto(f"/apply/{application.token}/materials")
        page.get_by_label("手机号码").fill(user.phone)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url(f"**/apply/{application.token}/materials")
        assert "还需上传 5 项必需材料" in page.locator(".alert").first.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshots(page, "materials-empty-390")

        id_card = page.locator("#kind-id_card")
        id_card.locator("input[type=file]").set_input_files(str(good))
        id_card.get_by_role("button", name="上传").click()
        page.wait_for_url("**#kind-id_card")
        assert "已上传：身份证（夫妻双方）" in page.locator(".alert").first.inner_text()
        thumbnail = page.locator("#kind-id_card .material-list img")
        thumbnail.wait_for()
        assert page.evaluate("img => img.naturalWidth", thumbnail.element_handle()) == 320

        couple = page.locator("#kind-couple_photo")
        couple.locator("input[type=file]").set_input_files(str(bad))
        couple.get_by_role("button", name="上传").click()
        message = page.locator("#kind-couple_photo .field-error")
        message.wait_for()
        assert "无法识别的文件格式：此项材料请上传 JPG 或 PNG 格式的照片" in message.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshots(page, "materials-uploaded-and-refused-390")
    finally:
        context.close()
