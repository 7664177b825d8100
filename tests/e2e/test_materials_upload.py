"""The applicant's material page on a phone (390 px): files sent as soon as they are chosen, a refusal, a retry
after a dropped connection, thumbnails, and 下一步 refused with the list of what is missing.

Screenshots go to test-artifacts/screenshots/ like the workbench journey's.
"""

import pytest

from processes.roles import CITIZEN
from services import accounts, applications
from tests.e2e.conftest import PHONE
from tests.fixtures import PASSWORD
from tests.samples import NOT_AN_IMAGE, photo

pytestmark = pytest.mark.e2e


def open_materials(page, user, application) -> None:
    """Sign `user` in on the way to the application's material page."""
    page.goto(f"/apply/{application.token}/materials")
    page.get_by_label("手机号码").fill(user.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"**/apply/{application.token}/materials")


def fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "nothing spills sideways"


def test_an_applicant_uploads_materials_from_a_phone(session, browser_context, screenshots, tmp_path):
    user = accounts.create_user(session, phone="13800000009", name="周敏", role=CITIZEN, password=PASSWORD)
    application = applications.start(session, user.id, "first_child")
    application.answers = {"woman": {"marital_status": "21"}, "man": {"marital_status": "21"}, "after_birth": True}
    session.commit()
    good, bad, hukou = tmp_path / "身份证正面.jpg", tmp_path / "合影.jpg", tmp_path / "户口本.jpg"
    good.write_bytes(photo(1200, 800, gps=True, noise=True))
    bad.write_bytes(NOT_AN_IMAGE)
    hukou.write_bytes(photo(800, 600))

    context = browser_context(PHONE)
    try:
        page = context.new_page()
        open_materials(page, user, application)
        assert "还需上传 5 项必需材料" in page.locator("#materials-summary").inner_text()
        assert page.locator(".tag-required", has_text="必传").count() == 5 + 1  # five cards and the explanation
        fits(page)
        screenshots(page, "materials-empty-390")

        # Chosen is sent: no 上传 button to forget.
        id_card = page.locator("#kind-id_card")
        assert not id_card.get_by_role("button", name="上传").is_visible()
        id_card.locator("#file-id_card").set_input_files(str(good))
        thumbnail = id_card.locator(".material-list img")
        thumbnail.wait_for()
        assert id_card.locator(".material-count").inner_text() == "已传 1 份"
        assert "还需上传 4 项必需材料" in page.locator("#materials-summary").inner_text()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
        assert page.evaluate("img => img.naturalWidth", thumbnail.element_handle()) == 320

        couple = page.locator("#kind-couple_photo")
        couple.locator("#file-couple_photo").set_input_files(str(bad))
        message = couple.locator(".upload-progress .upload-status[role=alert]")
        message.wait_for()
        assert "无法识别的文件格式：此项材料请上传 JPG 或 PNG 格式的照片" in message.inner_text()
        assert couple.get_by_role("button", name="重试").is_visible()

        _drop_then_retry(page, hukou)
        screenshots(page, "materials-uploaded-refused-and-retried-390")

        # A refused file is not left behind unseen: 下一步 names it until it is removed.
        page.get_by_role("button", name="下一步：确认提交").click()
        assert "以下文件未上传成功" in page.locator("#materials-summary").inner_text()
        assert "合影.jpg" in page.locator("#materials-summary").inner_text()
        assert page.url.endswith("/materials")
        couple.get_by_role("button", name="移除").click()

        # 下一步 while three kinds are still missing: the server refuses and lists them.
        page.get_by_role("button", name="下一步：确认提交").click()
        refusal = page.locator("#next-refused")
        refusal.wait_for()
        assert refusal.locator("li").all_inner_texts() == ["结婚证", "夫妻近期免冠合影", "出生医学证明"]
        fits(page)
        screenshots(page, "materials-next-refused-390")
    finally:
        context.close()


def _drop_then_retry(page, hukou) -> None:
    """A dropped connection: the file stays on the page with 重试, and the retry keeps it."""
    dropped = []

    def drop_once(route):
        if route.request.method == "POST" and not dropped:
            dropped.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/apply/*/materials", drop_once)
    book = page.locator("#kind-hukou_book")
    book.locator("#file-hukou_book").set_input_files(str(hukou))
    book.locator(".upload-status", has_text="网络中断").wait_for()
    fits(page)
    book.get_by_role("button", name="重试").click()
    book.locator(".material-list li").wait_for()
    assert book.locator(".material-count").inner_text() == "已传 1 份"
    assert book.locator(".upload-progress li").count() == 0
