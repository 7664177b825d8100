"""Tests of the holiday import."""

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.calendar import HolidayModel, load_calendar
from services.holidays import DEFAULT_HOLIDAYS, import_holidays

# 2025: 28 days off and 5 adjusted workdays; 2026: 33 days off and 6 adjusted workdays.
SHIPPED_ROWS = 72


@pytest.fixture
def session(memory_session) -> Iterator[Session]:
    with memory_session(HolidayModel) as session:
        yield session


def holiday_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(HolidayModel))


def test_import_shipped_file(session: Session) -> None:
    assert import_holidays(session, DEFAULT_HOLIDAYS) == SHIPPED_ROWS
    session.commit()
    assert holiday_count(session) == SHIPPED_ROWS
    workday = session.get(HolidayModel, date(2026, 10, 10))
    assert workday is not None
    assert workday.is_workday
    assert workday.name == "国庆节调休上班"
    spring_festival = session.get(HolidayModel, date(2026, 2, 17))
    assert spring_festival is not None
    assert not spring_festival.is_workday
    assert spring_festival.name == "春节"
    assert session.scalar(select(func.count()).where(HolidayModel.is_workday)) == 11


def test_shipped_file_drives_the_calendar(session: Session) -> None:
    import_holidays(session, DEFAULT_HOLIDAYS)
    calendar = load_calendar(session)
    assert not calendar.is_working_day(date(2026, 10, 7))
    assert calendar.is_working_day(date(2026, 10, 10))
    assert calendar.is_working_day(date(2025, 1, 26))  # Sunday, 春节调休上班
    assert not calendar.is_working_day(date(2025, 10, 8))


def test_reimport_is_idempotent(session: Session) -> None:
    import_holidays(session, DEFAULT_HOLIDAYS)
    session.commit()
    assert import_holidays(session, DEFAULT_HOLIDAYS) == SHIPPED_ROWS
    session.commit()
    assert holiday_count(session) == SHIPPED_ROWS


def test_reimport_replaces_an_existing_day(session: Session, tmp_path: Path) -> None:
    session.add(HolidayModel(day=date(2026, 10, 10), is_workday=False, name="旧数据"))
    session.commit()
    path = tmp_path / "holidays.csv"
    path.write_text("date,is_workday,name\n2026-10-10,1,国庆节调休上班\n", encoding="utf-8")
    assert import_holidays(session, path) == 1
    session.commit()
    session.expire_all()
    holiday = session.get(HolidayModel, date(2026, 10, 10))
    assert holiday is not None
    assert holiday.is_workday
    assert holiday.name == "国庆节调休上班"
    assert holiday_count(session) == 1


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        ("2026-02-30,0,春节", "日期"),
        ("2026/02/20,0,春节", "日期"),
        ("2026-02-20,2,春节", "is_workday"),
        ("2026-02-20,0,", "名称"),
        ("2026-02-20,0", "列"),
        ("2026-01-01,0,元旦", "重复"),
    ],
)
def test_bad_row_raises_with_line_number_and_writes_nothing(
    session: Session, tmp_path: Path, bad_row: str, problem: str
) -> None:
    path = tmp_path / "holidays.csv"
    path.write_text(
        f"date,is_workday,name\n2026-01-01,0,元旦\n2026-01-04,1,元旦调休上班\n{bad_row}\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=f"第 4 行.*{problem}"):
        import_holidays(session, path)
    assert holiday_count(session) == 0


def test_wrong_header_is_rejected(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "holidays.csv"
    path.write_text("day,workday,name\n2026-01-01,0,元旦\n", encoding="utf-8")
    with pytest.raises(ValueError, match="第 1 行"):
        import_holidays(session, path)
    assert holiday_count(session) == 0


def test_byte_order_mark_is_accepted(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "holidays.csv"
    path.write_text("date,is_workday,name\n2026-01-01,0,元旦\n", encoding="utf-8-sig")
    assert import_holidays(session, path) == 1
