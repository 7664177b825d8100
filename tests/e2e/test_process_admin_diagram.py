"""A case's page in 流程管理 reads in words at the page's width: the diagram opens at a readable size and zooms and
pans with its buttons and the mouse; the event log names actors and shows what each task's form recorded."""

import pytest
from playwright.sync_api import expect

from processes.roles import POLICY_ADMIN
from services import accounts
from tests.e2e.conftest import staff_sign_in
from tests.fixtures import PASSWORD, decide

pytestmark = pytest.mark.e2e


def _svg_width(page) -> float:
    return page.locator(".diagram svg").bounding_box()["width"]


def test_the_diagram_zooms_and_pans_and_the_events_read_in_words(session, people, submit, browser_context,
                                                                   screenshots):
    case = submit(same_village=True)
    case = decide(session, case, "verify_both", people.hukou, "mismatch", "结婚证日期不符")
    admin = accounts.create_user(session, phone="13900000090", name="周流程", role=POLICY_ADMIN, password=PASSWORD,
                                 division_code=None)
    session.commit()
    page = browser_context().new_page()
    page.goto(f"/auth/login?next=/admin/processes/instances/{case.instance_id}")
    staff_sign_in(page, admin, PASSWORD, f"**/admin/processes/instances/{case.instance_id}")

    frame = page.locator(".diagram-zoom .diagram")
    frame.scroll_into_view_if_needed()
    expect(page.locator(".zoom-level")).to_have_text("100%")
    drawn = _svg_width(page)
    assert drawn > frame.bounding_box()["width"], "at its drawn size the diagram is wider than the page: it scrolls"
    font = page.evaluate("() => getComputedStyle(document.querySelector('.diagram svg text')).fontSize")
    assert float(font.removesuffix("px")) >= 11, "labels are drawn at a readable size"
    screenshots(page, "process-instance-diagram-readable")

    page.get_by_role("button", name="放大").click()
    expect(page.locator(".zoom-level")).to_have_text("125%")
    assert _svg_width(page) == pytest.approx(drawn * 1.25, abs=2)
    page.get_by_role("button", name="适合宽度").click()
    assert _svg_width(page) == pytest.approx(frame.bounding_box()["width"] - 4, abs=4)
    page.get_by_role("button", name="原始大小").click()
    expect(page.locator(".zoom-level")).to_have_text("100%")

    before = frame.evaluate("node => node.scrollLeft")
    box = frame.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + 40)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + 40, steps=5)
    page.mouse.up()
    assert frame.evaluate("node => node.scrollLeft") > before, "dragging pans the diagram"
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "only the frame scrolls"

    events = page.locator("table.events tbody tr")
    done = events.filter(has_text="办理任务")
    expect(done).to_contain_text(people.hukou.name)
    expect(done).to_contain_text("办理结果：情况不符；意见或原因：结婚证日期不符")
    assert "verify_both" not in page.locator("table.events").inner_text(), "element ids only inside 详情"
    done.get_by_text("详情").click()
    expect(done.locator(".raw-ids")).to_contain_text("verify_both")
    screenshots(page, "process-instance-events-in-words")
