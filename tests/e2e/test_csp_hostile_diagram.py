"""A hostile diagram in a real browser: its ids and names carry script, and no page that draws it runs any.

A policy administrator uploads a diagram whose element ids and names hold `"`, `'`, `<script>` and `on…=` payloads,
reviews and activates it; a case then runs on it, and the village clerk opens its task, the township clerk the case
and the administrator the instance, each page drawing the diagram. A payload that ran would set `window.__pwned`
and open a dialog. The drawing escapes what it copies from the diagram; the Content-Security-Policy refuses every
inline script besides, which the test shows again with a renderer that lets the hostile id through unescaped, as
the drawing once did: the handler is in the page, and Chromium refuses it.

The policy must not break the site either: the app's own pages (the citizen's application form with its division
picker, the staff workbench, a case drawn from the shipped diagram, the statistics) raise no CSP error in Chromium's
console at all, and on the hostile pages the only refusals are of the payloads' inline code.
"""

import re
from pathlib import Path

import pytest

from engine.svg import render_svg
from processes.roles import POLICY_ADMIN
from services import accounts, applications
from tests.e2e.conftest import staff_sign_in
from tests.fixtures import PASSWORD, open_task
from webapp import casepage, processadmin

pytestmark = pytest.mark.e2e

SHIPPED = Path(__file__).resolve().parents[2] / "bpmn_diagrams" / "birth_registration.bpmn"
# Element id → hostile id: a `"` that would close the data-element attribute and add a handler the browser fires on
# its own (autofocus), and a `'` for a renderer that quotes with apostrophes.
HOSTILE_IDS = {
    "fork_verification": 'fork" autofocus tabindex="0" onfocus="window.__pwned=\'id\';alert(\'id\')',
    "join_verification": "join' autofocus tabindex='0' onfocus='window.__pwned=\"apostrophe\";alert(1)",
}
# Element name → hostile name: markup for the text of a label and a tooltip, and a `"` for an attribute.
HOSTILE_NAMES = {
    "开始核实": "开始核实<script>window.__pwned='script';alert('script')</script>",
    "两地分别核实": '两地分别核实" onload="window.__pwned=\'name\';alert(\'name\')',
    "核实完成": "核实完成<img src=x onerror=\"window.__pwned='img';alert('img')\">",
    "登记成功": "登记成功<svg onload=\"window.__pwned='svg';alert('svg')\"></svg>",
}
# What Chromium logs when the policy refuses inline code ("Refused to execute inline script…", "Executing inline
# event handler violates…", by version), the only refusals a hostile page may show.
PAYLOAD_REFUSED = re.compile(r"(Refused to execute|Executing) inline (event handler|script)")
# What a renderer that copied the first id into its attribute unescaped would put in the page.
LEAKED = 'autofocus tabindex="0" onfocus="window.__pwned=\'leaked\';alert(\'leaked\')" data-element="'


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def hostile_diagram() -> bytes:
    """Return the shipped diagram with hostile ids (in every reference to them) and hostile names."""
    xml = SHIPPED.read_text(encoding="utf-8")
    for old, new in HOSTILE_IDS.items():
        assert f'id="{old}"' in xml, old
        text = new.replace("&", "&amp;").replace("<", "&lt;")
        xml = xml.replace(f'"{old}"', f'"{_attribute(new)}"').replace(f">{old}<", f">{text}<")
    for old, new in HOSTILE_NAMES.items():
        assert f'name="{old}"' in xml, old
        xml = xml.replace(f'name="{old}"', f'name="{_attribute(new)}"')
    return xml.encode("utf-8")


class Watch:
    """What a browser page reported: CSP errors in the console, and dialogs (dismissed)."""

    def __init__(self, page):
        self.page = page
        self.csp_errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.csp_errors.append(f"{self.page.url}: {message.text}")

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{self.page.url}: {dialog.message}")
        dialog.dismiss()

    def provoke(self) -> None:
        """Fire at every part of the drawings the events an inline handler waits for (hover, focus, click, load)."""
        self.page.evaluate("""() => document.querySelectorAll('.diagram *').forEach(element =>
            ['mouseover', 'focus', 'focusin', 'click', 'load', 'error'].forEach(type =>
                element.dispatchEvent(new Event(type))))""")
        self.page.wait_for_timeout(300)

    def assert_nothing_ran(self) -> None:
        """No payload ran on the page shown now, and the policy refused nothing but the payloads' inline code."""
        assert self.page.evaluate("window.__pwned") is None, self.page.url
        assert self.dialogs == []
        own = [error for error in self.csp_errors if not PAYLOAD_REFUSED.search(error)]
        assert own == [], "\n".join(own)

    def assert_no_csp_error(self) -> None:
        """The page raised no CSP error at all: the policy does not break the app's own pages."""
        assert self.csp_errors == [], "\n".join(self.csp_errors)


