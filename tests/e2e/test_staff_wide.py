"""Every staff page at 1366×900, role by role: each page its menu offers and the pages one click deeper (a case, a
task, a person, a process version, an instance, the audit search, a holiday year, statistics drilled down), each
photographed and none scrolling sideways; and a village clerk's task page at 390 px.

A page fits when the document is no wider than the window (`scrollWidth <= innerWidth`); wide tables scroll inside
their own box. A page that does not fit is named with the elements that stick out.
"""

import pytest
from sqlalchemy import select

from services.people import PersonModel
from tests.applications import WOMAN_ID
from tests.e2e.conftest import DESKTOP, PHONE, staff_sign_in
from tests.e2e.test_citizen_phone import OVERFLOWING
from tests.fixtures import PASSWORD, decide, forget, open_task
from tests.webapp.test_navigation import HOMES, add_every_staff_role

pytestmark = pytest.mark.e2e

# Words that must never reach a staff page: raw keys of templates, operators, send methods and statuses.
RAW_KEYS = ("sms.send", "slip.render", "audit_approved", "verification_code", "first_child", "second_child",
            "in_progress", "None", "（未命名）")

# The page's words as read, without what is kept verbatim on purpose: an audit event's recorded detail (<code>) and
# the ids a 详情 or title reveals on request.
SHOWN_TEXT = """() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll('code, .raw-ids, details:not([open]) > :not(summary)').forEach(el => el.remove());
  return copy.textContent;
}"""


class Walk:
    """Open a role's pages one by one; photograph each and note those wider than the window or showing raw keys."""

    def __init__(self, page, screenshots, who: str):
        self.page, self.screenshots, self.who = page, screenshots, who
        self.too_wide, self.raw, self.seen = {}, {}, []

    def check(self, name: str) -> None:
        """Photograph the page shown now and note what is wrong with it."""
        self.page.wait_for_load_state("networkidle")
        self.screenshots(self.page, f"wide-{self.who}-{name}")
        self.seen.append(name)
        width, inner = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width > inner:
            self.too_wide[name] = (width, self.page.evaluate(OVERFLOWING))
        text = self.page.evaluate(SHOWN_TEXT)
        if found := [key for key in RAW_KEYS if key in text]:
            self.raw[name] = found

    def visit(self, name: str, url: str) -> None:
        """Open `url`, expect it to answer 200, and check the page."""
        response = self.page.goto(url)
        assert response.status == 200, f"{self.who}: {name} {url} answered {response.status}"
        self.check(name)

    def assert_all_fit(self, at_least: int) -> None:
        """Fail naming every page that scrolls sideways or shows a raw key."""
        assert len(self.seen) >= at_least, self.seen
        assert not self.too_wide, f"{self.who}: pages wider than {DESKTOP['width']} px: {self.too_wide}"
        assert not self.raw, f"{self.who}: raw keys shown: {self.raw}"


@pytest.fixture
def world(session, people, deployed, apply, submit):
    """Every staff role, a case in verification (made through the application path, so with persons), one awaiting
    the township's audit and one registered; what the walk opens, by name."""
    add_every_staff_role(session, people)
    verifying = apply()
    auditing = submit(same_village=True)
    decide(session, auditing, "verify_both", people.hukou, "verified")
    registered = submit(same_village=True)
    decide(session, registered, "verify_both", people.hukou, "verified")
    decide(session, registered, "township_audit", people.township, "approved")
    made = {
        "people": people,
        "verifying": verifying,
        "hukou_task": open_task(session, verifying, "verify_hukou").id,
        "township_task": open_task(session, auditing, "township_audit").id,
        "person": session.scalar(select(PersonModel.id).order_by(PersonModel.id)),
        "definition": deployed["birth_registration"].id,
        "instance": verifying.instance_id,
    }
    forget(session)
    return made


def _signed_in(browser_context, person, who, viewport=DESKTOP):
    page = browser_context(viewport=viewport).new_page()
    page.goto("/auth/login")
    home = HOMES[who][0]
    staff_sign_in(page, person, PASSWORD, f"**{home}" if home != "/admin/" else "**/admin/staff")
    return page


