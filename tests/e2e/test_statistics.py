"""The statistics dashboard in a real browser: a province official drills down from the province to a township by
clicking division names, checks the total against the service, exports a CSV, and every step is a screenshot.
"""

import csv
import io
from datetime import timedelta

import pytest

from engine.calendar import load_calendar
from engine.db import utcnow
from processes.demo import TOWNSHIP
from processes.roles import PROVINCE_OFFICIAL
from services import accounts, statistics, synthetic
from tests.e2e.conftest import staff_sign_in
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture
def official(session):
    """A province official of 北京市, and 800 synthetic cases over the demo villages with the tally rebuilt."""
    now = utcnow()
    synthetic.generate(session, 800, synthetic.villages_in(session, ""), start=now - timedelta(days=365), end=now,
                       calendar=load_calendar(session), now=now, seed=11)
    statistics.refresh(session, statistics.timing_for(session))
    user = accounts.create_user(session, phone="13900000031", name="周省厅", role=PROVINCE_OFFICIAL,
                                password=PASSWORD, division_code="11")
    session.commit()
    return user


def _total(page) -> int:
    return int(page.locator("#total").inner_text())


def _expected_total(session, code) -> int:
    return statistics.summarize(session, code, statistics.Filters(), statistics.timing_for(session)).total


def test_drill_down_from_province_to_township_and_export(session, browser_context, screenshots, official):
    page = browser_context().new_page()
    page.goto("/admin/")
    staff_sign_in(page, official, PASSWORD, "**/statistics/")
    page.get_by_role("link", name="统计分析").click()
    page.wait_for_url("**/statistics/")
    assert page.get_by_role("heading", name="统计分析 北京市").is_visible()
    assert "汇总数据，随每次受理和办理即时更新" in page.locator(".source").inner_text()
    assert _total(page) == _expected_total(session, "11") > 0
    assert page.locator("svg.chart").count() >= 6
    screenshots(page, "statistics-province")

    for name, code in (("市辖区", "1101"), ("东城区", "110101"), ("东华门街道", TOWNSHIP)):
        page.locator("#figure-divisions a.drill", has_text=name).click()
        page.wait_for_url(f"**/statistics/?division={code}")
        assert _total(page) == _expected_total(session, code)
        assert name in page.locator(".crumbs").inner_text()
    assert "数据为实时数据" in page.locator(".source").inner_text()
    assert page.locator("#figure-divisions h2").inner_text() == "按村（居）统计受理数"
    assert page.locator("#figure-divisions a.drill").count() == 0  # villages are listed, not opened
    screenshots(page, "statistics-township")

    with page.expect_download() as download_info:
        page.locator("#figure-types .exports a", has_text="CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"statistics-{TOWNSHIP}-types.csv"
    rows = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["类型", "受理数", "占比"]
    assert sum(int(row[1]) for row in rows[1:]) == _total(page)

    page.locator("select[name=type]").select_option("second_child")
    page.get_by_role("button", name="查询").click()
    page.wait_for_url("**type=second_child**")
    summary = statistics.summarize(session, TOWNSHIP, statistics.Filters(case_type="second_child"),
                                   statistics.timing_for(session))
    assert _total(page) == summary.total
    screenshots(page, "statistics-township-second-child")
