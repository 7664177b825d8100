"""Choosing files and pressing 下一步 at once on a phone (390 px): nothing chosen is lost.

The uploads are held back in the browser until the test has seen 下一步 refuse (disabled, 正在上传…); once they
arrive, 下一步 opens the review, which counts every file.
"""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from processes.roles import CITIZEN
from services import accounts, applications
from services.materials import MaterialModel
from tests.e2e.conftest import PHONE
from tests.e2e.test_materials_upload import fits, open_materials
from tests.fixtures import PASSWORD
from tests.samples import MINIMAL_PDF, photo, png

pytestmark = pytest.mark.e2e


def test_files_chosen_just_before_next_are_all_kept(session, browser_context, screenshots, tmp_path):
    user = accounts.create_user(session, phone="13800000029", name="吴芳", role=CITIZEN, password=PASSWORD)
    application = applications.start(session, user.id, "first_child")
    application.answers = {"woman": {"marital_status": "21"}, "man": {"marital_status": "21"}, "after_birth": False,
                           "children": []}
    session.commit()
    files = {"id_card": ["身份证正面.jpg", "身份证反面.jpg", "男方身份证.jpg"], "hukou_book": ["户口本.pdf"],
             "marriage_certificate": ["结婚证1.jpg", "结婚证2.png"], "couple_photo": ["合影.jpg"]}
    paths = {}
    for kind, names in files.items():
        for name in names:
            path = tmp_path / name
            path.write_bytes(MINIMAL_PDF if name.endswith(".pdf") else png() if name.endswith(".png") else photo())
            paths.setdefault(kind, []).append(str(path))
    total = sum(len(names) for names in files.values())

    context = browser_context(PHONE)
    try:
        page = context.new_page()
        open_materials(page, user, application)
        held = []
        page.route("**/apply/*/materials",
                   lambda route: held.append(route) if route.request.method == "POST" else route.continue_())

        for kind, chosen in paths.items():
            page.locator(f"#file-{kind}").set_input_files(chosen)
        next_step = page.locator("#next-step")
        next_step.click(force=True)  # pressed at once: a disabled button does nothing
        while len(held) < total:
            page.wait_for_timeout(50)
        assert next_step.is_disabled()
        assert next_step.inner_text().startswith("正在上传…")
        assert page.url.endswith(f"/apply/{application.token}/materials")
        assert page.locator(".upload-progress li").count() == total
        fits(page)
        screenshots(page, "materials-uploading-390")

        for route in held:
            route.continue_()
        expect(next_step).to_be_enabled()
        assert next_step.inner_text() == "下一步：确认提交"
        for kind, names in files.items():
            assert page.locator(f"#kind-{kind} .material-count").inner_text() == f"已传 {len(names)} 份"
        assert "必需材料已全部上传" in page.locator("#materials-summary").inner_text()
        screenshots(page, "materials-all-uploaded-390")

        next_step.click()
        page.wait_for_url(f"**/apply/{application.token}/review")
        review = page.locator("section", has=page.locator("h2", has_text="证明材料")).inner_text()
        assert "身份证（夫妻双方）：3 个文件" in review
        assert "结婚证：2 个文件" in review
        fits(page)
        screenshots(page, "materials-review-390")
    finally:
        context.close()
    session.rollback()
    kept = session.scalars(select(MaterialModel.original_name).where(MaterialModel.application_id == application.id))
    assert sorted(kept) == sorted(name for names in files.values() for name in names)
