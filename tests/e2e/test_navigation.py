"""Staff navigation in the browser: each role's home after signing in, its menu, and no sideways scrolling on a
desktop (1366 px) or, for the hall and a village clerk, on a phone (390 px)."""

import pytest

from tests.e2e.conftest import DESKTOP, PHONE, staff_sign_in
from tests.fixtures import PASSWORD
from tests.webapp.test_navigation import HOMES, add_every_staff_role

pytestmark = pytest.mark.e2e

OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


def _signed_in(browser_context, person, home, viewport):
    page = browser_context(viewport=viewport).new_page()
    page.goto("/auth/login")
    staff_sign_in(page, person, PASSWORD, f"**{home}" if home != "/admin/" else "**/admin/staff")
    return page


def _menu_labels(page) -> list[str]:
    return [text.strip() for text in page.locator(".staff-menu a").all_inner_texts()]


@pytest.mark.parametrize("who", sorted(HOMES))
def test_each_role_signs_in_to_its_home_with_its_menu(session, people, submit, browser_context, screenshots, who):
    add_every_staff_role(session, people)
    submit()
    home, labels = HOMES[who]
    page = _signed_in(browser_context, getattr(people, who), home, DESKTOP)
    assert _menu_labels(page) == labels
    assert page.locator(".staff-menu a[aria-current='page']").inner_text().strip() == labels[0]
    assert page.evaluate(OVERFLOW), f"{who}'s home scrolls sideways at 1366 px"
    screenshots(page, f"home-{who}-1366")

    page.locator(".brand").click()
    page.wait_for_url(f"**{home}" if home != "/admin/" else "**/admin/staff")


@pytest.mark.parametrize("who", ["hall", "hukou", "township"])
def test_the_hall_and_clerks_work_on_a_phone_without_sideways_scrolling(
        session, people, submit, browser_context, screenshots, who):
    add_every_staff_role(session, people)
    case = submit()
    home, labels = HOMES[who]
    page = _signed_in(browser_context, getattr(people, who), home, PHONE)
    assert _menu_labels(page) == labels, "every item stays in reach: the menu wraps rather than hides"
    for label in labels:
        assert page.get_by_role("link", name=label, exact=True).first.is_visible()
    assert page.evaluate(OVERFLOW), f"{who}'s home scrolls sideways at 390 px"
    screenshots(page, f"home-{who}-390")

    if who == "hall":
        page.get_by_label("按受理编号").check()
        page.get_by_label("受理编号", exact=True).fill(case.case_number)
        page.get_by_role("button", name="查询").click()
        assert f"受理编号 {case.case_number}" in page.locator(".hall-case").inner_text()
        assert page.evaluate(OVERFLOW), "the found case fits a phone"
        screenshots(page, "hall-found-390")
