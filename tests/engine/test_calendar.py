"""Tests of the work calendar and of deadlines counted in working days."""

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from engine.calendar import CST, HolidayModel, WorkCalendar, load_calendar
from engine.errors import BudgetExceeded
from tests.engine.budget_attacks import QUICK, within

# The 2026 National Day holiday as announced by the State Council (国办发明电〔2025〕7号).
NATIONAL_DAY_2026 = {date(2026, 10, day): False for day in range(1, 8)} | {
    date(2026, 9, 20): True,
    date(2026, 10, 10): True,
}


def end_of_day_cst(d: date) -> datetime:
    """Return the last microsecond of a day in China, in UTC."""
    return datetime(d.year, d.month, d.day, 23, 59, 59, 999999, tzinfo=CST).astimezone(UTC)


@pytest.fixture
def session(memory_session) -> Iterator[Session]:
    with memory_session(HolidayModel) as session:
        yield session


def test_weekdays_are_working_days_without_overrides() -> None:
    calendar = WorkCalendar()
    assert calendar.is_working_day(date(2026, 3, 6))  # Friday
    assert not calendar.is_working_day(date(2026, 3, 7))  # Saturday
    assert not calendar.is_working_day(date(2026, 3, 8))  # Sunday


def test_friday_start_plus_one_working_day_is_monday_end_of_day() -> None:
    start = datetime(2026, 3, 6, 10, 0, tzinfo=CST)  # Friday
    due = WorkCalendar().deadline(start, 1)
    assert due == end_of_day_cst(date(2026, 3, 9))
    assert due.tzinfo is UTC
    assert due.astimezone(CST).date() == date(2026, 3, 9)
    assert due.astimezone(CST) + timedelta(microseconds=1) == datetime(2026, 3, 10, tzinfo=CST)


def test_saturday_start_counts_from_monday() -> None:
    calendar = WorkCalendar()
    start = datetime(2026, 3, 7, 9, 0, tzinfo=CST)  # Saturday
    assert calendar.deadline(start, 1) == end_of_day_cst(date(2026, 3, 9))
    assert calendar.deadline(start, 5) == end_of_day_cst(date(2026, 3, 13))


def test_national_day_holiday_pushes_the_deadline_past_it() -> None:
    calendar = WorkCalendar(NATIONAL_DAY_2026)
    start = datetime(2026, 9, 29, 15, 0, tzinfo=CST)  # Tuesday
    # Sep 30 is the only working day before the holiday; Oct 8 (Thursday) is the first one after it.
    assert calendar.deadline(start, 1) == end_of_day_cst(date(2026, 9, 30))
    assert calendar.deadline(start, 2) == end_of_day_cst(date(2026, 10, 8))
    assert calendar.deadline(start, 3) == end_of_day_cst(date(2026, 10, 9))


def test_adjusted_saturday_workday_counts() -> None:
    calendar = WorkCalendar(NATIONAL_DAY_2026)
    assert calendar.is_working_day(date(2026, 10, 10))  # Saturday, 调休上班
    start = datetime(2026, 10, 9, 11, 0, tzinfo=CST)  # Friday
    assert calendar.deadline(start, 1) == end_of_day_cst(date(2026, 10, 10))
    assert calendar.deadline(start, 2) == end_of_day_cst(date(2026, 10, 12))


def test_adjusted_sunday_workday_counts() -> None:
    calendar = WorkCalendar(NATIONAL_DAY_2026)
    start = datetime(2026, 9, 19, 8, 0, tzinfo=CST)  # Saturday
    assert calendar.deadline(start, 1) == end_of_day_cst(date(2026, 9, 20))


def test_start_date_is_taken_in_china_standard_time() -> None:
    calendar = WorkCalendar()
    # 17:00 UTC on Monday 2 March is 01:00 on Tuesday 3 March in China.
    late_utc = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
    assert calendar.deadline(late_utc, 1) == end_of_day_cst(date(2026, 3, 4))
    # 15:59 UTC is still Monday in China.
    early_utc = datetime(2026, 3, 2, 15, 59, tzinfo=UTC)
    assert calendar.deadline(early_utc, 1) == end_of_day_cst(date(2026, 3, 3))


def test_naive_start_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        WorkCalendar().deadline(datetime(2026, 3, 2, 9, 0), 1)  # noqa: DTZ001 - the naive datetime under test


@pytest.mark.parametrize("working_days", [0, -1])
def test_working_days_must_be_positive(working_days: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        WorkCalendar().deadline(datetime(2026, 3, 2, 9, 0, tzinfo=CST), working_days)


def test_load_calendar_reads_the_holiday_table(session: Session) -> None:
    session.add_all(
        [
            HolidayModel(day=day, is_workday=is_workday, name="国庆节调休上班" if is_workday else "国庆节")
            for day, is_workday in NATIONAL_DAY_2026.items()
        ]
    )
    session.commit()
    calendar = load_calendar(session)
    assert not calendar.is_working_day(date(2026, 10, 1))  # Thursday, holiday
    assert calendar.is_working_day(date(2026, 10, 10))  # Saturday, adjusted workday
    assert calendar.is_working_day(date(2026, 10, 8))  # Thursday, no override
    start = datetime(2026, 9, 30, 9, 0, tzinfo=CST)
    assert calendar.deadline(start, 1) == end_of_day_cst(date(2026, 10, 8))


def test_load_calendar_from_an_empty_table(session: Session) -> None:
    calendar = load_calendar(session)
    assert calendar.is_working_day(date(2026, 10, 1))


START = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)

# -- bounded: at most ten years ahead -------------------------------------------------------------------------------


def test_working_days_beyond_ten_years_are_refused_without_walking_them():
    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="超过 10 年"):
        within(QUICK, lambda: WorkCalendar().deadline(START, 10**12))
    with pytest.raises(BudgetExceeded, match="超过 10 年"):
        within(QUICK, lambda: WorkCalendar().deadline(START, 2700))  # more working days than ten years hold
    assert time.monotonic() - started < 0.5


def test_a_calendar_of_holidays_only_never_walks_past_ten_years():
    # A holiday table that (wrongly) marks every day off: no deadline exists, and the walk still ends.
    every_day = {START.date() + timedelta(days=n): False for n in range(4000)}
    with pytest.raises(BudgetExceeded, match="超过 10 年"):
        within(QUICK, lambda: WorkCalendar(every_day).deadline(START, 1))