def _menu(page) -> list[tuple[str, str]]:
    links = page.locator(".staff-menu a")
    return [(links.nth(i).inner_text().strip(), links.nth(i).get_attribute("href")) for i in range(links.count())]


def _find_case(walk, number: str) -> None:
    """Look a case up by its number in the hall's form, as the hall and the township do at the counter."""
    walk.page.goto("/staff/hall")
    walk.page.get_by_label("按受理编号").check()
    walk.page.get_by_label("受理编号", exact=True).fill(number)
    walk.page.get_by_role("button", name="查询").click()
    walk.page.locator(".hall-case").wait_for()
    walk.check("hall-found")


def _find_person(walk, base: str) -> None:
    walk.page.goto(base)
    walk.page.get_by_label("身份证号码、手机号码或姓名").fill(WOMAN_ID)  # names find only verified persons
    walk.page.get_by_role("button", name="查询", exact=True).click()
    walk.page.wait_for_load_state()
    assert walk.page.locator("table.people tbody tr").count() == 1, "the woman of the case is found"
    walk.check("people-found")


def _search_audit(walk) -> None:
    walk.page.goto("/admin/audit")
    walk.page.locator("form.filters").get_by_role("button", name="查询").click()
    walk.page.wait_for_url("**/admin/audit?q=*")
    walk.check("audit-found")


# Pages one click below each role's menu, beyond the menu's own: (name, address) from the world made above.
def _deeper(who: str, made: dict) -> list[tuple[str, str]]:
    number = made["verifying"].case_number
    case = ("case", f"/admin/cases/{number}")
    person = ("person", f"/staff/people/{made['person']}")
    statistics = ("statistics-township", "/statistics/?division=110101001")
    processes = [("version", f"/admin/processes/{made['definition']}"), ("instances", "/admin/processes/instances"),
                 ("instance", f"/admin/processes/instances/{made['instance']}"), ("rules", "/admin/processes/rules")]
    return {
        "hukou": [("task", f"/staff/tasks/{made['hukou_task']}"), person],
        "township": [("task", f"/staff/tasks/{made['township_task']}"), case, person, statistics],
        "hall": [case, person, statistics],
        "county": [case, person, statistics],
        "city": [case, person, ("statistics-county", "/statistics/?division=110101"), statistics],
        "province": [case, person, ("statistics-city", "/statistics/?division=1101"), statistics],
        "policy": processes,
        "system": [*processes, ("holiday-year", "/admin/holidays/2026")],
    }[who]


@pytest.mark.parametrize("who", sorted(HOMES))
def test_every_staff_page_fits_1366(world, browser_context, screenshots, who):
    page = _signed_in(browser_context, getattr(world["people"], who), who)
    walk = Walk(page, screenshots, who)
    walk.check("home")
    menu = _menu(page)
    assert [label for label, _href in menu] == HOMES[who][1]
    for label, href in menu:
        walk.visit(f"menu-{label}", href)
    for name, url in _deeper(who, world):
        walk.visit(name, url)
    if who in ("township", "hall"):
        _find_case(walk, world["verifying"].case_number)
    if any(label == "信息资源库" for label, _href in menu):
        _find_person(walk, dict(menu)["信息资源库"])
    if who == "system":
        _search_audit(walk)
    walk.assert_all_fit(at_least=len(menu) + len(_deeper(who, world)) + 1)


def test_the_clerk_s_task_page_fits_a_phone(world, browser_context, screenshots):
    page = _signed_in(browser_context, world["people"].hukou, "hukou", viewport=PHONE)
    walk = Walk(page, screenshots, "hukou-390")
    walk.visit("task", f"/staff/tasks/{world['hukou_task']}")
    assert page.get_by_role("button", name="提交", exact=True).is_visible()
    assert not walk.too_wide, f"the task page is wider than the phone: {walk.too_wide}"
