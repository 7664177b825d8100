"""A village clerk's inbox on a phone (390 px): every card's case number, names and deadline in view, nothing to
scroll sideways, in 待办 and in 已办. Screenshots of both are saved under test-artifacts/screenshots/."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from engine.db import utcnow
from engine.models import HumanTaskModel
from tests.e2e.conftest import PHONE, staff_sign_in
from tests.fixtures import PASSWORD, decide, open_task

pytestmark = pytest.mark.e2e


def assert_no_sideways_scroll(page) -> None:
    """The page is no wider than the screen: nothing lies beyond its right edge."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide on a {widths[1]} px screen"


def assert_in_view(locator, what: str) -> None:
    """The element is shown and lies wholly between the screen's left and right edges."""
    assert locator.is_visible(), f"{what} is not shown"
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0, f"{what} starts left of the screen"
    assert box["x"] + box["width"] <= PHONE["width"], f"{what} ends {box['x'] + box['width']:.0f} px from the left"


def test_a_clerk_reads_her_cards_on_a_phone_without_scrolling_sideways(session, people, submit, browser_context,
                                                                      screenshots):
    waiting, finished = submit(), submit("second_child")
    task = open_task(session, waiting, "verify_hukou")
    session.execute(update(HumanTaskModel).where(HumanTaskModel.id == task.id)
                    .values(due_at=utcnow() - timedelta(hours=2)))
    session.commit()
    decide(session, finished, "verify_hukou", people.hukou, "verified")

    page = browser_context(PHONE).new_page()
    page.goto("/staff/")
    staff_sign_in(page, people.hukou, PASSWORD, "**/staff/")
    card = page.locator("li.task-card").first
    assert_no_sideways_scroll(page)
    assert_in_view(card.locator(".case-number"), "the case number")
    assert card.locator(".case-number").inner_text() == waiting.case_number
    assert_in_view(card.get_by_text("张丽"), "the woman's name")
    assert_in_view(card.get_by_text("刘强"), "the man's name")
    assert_in_view(card.locator(".due"), "the deadline")
    assert "已超期" in card.locator(".due").inner_text()
    assert_in_view(card.get_by_role("link", name="户籍地村（居）核实"), "the task's name")
    screenshots(page, "inbox-phone-todo")

    page.get_by_role("link", name=re.compile("^已办")).click()
    page.wait_for_url("**/staff/?view=done")
    card = page.locator("li.task-card").first
    assert_no_sideways_scroll(page)
    assert card.locator(".case-number").inner_text() == finished.case_number
    assert_in_view(card.locator(".done-at"), "when it was done")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d 办结 · 情况属实", card.locator(".done-at").inner_text().strip())
    assert card.locator(".due").count() == 0, "已办 shows no deadline"
    screenshots(page, "inbox-phone-done")


def test_a_township_clerk_picks_a_village_by_name_on_a_phone(people, submit, browser_context, screenshots):
    submit()
    page = browser_context(PHONE).new_page()
    page.goto("/staff/")
    staff_sign_in(page, people.township, PASSWORD, "**/staff/")
    picker = page.get_by_label("辖区")
    assert_in_view(picker, "the division picker")
    picker.select_option(label="银闸社区居委会")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url(re.compile(r".*/staff/\?.*division=110101001002.*"))
    assert page.get_by_label("辖区").evaluate("select => select.selectedOptions[0].textContent") == "银闸社区居委会"
    assert_no_sideways_scroll(page)
    screenshots(page, "inbox-phone-division-picked")
