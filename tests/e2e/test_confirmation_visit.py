"""On a phone, a third-child case waiting for 现场确认: where, when, what to bring, and that the date is a booking.

The case is submitted and reviewed through the service layer; the citizen reads the case page in the browser.
"""

import pytest

from engine.calendar import CST
from tests.e2e.conftest import PHONE, citizen_sign_in
from tests.fixtures import PASSWORD, decide, forget, open_task

pytestmark = pytest.mark.e2e


def test_the_citizen_reads_where_and_when_to_confirm_and_that_the_date_is_an_appointment(
        session, people, submit, browser_context, screenshots):
    case = submit(case_type="third_child")
    decide(session, case, "verify_hukou", people.hukou, "verified")
    case = decide(session, case, "township_review", people.township, "passed")
    booked = open_task(session, case, "offline_confirmation").due_at.astimezone(CST)
    forget(session)

    page = browser_context(PHONE).new_page()
    citizen_sign_in(page, people.citizen.phone, PASSWORD)
    page.goto(f"/my/cases/{case.case_number}")

    visit = page.locator("#visit").inner_text()
    assert f"{booked:%Y-%m-%d}" in visit
    assert "北京市东城区东华门街道卫生健康办公室" in visit
    assert "工作日上午9:00—12:00、下午14:00—17:00" in visit
    assert "身份证、户口簿、结婚证原件" in visit
    assert "不是您的办理截止期限" in visit
    assert "现场确认" in page.locator("#notices").inner_text(), "the SMS is shown on the page as well"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "nothing spills sideways"
    screenshots(page, "confirmation-visit")
