"""Statistics: every figure at every level compared with an independent count over the generated cases.

The expected numbers are computed here in plain Python from the case rows as stored (their own age bands, China
months, working-day loop and percentile), never through services.statistics, so a slip in either shows.
"""

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import delete, select

from engine.calendar import CST, load_calendar
from services import cases, divisions, statistics, synthetic
from services.cases import CASE_TYPES, CaseModel

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
COUNT = 1500
LIMIT = 3


@pytest.fixture
def generated(session):
    """Synthetic cases over the demo villages (北京东城区 and 河北涞水县), the tally rebuilt; return the rows."""
    villages = synthetic.villages_in(session, "")
    assert {code[:6] for code in villages} == {"110101", "130623"}
    calendar = load_calendar(session)
    written = synthetic.generate(session, COUNT, villages, start=NOW - timedelta(days=400), end=NOW,
                                 calendar=calendar, now=NOW, seed=7)
    assert written == COUNT
    # A case with nothing but the required fields: its unknown ages and ethnic groups are counted as 未填写.
    bare = session.scalars(select(CaseModel).order_by(CaseModel.id).limit(1)).one()
    bare.mother_age = bare.father_age = bare.mother_ethnicity = bare.father_ethnicity = None
    session.flush()
    statistics.refresh(session, statistics.timing_for(session, LIMIT, NOW))
    session.commit()
    return list(session.scalars(select(CaseModel)))


def _band(age):
    if age is None:
        return ""
    if age < 20:
        return "-19"
    if age >= 45:
        return "45-"
    low = age // 5 * 5
    return f"{low}-{low + 4}"


def _working_days(calendar, start, end):
    day, last, count = start.astimezone(CST).date(), end.astimezone(CST).date(), 0
    while day < last:
        day += timedelta(days=1)
        count += calendar.is_working_day(day)
    return count


def _percentile(values, share):
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)), 1) - 1] if ordered else None


def _expected(session, rows, code, start=None, end=None, case_type=None):
    calendar = load_calendar(session)
    month = {row.id: row.submitted_at.astimezone(CST).strftime("%Y-%m") for row in rows}
    chosen = [row for row in rows if row.hukou_division.startswith(code)
              and (start is None or month[row.id] >= start) and (end is None or month[row.id] <= end)
              and (case_type is None or row.case_type == case_type)]
    overdue = {row.id for row in chosen if (row.completed_at or NOW) > calendar.deadline(row.submitted_at, LIMIT)}
    days = [_working_days(calendar, row.submitted_at, row.completed_at) for row in chosen if row.completed_at]
    length = divisions.CODE_LENGTHS[divisions.level_of(code) + 1]
    months = Counter((month[row.id], row.case_type) for row in chosen)
    return {
        "total": len(chosen),
        "by_type": Counter(row.case_type for row in chosen),
        "by_status": Counter(row.status for row in chosen),
        "mother_age": Counter(_band(row.mother_age) for row in chosen),
        "father_age": Counter(_band(row.father_age) for row in chosen),
        "mother_ethnicity": Counter(row.mother_ethnicity or "" for row in chosen),
        "father_ethnicity": Counter(row.father_ethnicity or "" for row in chosen),
        "children": Counter(row.hukou_division[:length] for row in chosen),
        "children_overdue": Counter(row.hukou_division[:length] for row in chosen if row.id in overdue),
        "months": months,
        "completed": len(days), "median": _percentile(days, 0.5), "p90": _percentile(days, 0.9),
        "overdue": len(overdue),
    }


def _nonzero(counts):
    return Counter({key: value for key, value in counts.items() if value})


def _check(summary, expected):
    assert summary.total == expected["total"]
    assert _nonzero(summary.by_type) == expected["by_type"]
    for name in ("by_status", "mother_age", "father_age", "mother_ethnicity", "father_ethnicity"):
        assert _nonzero(getattr(summary, name)) == expected[name], name
    assert _nonzero({child["code"]: child["cases"] for child in summary.children}) == expected["children"]
    assert _nonzero({child["code"]: child["overdue"] for child in summary.children}) == expected["children_overdue"]
    assert _nonzero({(m["month"], kind): m[kind] for m in summary.by_month for kind in CASE_TYPES}) == \
        expected["months"]
    assert all(m["total"] == sum(m[kind] for kind in CASE_TYPES) for m in summary.by_month)
    processing = summary.processing
    assert (processing["completed"], processing["median_days"], processing["p90_days"], processing["overdue"]) == (
        expected["completed"], expected["median"], expected["p90"], expected["overdue"])


