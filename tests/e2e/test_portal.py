"""The portal in a browser: the home page, a guide, 长辈模式 and the site map at 390 and 1366 px, photographed; none
scrolls sideways on a phone, the keyboard reaches the skip link first, and axe-core finds no serious or critical
accessibility violation.

axe-core (tests/e2e/vendor/axe.min.js, MPL-2.0) is injected by the test into the page it checks; the app never
serves it, so the site's Content-Security-Policy stays as strict as in production.
"""

from pathlib import Path

import pytest

from tests.e2e.conftest import DESKTOP, PHONE
from tests.e2e.test_citizen_phone import OVERFLOWING

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
BLOCKING = ("serious", "critical")
# The run's violations, each with its impact, rule, help text and the first few offending elements.
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({impact: v.impact, id: v.id, help: v.help,
                                      nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""
PAGES = (("home", "/"), ("guide", "/guide/first_child"), ("sitemap", "/sitemap"))


def blocking_violations(page) -> list[dict]:
    """Run axe-core on the page shown now; return its serious and critical violations."""
    # Evaluated through the DevTools protocol: a <script> tag would be refused by the site's policy, as it should be.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in BLOCKING]


def overflow(page) -> list[str]:
    """Return what sticks out of the window sideways (nothing when the page fits)."""
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return page.evaluate(OVERFLOWING) if width > inner else []


@pytest.mark.parametrize(("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_portal_pages_fit_and_pass_the_accessibility_check(browser_context, screenshots, deployed, size, viewport):  # noqa: ARG001
    page = browser_context(viewport).new_page()
    problems = {}
    for elder in (False, True):
        if elder:
            page.goto("/")
            page.get_by_role("link", name="长辈模式").click()
            page.wait_for_url("**/")
            assert page.evaluate("document.body.className") == "elder"
        for name, url in PAGES:
            response = page.goto(url)
            assert response.status == 200, url
            shot = f"portal-{size}-{'elder-' if elder else ''}{name}"
            screenshots(page, shot)
            if found := blocking_violations(page):
                problems[shot] = found
            if found := overflow(page):
                problems[f"{shot} scrolls sideways"] = found
    assert not problems, problems


def test_elder_mode_enlarges_the_type_and_persists(browser_context, deployed):  # noqa: ARG001
    page = browser_context(PHONE).new_page()
    page.goto("/guide/first_child")
    standard = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    page.get_by_role("link", name="长辈模式").click()
    page.wait_for_url("**/guide/first_child")
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= standard * 1.2
    page.goto("/sitemap")
    assert page.evaluate("document.body.className") == "elder", "the choice holds on the next page"
    page.get_by_role("link", name="退出长辈模式").click()
    page.wait_for_url("**/sitemap")
    assert page.evaluate("document.body.className") == ""


def test_the_keyboard_reaches_the_skip_link_first_and_it_leads_to_the_content(browser_context, deployed):  # noqa: ARG001
    page = browser_context(DESKTOP).new_page()
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.className, document.activeElement.textContent]")
    assert focused == ["skip-link", "跳到主要内容"]
    assert page.locator(".skip-link").bounding_box()["y"] >= 0, "the focused skip link is on screen"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
