"""The resource base in a real browser: a village clerk finds a person, opens the record, reveals the numbers.

The persons come from the real flows (tests/resource_world.py). The clerk signs in as staff do (password, then the
SMS code read from the outbox), opens 信息资源库 from the workbench menu, searches by name, opens the person, reads
the history, and reveals the whole numbers, which leaves one audit row. The same search on a phone shows each person
as a card. A county official gets counts by division and masked rows. Every step is saved as a screenshot under
test-artifacts/screenshots/.
"""

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import AuditEventModel
from tests.applications import WOMAN_ID
from tests.e2e.conftest import PHONE, staff_sign_in
from tests.fixtures import PASSWORD, forget
from tests.identities import with_wrong_check
from tests.resource_world import A_NEW_PHONE, build

pytestmark = pytest.mark.e2e


def _signed_in(context, person):
    page = context.new_page()
    page.goto("/staff/")
    staff_sign_in(page, person, PASSWORD, "**/staff/")
    return page


def _search(page, text):
    page.get_by_label("身份证号码、手机号码或姓名").fill(text)
    page.get_by_role("button", name="查询", exact=True).click()
    page.wait_for_load_state()


def test_a_village_clerk_finds_a_person_opens_the_record_and_reveals_the_numbers(
        session, people, deployed, browser_context, screenshots):
    world = build(session, people, deployed)
    clerk = _signed_in(browser_context(), world.people.hukou)

    clerk.get_by_role("link", name="信息资源库").click()
    clerk.wait_for_url("**/staff/people/")
    assert clerk.get_by_role("heading", name="信息资源库查询").is_visible()
    assert clerk.get_by_role("heading", name="怎样查询").is_visible()
    screenshots(clerk, "people-search-empty")

    _search(clerk, with_wrong_check(WOMAN_ID))
    assert "身份证号码校验位不正确，请核对后重新输入" in clerk.locator(".alert-error").inner_text()
    screenshots(clerk, "people-wrong-checksum")

    _search(clerk, "张")
    assert clerk.url.endswith("/staff/people/"), "the search is POSTed: nothing typed is in the URL"
    assert "姓名「张」：共 1 人" in clerk.locator(".results h2").inner_text()
    row = clerk.locator("table.people tbody tr")
    assert row.count() == 1
    assert "110101********1227" in row.inner_text()
    assert "137****0009" in row.inner_text()
    screenshots(clerk, "people-results")

    clerk.get_by_role("link", name="张丽").click()
    clerk.wait_for_url(re.compile(r".*/staff/people/\d+$"))
    assert clerk.get_by_role("heading", name=re.compile("张丽")).is_visible()
    changes = clerk.locator("ol.changes").inner_text()
    assert "138****0001 → 137****0009" in changes
    assert "李多福 核实" in changes
    assert "东城区某公司 → 东城区某医院" in changes
    assert WOMAN_ID not in clerk.content()
    screenshots(clerk, "people-person")

    clerk.get_by_role("button", name="显示完整号码").click()
    clerk.wait_for_load_state()
    assert "本次查看已记入审计日志" in clerk.locator(".alert-warning").inner_text()
    facts = clerk.locator("dl.facts").inner_text()
    assert WOMAN_ID in facts
    assert A_NEW_PHONE in facts
    assert "13800000001 → 13700000009" in clerk.locator("ol.changes").inner_text()
    screenshots(clerk, "people-revealed")
    forget(session)
    (audit,) = session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "pii_viewed")).all()
    assert (audit.actor, audit.detail["person_id"]) == (world.people.hukou.actor, world.ids["zhang_li"])

    _export(clerk, screenshots)
    _on_a_phone(browser_context, clerk, screenshots)


def _export(clerk, screenshots):
    """Open the export panel and download the village's list as CSV: masked numbers unless asked for."""
    clerk.goto("/staff/people/")
    clerk.get_by_text("导出本辖区人员名单").click()
    assert clerk.get_by_label("导出完整的身份证号码和电话（记入审计日志）").is_visible()
    screenshots(clerk, "people-export")
    with clerk.expect_download() as download:
        clerk.get_by_role("button", name="导出 CSV").click()
    content = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "张丽,110101********1227" in content
    assert WOMAN_ID not in content


def _on_a_phone(browser_context, clerk, screenshots):
    """The same search on a phone (the clerk's session): one card per person, every label beside its value."""
    mobile = browser_context(viewport=PHONE).new_page()
    mobile.context.add_cookies(clerk.context.cookies())
    mobile.goto("/staff/people/")
    _search(mobile, "刘")
    card = mobile.locator("table.people tbody tr")
    assert card.count() == 1
    assert card.bounding_box()["width"] <= PHONE["width"], "no sideways scrolling for a result"
    assert mobile.locator("table.people thead").is_hidden(), "labels sit beside the values instead"
    screenshots(mobile, "people-results-phone")
    mobile.get_by_role("link", name="刘强").click()
    mobile.wait_for_url(re.compile(r".*/staff/people/\d+$"))
    screenshots(mobile, "people-person-phone")


def test_a_county_official_sees_counts_and_masked_rows_and_reveals_one(
        session, people, deployed, browser_context, screenshots):
    world = build(session, people, deployed)
    county = _signed_in(browser_context(), world.people.county)
    county.goto("/staff/people/")
    _search(county, "张")
    assert "按区划汇总" in county.content()
    counts = county.locator("table.counts").inner_text()
    assert "景山街道" in counts
    assert "东华门街道\t1\n多福巷社区居委会\t1" in counts, "villages named under their township"
    rows = county.locator("table.people tbody")
    assert rows.inner_text().count("张*") == 3
    for name in ("张丽", "张伟", "张芳"):
        assert name not in rows.inner_text()
    screenshots(county, "people-county-results")
    county.locator("table.people tbody tr").first.get_by_role("button", name="显示").click()
    county.wait_for_load_state()
    assert "本次查看已记入审计日志" in county.locator(".alert-warning").inner_text()
    screenshots(county, "people-county-revealed")
    forget(session)
    assert [e.actor for e in session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "pii_viewed"))] == [
        world.people.county.actor]