SCOPES = ("11", "1101", "110101", "110101001", "13", "1306", "130623", "130623100")


def test_every_figure_at_every_level_matches_an_independent_count(session, generated):
    timing = statistics.timing_for(session, LIMIT, NOW)
    seen = set()
    for code in SCOPES:
        summary = statistics.summarize(session, code, statistics.Filters(), timing)
        expected = _expected(session, generated, code)
        assert expected["total"] > 0, code
        _check(summary, expected)
        seen.add(summary.live)
        assert summary.live == (len(code) >= 6)
        assert summary.path[-1][0] == code
    assert seen == {True, False}
    # The generated spread is realistic enough to exercise every breakdown.
    whole = _expected(session, generated, "13")
    assert len(whole["by_status"]) >= 4
    assert len(whole["mother_age"]) >= 5
    assert len(whole["mother_ethnicity"]) >= 3
    assert len(whole["months"]) >= 12 * 3
    assert whole["overdue"] > 0
    assert whole["by_type"]["first_child"] > whole["by_type"]["second_child"] > whole["by_type"]["third_child"]


def test_filters_by_month_range_and_type_match_an_independent_count(session, generated):
    timing = statistics.timing_for(session, LIMIT, NOW)
    for code in ("11", "130623", "110101001"):
        for start, end, case_type in (("2026-01", "2026-06", None), (None, "2026-03", "second_child"),
                                      ("2026-07", None, "third_child"), ("2026-05", "2026-05", "first_child")):
            filters = statistics.Filters.parse(start, end, case_type)
            summary = statistics.summarize(session, code, filters, timing)
            _check(summary, _expected(session, generated, code, start, end, case_type))
            if start and end:
                assert [m["month"] for m in summary.by_month][0] == start
                assert [m["month"] for m in summary.by_month][-1] == end


def _province_and_counties_agree(session, timing, expect_live=False):
    """Check the tally-served province and city against the live counties; return the province's summary."""
    province = statistics.summarize(session, "13", statistics.Filters(), timing)
    city = statistics.summarize(session, "1306", statistics.Filters(), timing)
    county = statistics.summarize(session, "130623", statistics.Filters(), timing)
    assert (province.live, city.live) == (expect_live, expect_live)
    for summary in (province, city):
        assert summary.total == county.total
        assert summary.by_status == county.by_status
        assert summary.processing == county.processing
        assert (summary.registered, summary.in_progress) == (county.registered, county.in_progress)
    assert {child["code"]: child["cases"] for child in province.children if child["cases"]} == {"1306": city.total}
    return province


def test_the_tally_follows_each_change_to_a_case_at_once(session, generated):
    timing = statistics.timing_for(session, LIMIT, NOW)
    before = _province_and_counties_agree(session, timing)
    assert before.as_of == NOW
    assert before.total == sum(1 for row in generated if row.hukou_division.startswith("13"))
    hebei = [row for row in generated if row.hukou_division.startswith("130623")]
    open_case = next(row for row in hebei if row.completed_at is None)
    with time_machine.travel(NOW, tick=False):
        cases.set_status(open_case, "登记成功")  # a decision
    session.commit()
    after = _province_and_counties_agree(session, timing)
    assert after.registered == before.registered + 1
    assert after.in_progress == before.in_progress - 1
    assert after.processing["completed"] == before.processing["completed"] + 1

    session.delete(hebei[0])  # a case removed
    moved = hebei[1]
    moved.hukou_division = next(row.hukou_division for row in generated if row.hukou_division.startswith("11"))
    session.commit()
    assert _province_and_counties_agree(session, timing).total == before.total - 2
    assert statistics.summarize(session, "11", statistics.Filters(), timing).total == \
        sum(1 for row in generated if row.hukou_division.startswith("11"))  # the moved case counts in 北京 now
    assert statistics.summarize(session, "11", statistics.Filters(), timing).live is False


