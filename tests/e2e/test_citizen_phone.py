"""Every page a citizen meets, on a phone (390×844): each is photographed and none scrolls sideways.

The cases behind the pages (one in each status, a withdrawn one included) are made through the service layer; the
pages are opened in a real browser as the citizen, or as anyone for the public ones. A page fits when the document
is no wider than the window (`scrollWidth <= innerWidth`); a page that does not names the elements that stick out.
"""

import pytest
from sqlalchemy import select

from processes import applying, withdrawal
from services import applications
from services.documents import SlipModel
from tests.applications import answers
from tests.e2e.conftest import PHONE, citizen_sign_in
from tests.fixtures import PASSWORD, decide, forget

pytestmark = pytest.mark.e2e

# What sticks out of the window, for the failure message: the innermost elements whose right edge passes it.
OVERFLOWING = """() => {
  const width = window.innerWidth;
  return [...document.querySelectorAll('body *')]
    .filter(el => el.getBoundingClientRect().right > width + 0.5 && el.getClientRects().length)
    .filter(el => ![...el.children].some(child => child.getBoundingClientRect().right > width + 0.5))
    .slice(0, 5)
    .map(el => {
      const classes = typeof el.className === 'string' && el.className.trim()
        ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
      return `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${classes} `
        + `(${Math.round(el.getBoundingClientRect().right)}px)`;
    });
}"""


class Sweep:
    """Open pages one by one, photograph each, and collect the ones wider than the window."""

    def __init__(self, page, screenshots):
        self.page, self.screenshots, self.too_wide, self.seen = page, screenshots, {}, []

    def check(self, name: str) -> None:
        """Photograph the page shown now and note it if it scrolls sideways."""
        self.page.wait_for_load_state("networkidle")
        self.screenshots(self.page, f"phone-{name}")
        self.seen.append(name)
        width, inner = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width > inner:
            self.too_wide[name] = (width, self.page.evaluate(OVERFLOWING))

    def visit(self, name: str, url: str, status: int = 200) -> None:
        """Open `url`, expect `status`, and check the page."""
        response = self.page.goto(url)
        assert response.status == status, f"{name}: {url} answered {response.status}"
        self.check(name)


@pytest.fixture
def cases_in_every_status(session, people, submit, apply):
    """The demo citizen's cases, one in each status a citizen sees, and a draft with answers; by status."""
    made = {"办理中": apply()}  # through the application path: children and claims on the case page
    mismatch = submit(same_village=True)
    made["核实有误"] = decide(session, mismatch, "verify_both", people.hukou, "mismatch", "户口簿上的住址与申报不一致")
    registered = submit(same_village=True)
    decide(session, registered, "verify_both", people.hukou, "verified")
    made["登记成功"] = decide(session, registered, "township_audit", people.township, "approved")
    refused = submit(same_village=True)
    decide(session, refused, "verify_both", people.hukou, "verified")
    made["不予登记"] = decide(session, refused, "township_audit", people.township, "rejected", "不符合登记条件")
    third = submit(case_type="third_child")
    decide(session, third, "verify_hukou", people.hukou, "verified")
    made["待现场确认"] = decide(session, third, "township_review", people.township, "passed")
    approved = submit(case_type="third_child")
    decide(session, approved, "verify_hukou", people.hukou, "verified")
    decide(session, approved, "township_review", people.township, "passed")
    made["已批准"] = decide(session, approved, "offline_confirmation", people.township, "approved")
    withdrawn = submit()
    withdrawal.withdraw(session, withdrawn, people.citizen)
    session.commit()
    made["已撤回"] = withdrawn
    draft = applications.start(session, people.citizen.id, "first_child")
    draft.answers = applying.stored(answers())
    session.commit()
    made["draft"] = draft.token
    made["slip"] = session.scalar(select(SlipModel.verification_code)
                                  .where(SlipModel.case_id == made["登记成功"].id))
    forget(session)
    return made


def test_every_citizen_page_fits_a_phone(people, cases_in_every_status, browser_context, screenshots):
    made = cases_in_every_status
    page = browser_context(PHONE).new_page()
    sweep = Sweep(page, screenshots)

    # Anyone: the pages before signing in.
    sweep.visit("home", "/")
    sweep.visit("register", "/auth/register")
    sweep.visit("login", "/auth/login")
    sweep.visit("forgot", "/auth/forgot")
    sweep.visit("privacy", "/privacy")
    sweep.visit("slip-verify", f"/slips/verify/{made['slip']}")
    sweep.visit("slip-verify-unknown", "/slips/verify/NOSUCHCODE00", status=404)
    sweep.visit("track", "/track")
    page.get_by_label("受理编号").fill(made["办理中"].case_number)
    page.get_by_label("手机号码").fill(made["办理中"].contact_phone)
    page.get_by_role("button", name="查询").click()
    sweep.check("track-found")
    sweep.visit("not-found", "/no/such/page", status=404)

    # The citizen: applying, her cases in every status, her account.
    citizen_sign_in(page, people.citizen.phone, PASSWORD)
    page.wait_for_url(lambda url: "/auth/login" not in url)
    sweep.visit("notice", "/apply")
    page.locator("input[name=read]").check()
    page.get_by_role("button", name="下一步：选择申请类型").click()
    page.wait_for_url("**/apply/types")
    sweep.check("types")
    draft = made["draft"]
    sweep.visit("application", f"/apply/{draft}")
    sweep.visit("materials", f"/apply/{draft}/materials")
    sweep.visit("review", f"/apply/{draft}/review")
    sweep.visit("my", "/my")
    for status in ("办理中", "核实有误", "登记成功", "不予登记", "待现场确认", "已批准", "已撤回"):
        case = made[status]
        sweep.visit(f"case-{status}", f"/my/cases/{case.case_number}")
        assert page.locator(".status").first.inner_text() == status
    sweep.visit("correction", f"/my/cases/{made['核实有误'].case_number}/correct")
    page.goto(f"/my/cases/{made['办理中'].case_number}")
    page.get_by_role("button", name="撤回申请").click()
    sweep.check("withdraw-confirmation")
    page.get_by_role("button", name="确认撤回申请").click()
    page.wait_for_url(f"**/my/cases/{made['办理中'].case_number}")
    assert page.locator(".status").first.inner_text() == "已撤回"
    assert "申请已撤回" in page.locator("main").inner_text()
    sweep.check("withdrawn-just-now")
    sweep.visit("me", "/auth/me")
    sweep.visit("privacy-signed-in", "/privacy")
    sweep.visit("forbidden", "/staff/", status=403)
    sweep.visit("case-not-found", "/my/cases/NOSUCHCASE", status=404)

    assert len(sweep.seen) == 30, sweep.seen
    assert not sweep.too_wide, f"pages wider than the phone: {sweep.too_wide}"
