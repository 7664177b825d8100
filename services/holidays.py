"""Import China's public holidays and adjusted working days into the work calendar."""

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import HolidayModel

DEFAULT_HOLIDAYS = Path(__file__).parent / "data" / "holidays_cn.csv"

HEADER = ["date", "is_workday", "name"]
NAME_MAX_LENGTH = 50


@dataclass(frozen=True)
class _HolidayRow:
    line: int
    day: date
    is_workday: bool
    name: str


def _parse_row(line: int, fields: list[str]) -> _HolidayRow:
    """Validate one data row and return it, or raise ValueError naming the line and the problem."""
    if len(fields) != len(HEADER):
        raise ValueError(f"第 {line} 行：应有 {len(HEADER)} 列，实际为 {len(fields)} 列")
    raw_day, raw_workday, name = (field.strip() for field in fields)
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        raise ValueError(f"第 {line} 行：日期“{raw_day}”无效，应为 YYYY-MM-DD 格式的有效日期") from None
    # fromisoformat also accepts compact forms such as 20260101; the file format is the dashed one only.
    if raw_day != day.isoformat():
        raise ValueError(f"第 {line} 行：日期“{raw_day}”应为 YYYY-MM-DD 格式")
    if raw_workday not in ("0", "1"):
        raise ValueError(f"第 {line} 行：is_workday 应为 0（放假）或 1（调休上班），实际为“{raw_workday}”")
    if not name:
        raise ValueError(f"第 {line} 行：名称不能为空")
    if len(name) > NAME_MAX_LENGTH:
        raise ValueError(f"第 {line} 行：名称超过 {NAME_MAX_LENGTH} 个字符")
    return _HolidayRow(line=line, day=day, is_workday=raw_workday == "1", name=name)


def _read_holidays(path: Path) -> list[_HolidayRow]:
    """Read and validate the whole file before anything is written."""
    # utf-8-sig: files saved from Excel start with a byte order mark.
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None or [field.strip() for field in header] != HEADER:
            raise ValueError(f"第 1 行：表头应为“{','.join(HEADER)}”")
        rows: list[_HolidayRow] = []
        seen: dict[date, int] = {}
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            row = _parse_row(reader.line_num, fields)
            if row.day in seen:
                raise ValueError(f"第 {row.line} 行：日期 {row.day.isoformat()} 与第 {seen[row.day]} 行重复")
            seen[row.day] = row.line
            rows.append(row)
    return rows


def import_holidays(session: Session, path: Path | str = DEFAULT_HOLIDAYS) -> int:
    """Upsert the holidays of a `date,is_workday,name` CSV file by day and return the number of rows read.

    Every row is validated first, so a bad file writes nothing. The session is flushed, not committed.
    """
    rows = _read_holidays(Path(path))
    if not rows:
        return 0
    existing = {
        holiday.day: holiday
        for holiday in session.scalars(select(HolidayModel).where(HolidayModel.day.in_([row.day for row in rows])))
    }
    for row in rows:
        holiday = existing.get(row.day)
        if holiday is None:
            session.add(HolidayModel(day=row.day, is_workday=row.is_workday, name=row.name))
        else:
            holiday.is_workday = row.is_workday
            holiday.name = row.name
    session.flush()
    return len(rows)
