"""A case sent back as 核实有误, on a phone: the citizen sees why, corrects the application and it is verified again.

The application and the village decisions go through the service layer; the citizen's side is driven in the browser.
"""

import pytest

from engine.calendar import CST
from tests.e2e.conftest import PHONE, citizen_sign_in
from tests.fixtures import PASSWORD, decide, forget, open_steps, open_task

pytestmark = pytest.mark.e2e

REASON = "工作单位与单位证明不一致，请核对后更正"


def test_a_citizen_sees_why_corrects_the_application_and_it_is_verified_again(
        session, people, apply, browser_context, screenshots):
    case = apply()
    decide(session, case, "verify_hukou", people.hukou, "mismatch", REASON)
    case = decide(session, case, "verify_residence", people.residence, "verified")
    assert case.status == "核实有误"
    forget(session)

    page = browser_context(PHONE).new_page()
    citizen_sign_in(page, people.citizen.phone, PASSWORD)
    page.goto("/my")
    assert "核实有误" in page.locator("main").inner_text()
    screenshots(page, "correction-my-cases")

    page.get_by_role("link", name=case.case_number).click()
    assert page.locator(".status").first.inner_text() == "核实有误"
    assert REASON in page.locator("main").inner_text(), "the citizen is told why"
    screenshots(page, "correction-case")

    page.get_by_role("link", name="更正申请").click()
    assert REASON in page.locator(".alert-warning").inner_text()
    woman = page.locator("fieldset", has=page.locator("legend:text-is('女方信息')"))
    assert woman.get_by_label("姓名").input_value() == case.woman_name, "the application comes back filled in"
    woman.get_by_label("工作单位").fill("北京市东城区某街道社区卫生服务中心")
    screenshots(page, "correction-form")
    page.get_by_role("button", name="提交更正").click()

    assert page.locator(".status").first.inner_text() == "办理中"
    assert "更正已提交，将重新核实" in page.locator(".alert").first.inner_text()
    timeline = page.locator(".timeline").inner_text()
    assert "您已更正申请并重新提交" in timeline
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "nothing spills sideways"
    screenshots(page, "correction-resubmitted")

    forget(session)
    assert open_steps(session, case) == ["verify_hukou", "verify_residence"], "both villages verify again"
    due = open_task(session, case, "verify_hukou").due_at.astimezone(CST)
    assert f"办理期限：{due:%Y-%m-%d}" in timeline, "the citizen sees when the village must be done"
