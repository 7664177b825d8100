"""China's public holidays and adjusted working days (调休) in the work calendar: the shipped file, the days the
system administrator enters or imports from the State Council's notice, and how far ahead the table reaches.

Past the last year with entries the calendar counts Monday to Friday as working days, so a deadline there is only
provisional (`is_provisional`), and administrators are warned `WARNING_DAYS` before the table runs out.
"""

import csv
import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import delete, extract, func, select
from sqlalchemy.orm import Session

from engine.calendar import CST, HolidayModel, china_today
from services import audit

log = logging.getLogger(__name__)

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
        raise ValueError(f"第 {line} 行：日期「{raw_day}」无效，应为 YYYY-MM-DD 格式的有效日期") from None
    # fromisoformat also accepts compact forms such as 20260101; the file format is the dashed one only.
    if raw_day != day.isoformat():
        raise ValueError(f"第 {line} 行：日期「{raw_day}」应为 YYYY-MM-DD 格式")
    if raw_workday not in ("0", "1"):
        raise ValueError(f"第 {line} 行：is_workday 应为 0（放假）或 1（调休上班），实际为「{raw_workday}」")
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
            raise ValueError(f"第 1 行：表头应为「{','.join(HEADER)}」")
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


# -- how far the table reaches ---------------------------------------------------------------------------------------

WARNING_DAYS = 60
# The years an administrator may enter: the calendar's timers never look further ahead than a few years.
MIN_YEAR, MAX_YEAR = 2000, 2099
WEEKDAYS = "一二三四五六日"
MARKS = {"休": False, "班": True}
NOTICE_MAX_ROWS = 400


def covered_until(session: Session) -> date | None:
    """Return the last day the table covers (31 December of the last year with entries), or None if it is empty."""
    last = session.scalar(select(func.max(HolidayModel.day)))
    return None if last is None else date(last.year, 12, 31)


def is_provisional(deadline: datetime, until: date | None) -> bool:
    """Return whether a deadline (aware UTC) falls past `until`, so it was counted as Monday to Friday only."""
    return until is None or deadline.astimezone(CST).date() > until


def table_warning(session: Session, today: date | None = None) -> str | None:
    """Return the warning administrators see when the table runs out within `WARNING_DAYS`, else None."""
    until = covered_until(session)
    today = today or china_today()
    if until is None:
        return "节假日表为空：工作日期限暂按周一至周五计算，请录入法定节假日和调休安排"
    days_left = (until - today).days
    if days_left > WARNING_DAYS:
        return None
    if days_left < 0:
        return (f"节假日表只录入到 {until.year} 年，已过期 {-days_left} 天：工作日期限暂按周一至周五计算，"
                f"请录入 {today.year} 年及以后的法定节假日和调休安排")
    return (f"节假日表只录入到 {until.year} 年（还剩 {days_left} 天）：此后的工作日期限将暂按周一至周五计算，"
            f"请及时录入 {until.year + 1} 年的法定节假日和调休安排")


# The China day the warning was last logged on, so each process logs it once a day.
_logged: dict[str, date] = {}


def log_table_warning(session: Session, today: date | None = None) -> str | None:
    """Log the table warning (at most once a day per process, as the tick runs every minute) and return it."""
    today = today or china_today()
    warning = table_warning(session, today)
    if warning and _logged.get("day") != today:
        log.warning("%s", warning)
        _logged["day"] = today
    return warning


# -- entering a year -------------------------------------------------------------------------------------------------