@pytest.fixture(params=["escaping", "leaking"])
def renderer(request, monkeypatch):
    """The drawing as it is ("escaping"), or ("leaking") one that lets markup from the diagram through."""
    if request.param == "leaking":
        def leaking(xml: bytes, states=None) -> str:
            return render_svg(xml, states).replace('data-element="', LEAKED, 1)

        monkeypatch.setattr(casepage, "render_svg", leaking)
        monkeypatch.setattr(processadmin, "render_svg", leaking)
    return request.param


def _staff_page(browser_context, person, landing: str, start: str = "/staff/"):
    page = browser_context().new_page()
    watch = Watch(page)
    page.goto(f"/auth/login?next={start}")
    staff_sign_in(page, person, PASSWORD, landing)
    return page, watch


def test_the_app_s_own_pages_raise_no_csp_error(session, people, submit, browser_context, screenshots):
    draft = applications.start(session, people.citizen.id, "first_child")
    session.commit()
    case = submit()
    task = open_task(session, case, "verify_hukou")

    page = browser_context().new_page()
    watch = Watch(page)
    page.goto("/auth/login")
    page.get_by_label("手机号码").fill(people.citizen.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/")
    page.goto(f"/apply/{draft.token}")
    # The division picker is the site's one script: it must run, from its file, under the policy.
    page.locator(".picker select").first.wait_for()
    assert page.locator(".picker select").count() >= 5
    page.goto("/my")
    watch.assert_no_csp_error()
    screenshots(page, "csp-citizen-application")

    page, watch = _staff_page(browser_context, people.hukou, "**/staff/")
    page.goto(f"/staff/tasks/{task.id}")
    assert page.locator(".diagram svg").count() == 1
    watch.provoke()
    watch.assert_no_csp_error()
    screenshots(page, "csp-shipped-diagram-task")

    page, watch = _staff_page(browser_context, people.county, "**/statistics/", start="/admin/")
    page.goto(f"/admin/cases/{case.case_number}")
    assert page.locator(".diagram svg").count() == 1
    page.goto("/statistics/")
    assert page.locator("svg.chart").count() >= 1
    watch.assert_no_csp_error()


def test_a_hostile_diagram_runs_no_script_in_any_page_that_draws_it(session, people, deployed, submit,  # noqa: ARG001
                                                                    browser_context, screenshots, tmp_path,
                                                                    renderer):
    admin = accounts.create_user(session, phone="13900000090", name="周流程", role=POLICY_ADMIN,
                                 password=PASSWORD, division_code=None)
    session.commit()
    diagram = tmp_path / "birth_registration.bpmn"
    diagram.write_bytes(hostile_diagram())

    page, watch = _staff_page(browser_context, admin, "**/admin/processes/", start="/admin/processes/")
    page.set_input_files("#diagram", str(diagram))
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_url("**/admin/processes/*")
    assert "检查通过" in page.locator(".validation-ok").inner_text()
    assert page.locator(".diagram-preview svg").count() == 1
    watch.provoke()
    watch.assert_nothing_ran()
    screenshots(page, f"csp-hostile-diagram-review-{renderer}")
    page.get_by_role("button", name="启用此版本").click()
    page.get_by_role("button", name="确认启用").click()  # the confirmation page says what activating will do
    page.wait_for_load_state()
    assert "已启用" in page.locator(".version-state").inner_text()
    watch.assert_nothing_ran()

    case = submit()  # starts on the hostile version, now the active one
    assert case.instance.definition.version == 2
    task = open_task(session, case, "verify_hukou")
    page.goto(f"/admin/processes/instances/{case.instance_id}")
    assert page.locator(".diagram svg").count() == 1
    watch.provoke()
    watch.assert_nothing_ran()
    screenshots(page, f"csp-hostile-diagram-instance-{renderer}")

    clerk, clerk_watch = _staff_page(browser_context, people.hukou, "**/staff/")
    clerk.goto(f"/staff/tasks/{task.id}")
    assert clerk.locator(".diagram svg").count() == 1
    clerk_watch.provoke()
    clerk_watch.assert_nothing_ran()
    screenshots(clerk, f"csp-hostile-diagram-task-{renderer}")

    reader, reader_watch = _staff_page(browser_context, people.township, "**/staff/", start="/admin/")
    reader.goto(f"/admin/cases/{case.case_number}")
    assert reader.locator(".diagram svg").count() == 1
    reader_watch.provoke()
    reader_watch.assert_nothing_ran()
    screenshots(reader, f"csp-hostile-diagram-case-{renderer}")
    if renderer == "leaking":  # the handler reached each page, and the policy is what stopped it
        for refused in (watch, clerk_watch, reader_watch):
            assert any(PAYLOAD_REFUSED.search(error) for error in refused.csp_errors), refused.page.url