def test_a_tally_that_cannot_serve_now_is_counted_live_until_the_tick_rebuilds_it(session, generated):
    timing = statistics.timing_for(session, LIMIT, NOW)
    statistics.configure(LIMIT)
    # The next day, open cases submitted a day later are overdue: yesterday's tally no longer says so.
    next_day = statistics.timing_for(session, LIMIT, NOW + timedelta(days=1))
    province = _province_and_counties_agree(session, next_day, expect_live=True)
    assert province.as_of is None
    assert province.processing["overdue"] >= statistics.summarize(
        session, "13", statistics.Filters(), timing).processing["overdue"]
    # Another promised limit, or no tally at all: live as well.
    _province_and_counties_agree(session, statistics.timing_for(session, LIMIT + 1, NOW), expect_live=True)
    assert statistics.keep_fresh(session, NOW) is None  # today's tally serves: nothing to do
    assert statistics.keep_fresh(session, NOW + timedelta(days=1)) == len(generated)
    session.commit()
    assert _province_and_counties_agree(session, next_day).as_of == NOW + timedelta(days=1)
    session.execute(delete(statistics.TallySnapshotModel))
    session.execute(delete(statistics.CaseTallyModel))
    session.commit()
    assert _province_and_counties_agree(session, timing, expect_live=True).total == \
        sum(1 for row in generated if row.hukou_division.startswith("13"))


@pytest.mark.parametrize(("start", "end", "case_type", "message"), [
    ("2026-13", None, None, "起始月份应为 YYYY-MM 格式的月份"),
    ("2026-1", None, None, "起始月份应为 YYYY-MM 格式的月份"),
    (None, "abcdefg", None, "截止月份应为 YYYY-MM 格式的月份"),
    ("2026-05", "2026-04", None, "起始月份不能晚于截止月份"),
    (None, None, "fourth_child", "未知的申请类型：fourth_child"),
])
def test_bad_filters_are_refused_in_chinese(start, end, case_type, message):
    with pytest.raises(statistics.StatisticsError, match=message):
        statistics.Filters.parse(start, end, case_type)


def test_unknown_divisions_are_refused(session):
    timing = statistics.timing_for(session, LIMIT, NOW)
    for code in ("99", "1199", "110101001001", "abc", ""):
        with pytest.raises(statistics.StatisticsError, match="未找到区划代码"):
            statistics.summarize(session, code, statistics.Filters(), timing)


def test_nearest_rank_percentiles():
    assert statistics.nearest_rank({}, 0.5) is None
    assert statistics.nearest_rank({3: 1}, 0.9) == 3
    assert statistics.nearest_rank({1: 5, 2: 5}, 0.5) == 1
    assert statistics.nearest_rank({1: 5, 2: 5}, 0.9) == 2
    assert statistics.nearest_rank({0: 1, 1: 8, 9: 1}, 0.9) == 1


def test_a_case_completed_by_its_status_is_counted_with_its_working_days(session):
    """Submitted on a Thursday, decided on the Saturday after: one working day taken, yet late under a one-day
    limit (the deadline was the end of Friday); the township page counts both at once, without a refresh."""
    village = synthetic.villages_in(session, "110101001")[0]
    thursday = datetime(2026, 11, 19, 2, 0, tzinfo=UTC)
    synthetic.generate(session, 1, [village], start=thursday, end=thursday + timedelta(seconds=1),
                       calendar=load_calendar(session), now=thursday, seed=1)
    case = session.scalars(select(CaseModel).where(CaseModel.hukou_division == village)).one()
    assert case.completed_at is None
    saturday = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    with time_machine.travel(saturday, tick=False):
        cases.set_status(case, "登记成功")
    session.flush()
    assert (case.completed_at, case.processing_days, case.on_time_within) == (saturday, 1, 2)
    township = statistics.summarize(session, "110101001", statistics.Filters(),
                                    statistics.timing_for(session, 1, saturday))
    assert township.processing["histogram"] == {1: 1}
    assert township.processing["overdue"] == sum(child["overdue"] for child in township.children) == 1
    assert statistics.summarize(session, "110101001", statistics.Filters(),
                                statistics.timing_for(session, 2, saturday)).processing["overdue"] == 0