class HolidayProblems(ValueError):
    """Days that cannot be entered; `problems` lists each reason in Chinese."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("；".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class HolidayEntry:
    """One day as the administrator gives it; `where` says where it came from in messages (e.g. "第 3 行：")."""

    day: date
    is_workday: bool
    name: str
    where: str = ""


def describe(day: date) -> str:
    """Return a day as shown in messages, e.g. 2027-05-01（星期六）."""
    return f"{day.isoformat()}（星期{WEEKDAYS[day.weekday()]}）"


def years(session: Session) -> list[tuple[int, int, int]]:
    """Return (year, days off, adjusted workdays) for every year with entries, newest first."""
    year = extract("year", HolidayModel.day)
    rows = session.execute(select(year, HolidayModel.is_workday, func.count()).group_by(year, HolidayModel.is_workday))
    counts: dict[int, list[int]] = {}
    for value, is_workday, count in rows:
        counts.setdefault(int(value), [0, 0])[1 if is_workday else 0] += count
    return [(value, off, work) for value, (off, work) in sorted(counts.items(), reverse=True)]


def year_days(session: Session, year: int) -> list[HolidayModel]:
    """Return the entries of one year in date order."""
    return list(session.scalars(select(HolidayModel).where(HolidayModel.day.between(date(year, 1, 1),
                                                                                     date(year, 12, 31)))
                                .order_by(HolidayModel.day)))


def _problems(entries: list[HolidayEntry], others: Iterable[HolidayEntry]) -> list[str]:
    """Check `entries` against the rules of a State Council notice, alongside the `others` kept in the same years.

    A 班 day must fall on a weekend (a weekday is a working day anyway). A 休 day on a weekend changes nothing by
    itself, so it is accepted only as part of a named holiday that also gives weekdays off; a lone one is a typo.
    """
    problems = []
    holidays_with_weekdays = {(e.day.year, e.name) for e in [*entries, *others]
                              if not e.is_workday and e.day.weekday() < 5}
    seen: dict[date, str] = {}
    for entry in entries:
        where, day = entry.where, entry.day
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            problems.append(f"{where}日期 {day.isoformat()} 超出可录入的年份（{MIN_YEAR}–{MAX_YEAR} 年）")
            continue
        if day in seen:
            problems.append(f"{where}日期 {day.isoformat()} 重复（{seen[day] or '已录入'}）")
            continue
        seen[day] = entry.where.rstrip("：")
        if not entry.name:
            problems.append(f"{where}{describe(day)} 缺少节日名称")
        elif len(entry.name) > NAME_MAX_LENGTH:
            problems.append(f"{where}名称超过 {NAME_MAX_LENGTH} 个字符")
        if entry.is_workday and day.weekday() < 5:
            problems.append(f"{where}{describe(day)} 本来就是工作日，不能标为「班」：调休上班日只能是周六或周日")
        elif not entry.is_workday and day.weekday() >= 5 and entry.name \
                and (day.year, entry.name) not in holidays_with_weekdays:
            problems.append(f"{where}{describe(day)} 本来就是休息日；周末的「休」只能作为某个假期的一部分录入，"
                            f"但「{entry.name}」在 {day.year} 年没有工作日放假的日期，请先录入这些日期或核对名称")
    return problems


def _as_entry(holiday: HolidayModel) -> HolidayEntry:
    return HolidayEntry(day=holiday.day, is_workday=holiday.is_workday, name=holiday.name)


def add_day(session: Session, entry: HolidayEntry, actor: str) -> HolidayModel:
    """Enter one day (audited, flush only), or raise HolidayProblems saying why it cannot be entered."""
    if session.get(HolidayModel, entry.day) is not None:
        raise HolidayProblems([f"{describe(entry.day)} 已录入；如需修改，请先删除原记录"])
    stored = year_days(session, entry.day.year) if MIN_YEAR <= entry.day.year <= MAX_YEAR else []
    problems = _problems([entry], [_as_entry(holiday) for holiday in stored])
    if problems:
        raise HolidayProblems(problems)
    holiday = HolidayModel(day=entry.day, is_workday=entry.is_workday, name=entry.name)
    session.add(holiday)
    audit.record(session, actor, "holiday_added", day=entry.day.isoformat(), is_workday=entry.is_workday,
                 name=entry.name)
    return holiday


def remove_day(session: Session, day: date, actor: str) -> HolidayModel | None:
    """Remove one day's entry (audited, flush only); return it, or None if there was none."""
    holiday = session.get(HolidayModel, day)
    if holiday is None:
        return None
    session.delete(holiday)
    audit.record(session, actor, "holiday_removed", day=day.isoformat(), is_workday=holiday.is_workday,
                 name=holiday.name)
    return holiday


_NOTICE_DATE = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?")
NOTICE_HEADERS = {"日期", "date"}


def _decode(data: bytes) -> str:
    """Decode an uploaded CSV: UTF-8 (with or without Excel's byte order mark), else GB18030 as Excel saves in China."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise HolidayProblems(["文件编码无法识别，请另存为 UTF-8 编码的 CSV 文件"]) from None


def parse_notice(data: bytes) -> list[HolidayEntry]:
    """Read a notice CSV (`日期,休/班,名称`, header optional) into entries, or raise HolidayProblems listing every
    bad row."""
    entries, problems = [], []
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    for fields in reader:
        line = reader.line_num
        cells = [field.strip() for field in fields]
        if not any(cells):
            continue
        if line == 1 and cells[0].lower() in NOTICE_HEADERS:
            continue
        where = f"第 {line} 行："
        if len(cells) != 3:
            problems.append(f"{where}应有 3 列（日期,休/班,名称），实际为 {len(cells)} 列")
            continue
        raw_day, mark, name = cells
        match = _NOTICE_DATE.fullmatch(raw_day)
        try:
            day = date(*(int(part) for part in match.groups())) if match else None
        except ValueError:
            day = None
        if day is None:
            problems.append(f"{where}日期「{raw_day}」无效，应为 2027-01-01 这样的日期")
            continue
        if mark not in MARKS:
            problems.append(f"{where}第 2 列应为「休」（放假）或「班」（调休上班），实际为「{mark}」")
            continue
        entries.append(HolidayEntry(day=day, is_workday=MARKS[mark], name=name, where=where))
        if len(entries) > NOTICE_MAX_ROWS:
            raise HolidayProblems([f"文件超过 {NOTICE_MAX_ROWS} 行，请按年份分别导入"])
    if problems:
        raise HolidayProblems(problems)
    if not entries:
        raise HolidayProblems(["文件中没有日期"])
    return entries


def import_notice(session: Session, data: bytes, actor: str) -> tuple[list[int], int]:
    """Replace the years a notice CSV covers with its days, all or nothing (audited, flush only).

    Return the years and the number of days written, or raise HolidayProblems listing every problem (nothing is
    written then). A notice lists a whole year, so days of those years missing from the file are removed.
    """
    entries = parse_notice(data)
    problems = _problems(entries, [])
    if problems:
        raise HolidayProblems(problems)
    covered = sorted({entry.day.year for entry in entries})
    for year in covered:
        session.execute(delete(HolidayModel).where(HolidayModel.day.between(date(year, 1, 1), date(year, 12, 31))))
    session.add_all(HolidayModel(day=e.day, is_workday=e.is_workday, name=e.name) for e in entries)
    audit.record(session, actor, "holidays_imported", years=covered, days=len(entries))
    session.flush()
    return covered, len(entries)
