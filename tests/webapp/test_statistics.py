"""The statistics pages: who sees which division, drill-down links, exports, filters, and the admin menu link."""

import csv
import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from engine.calendar import load_calendar
from engine.db import utcnow
from processes.demo import TOWNSHIP
from processes.roles import PROVINCE_OFFICIAL
from services import accounts, statistics, synthetic
from tests.fixtures import PASSWORD
from webapp.statistics import charts


@pytest.fixture
def cases_generated(session):
    """300 synthetic cases over the demo villages, and the tally rebuilt."""
    now = utcnow()
    synthetic.generate(session, 300, synthetic.villages_in(session, ""), start=now - timedelta(days=200), end=now,
                       calendar=load_calendar(session), now=now, seed=3)
    statistics.refresh(session, statistics.timing_for(session))
    session.commit()


def _total(page) -> int:
    text = page.text
    start = text.index('id="total">') + len('id="total">')
    return int(text[start:text.index("<", start)])


def test_a_township_official_sees_only_their_township(people, browser_for, cases_generated):  # noqa: ARG001
    township = browser_for("township")
    page = township.get("/statistics/")
    assert page.status_code == 200
    assert "东华门街道" in page.text
    assert "按村（居）统计受理数" in page.text
    assert "数据为实时数据" in page.text
    assert township.get(f"/statistics/?division={TOWNSHIP}").status_code == 200
    for outside in ("110101", "11", "130623", "110101002", "13"):
        assert township.get(f"/statistics/?division={outside}").status_code == 403, outside
        assert township.get(f"/statistics/export/divisions.csv?division={outside}").status_code == 403


def test_a_county_official_drills_into_their_townships_only(people, browser_for, cases_generated):  # noqa: ARG001
    county = browser_for("county")
    page = county.get("/statistics/")
    assert page.status_code == 200
    assert "东城区" in page.text
    assert f'href="/statistics/?division={TOWNSHIP}"' in page.text  # the township is a drill-down link
    township = county.get(f"/statistics/?division={TOWNSHIP}")
    assert township.status_code == 200
    assert _total(township) <= _total(page)
    assert 'href="/statistics/?division=110101"' in township.text  # back up to the county
    assert 'href="/statistics/?division=11"' not in township.text  # but not above it
    assert county.get("/statistics/?division=11").status_code == 403
    assert county.get("/statistics/?division=130623").status_code == 403
    assert "统计分析" in county.get("/admin/cases").text  # the admin menu offers the dashboard


def test_citizens_and_village_staff_see_nothing(client, people, browser_for):
    assert browser_for("citizen").get("/statistics/").status_code == 403
    assert browser_for("hukou").get("/statistics/").status_code == 403
    assert browser_for("citizen").get("/statistics/export/types.csv").status_code == 403
    signed_out = client.get("/statistics/")
    assert signed_out.status_code == 302
    assert "/auth/login" in signed_out.location
    assert people.citizen.role == "citizen"


def test_a_province_official_reads_the_tally_and_exports_each_figure(session, client, cases_generated):  # noqa: ARG001
    from tests.fixtures import sign_in

    official = accounts.create_user(session, phone="13900000030", name="钱省厅", role=PROVINCE_OFFICIAL,
                                    password=PASSWORD, division_code="13")
    session.commit()
    sign_in(client, official)
    page = client.get("/statistics/?type=first_child")
    assert page.status_code == 200
    assert "汇总数据，随每次受理和办理即时更新" in page.text
    assert "<svg" in page.text
    assert 'href="/statistics/?division=1306&amp;type=first_child"' in page.text

    summary = statistics.summarize(session, "13", statistics.Filters(case_type="first_child"),
                                   statistics.timing_for(session))
    assert _total(page) == summary.total > 0
    for figure in summary.figures:
        exported = client.get(f"/statistics/export/{figure.key}.csv?type=first_child")
        assert exported.status_code == 200
        assert exported.mimetype == "text/csv"
        assert f"statistics-13-{figure.key}.csv" in exported.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
        assert rows == [figure.columns, *[[str(cell) for cell in row] for row in figure.rows]]

        workbook = client.get(f"/statistics/export/{figure.key}.xlsx?type=first_child")
        assert workbook.status_code == 200
        sheet = load_workbook(io.BytesIO(workbook.data)).active
        assert sheet.title == figure.title.replace("/", "／")  # the figure's Chinese name, not its key
        values = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert values[0] == [f"河北省（13）{figure.title}"] + [None] * (len(values[0]) - 1)
        assert values[1] == figure.columns
        assert values[2:] == [pytest.approx([None if cell == "—" else cell for cell in row])
                              for row in figure.rows]
        for cells, row in zip(sheet.iter_rows(min_row=3), figure.rows, strict=True):
            for cell, value in zip(cells, row, strict=True):
                if isinstance(value, statistics.Share):  # a share is a number shown as a percentage
                    assert (cell.data_type, cell.number_format) == ("n", "0.0%")
                    assert f"{cell.value:.1%}" == str(value)
                elif isinstance(value, int):
                    assert cell.data_type == "n"
        if figure.key == "types":
            shares = [row[2] for row in values[2:]]
            assert all(isinstance(share, int | float) for share in shares)
            assert sum(shares) == pytest.approx(1)
    assert client.get("/statistics/export/nothing.csv").status_code == 404
    assert client.get("/statistics/export/types.pdf").status_code == 404


def test_bad_filters_get_a_chinese_message_not_an_error_page(browser_for, people):  # noqa: ARG001
    county = browser_for("county")
    page = county.get("/statistics/?from=2026-13")
    assert page.status_code == 400
    assert "起始月份应为 YYYY-MM 格式的月份" in page.text
    page = county.get("/statistics/?from=2026-05&to=2026-01")
    assert "起始月份不能晚于截止月份" in page.text
    assert county.get("/statistics/?type=x").status_code == 400
    assert county.get("/statistics/export/types.csv?from=bad").status_code == 400
    assert county.get("/statistics/?division=abc").status_code == 403


def test_the_cli_generates_and_refreshes(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["stats", "generate", "--count", "50", "--division", "130623", "--months", "3"])
    assert result.exit_code == 0, result.output
    assert "已生成 50 件模拟案件" in result.output
    assert statistics.snapshot(session).cases == 50  # the tally was rebuilt with them
    result = runner.invoke(args=["stats", "refresh"])
    assert result.exit_code == 0, result.output
    assert "已汇总 50 件案件" in result.output
    summary = statistics.summarize(session, "13", statistics.Filters(), statistics.timing_for(session))
    assert summary.total == 50
    refused = runner.invoke(args=["stats", "generate", "--count", "5", "--division", "99"])
    assert refused.exit_code != 0
    assert "没有代码以「99」开头的村（居）" in refused.output


def test_the_month_chart_labels_small_counts_with_whole_numbers_once_each():
    svg = str(charts.line_chart("按月登记趋势", ["2026-01", "2026-02", "2026-03"], [("一孩登记", [1, 2, 0])]))
    labels = re.findall(r'text-anchor="end" fill="#666" font-size="11">([^<]*)</text>', svg)
    assert labels == ["0", "1", "2"]
    svg = str(charts.line_chart("按月登记趋势", ["2026-01"], [("一孩登记", [10876])]))
    labels = re.findall(r'text-anchor="end" fill="#666" font-size="11">([^<]*)</text>', svg)
    assert labels == ["0", "5,000", "10,000", "15,000"]
