"""Registration statistics for officials: counts by division, type, status, age band, ethnicity and month, and
processing times, for one division (the official's own, or one inside it) with a month range and type filter.

Every figure is counted by the case's household-registration division (户籍地, `hukou_division`) and by the China
month of its submission.

Where the numbers come from:

- A county or township (and a village) is read live from `birth_case`: the cases of one county are few enough
  (thousands; tens of thousands at ten million cases) to fetch through the hukou_division index and tally here.
- A province or a city is read from `case_tally`, a pre-aggregated table with one row per county, month, case
  type, dimension and value (see `refresh`). Its size is bounded by counties x months x values, not by the
  number of cases, so its queries take as long at ten million cases as at one. It is a snapshot: `flask stats
  refresh` rebuilds it (cron it, e.g. hourly); pages served from it say when it was taken. A plain table rather
  than a PostgreSQL materialized view, so the embedded SQLite default works the same way.

Both paths derive each case's values with the same function (`_case_values`), so they cannot disagree.

Processing time is counted in working days (engine.calendar.WorkCalendar): the working days after the submission
date up to and including the completion date (0 = done on the day it came in), for cases with `completed_at`.
A case is overdue when it was completed, or is still open, after the promised limit: the end of the Nth working day
after its submission date (WorkCalendar.deadline), N = STATS_LIMIT_DAYS (default 3). Median and p90 are
nearest-rank percentiles of the working days of the completed cases.
"""

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, SmallInteger, String, and_, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.calendar import CST, WorkCalendar, load_calendar
from engine.db import Base, UTCDateTime, utcnow
from services import divisions
from services.cases import CASE_TYPES, CaseModel
from services.codes import ETHNICITIES

DEFAULT_LIMIT_DAYS = 3
COUNTY_LENGTH = 6
# Scopes whose code is at least this long are counted live from the cases; shorter ones from the tally.
LIVE_FROM_LENGTH = COUNTY_LENGTH
BATCH_SIZE = 5000

STATUSES = ("办理中", "核实有误", "待现场确认", "登记成功", "不予登记", "已批准", "不予批准")
UNKNOWN = ""
UNKNOWN_LABEL = "未填写"
# (key, lowest age, highest age, label): the same bands for mothers and fathers.
AGE_BANDS = (
    ("-19", 0, 19, "19岁及以下"), ("20-24", 20, 24, "20–24岁"), ("25-29", 25, 29, "25–29岁"),
    ("30-34", 30, 34, "30–34岁"), ("35-39", 35, 39, "35–39岁"), ("40-44", 40, 44, "40–44岁"),
    ("45-", 45, 200, "45岁及以上"),
)
AGE_BAND_LABELS = {key: label for key, _, _, label in AGE_BANDS}

# The dimensions tallied for every case; "days" only for completed ones.
DIMENSIONS = ("status", "mother_age", "father_age", "mother_ethnicity", "father_ethnicity", "days", "overdue")


class StatisticsError(ValueError):
    """A filter or division that cannot be counted; the message is shown to the user."""


class CaseTallyModel(Base):
    """Pre-aggregated case counts: one row per hukou county, submission month, case type, dimension and value."""

    __tablename__ = "case_tally"

    # The key starts with the dimension: every figure reads one dimension over a range of counties.
    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    county: Mapped[str] = mapped_column(String(6), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM, China time
    case_type: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(30), primary_key=True)
    cases: Mapped[int] = mapped_column(Integer)


class TallySnapshotModel(Base):
    """When `case_tally` was last rebuilt, over how many cases, with which promised limit (one row)."""

    __tablename__ = "case_tally_snapshot"

    id: Mapped[int] = mapped_column(primary_key=True)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    limit_days: Mapped[int] = mapped_column(SmallInteger)
    cases: Mapped[int] = mapped_column(Integer)


# -- what each case counts as -------------------------------------------------------------------------------------


def age_band(age: int | None) -> str:
    """Return the key of the age band of `age` (UNKNOWN when missing)."""
    if age is None:
        return UNKNOWN
    return next((key for key, low, high, _ in AGE_BANDS if low <= age <= high), UNKNOWN)


def month_of(moment: datetime) -> str:
    """Return the China month (YYYY-MM) of an aware timestamp."""
    return moment.astimezone(CST).strftime("%Y-%m")


class Timing:
    """Working days taken and the overdue rule, with the calendar's answers cached by day."""

    def __init__(self, calendar: WorkCalendar, limit_days: int, now: datetime):
        if limit_days < 1:
            raise StatisticsError("承诺办理时限应至少为 1 个工作日")
        self.calendar, self.limit_days, self.now = calendar, limit_days, now
        self._origin = date(2000, 1, 1)
        self._cumulative = [0]  # working days in (origin, origin + i]
        self._deadlines: dict[date, datetime] = {}

    def _ordinal(self, day: date) -> int:
        index = (day - self._origin).days
        if index < 0:
            raise StatisticsError("不支持 2000 年以前的日期")
        while len(self._cumulative) <= index:
            next_day = self._origin + timedelta(days=len(self._cumulative))
            self._cumulative.append(self._cumulative[-1] + self.calendar.is_working_day(next_day))
        return self._cumulative[index]

    def working_days(self, start: datetime, end: datetime) -> int:
        """Return the working days after `start`'s China date up to and including `end`'s."""
        return max(self._ordinal(end.astimezone(CST).date()) - self._ordinal(start.astimezone(CST).date()), 0)

    def overdue(self, submitted_at: datetime, completed_at: datetime | None) -> bool:
        """Return whether a case was completed (or is still open now) after its promised limit."""
        day = submitted_at.astimezone(CST).date()
        deadline = self._deadlines.get(day)
        if deadline is None:
            deadline = self._deadlines[day] = self.calendar.deadline(submitted_at, self.limit_days)
        return (completed_at or self.now) > deadline


def timing_for(session: Session, limit_days: int = DEFAULT_LIMIT_DAYS, now: datetime | None = None) -> Timing:
    """Return the Timing of the holiday table in the database, as of `now`."""
    return Timing(load_calendar(session), limit_days, now or utcnow())


CASE_COLUMNS = (CaseModel.hukou_division, CaseModel.case_type, CaseModel.status, CaseModel.submitted_at,
                CaseModel.completed_at, CaseModel.mother_age, CaseModel.father_age, CaseModel.mother_ethnicity,
                CaseModel.father_ethnicity)


def _case_values(row: Any, timing: Timing) -> Iterator[tuple[str, str]]:
    """Yield (dimension, value) for one case row of CASE_COLUMNS: the one place a case's values are derived."""
    yield "status", row.status
    yield "mother_age", age_band(row.mother_age)
    yield "father_age", age_band(row.father_age)
    yield "mother_ethnicity", row.mother_ethnicity or UNKNOWN
    yield "father_ethnicity", row.father_ethnicity or UNKNOWN
    if row.completed_at is not None:
        yield "days", str(timing.working_days(row.submitted_at, row.completed_at))
    yield "overdue", "1" if timing.overdue(row.submitted_at, row.completed_at) else "0"


def tally_rows(rows: Iterable[Any], timing: Timing, group_length: int) -> Counter:
    """Count case rows by (division prefix of `group_length`, month, case type, dimension, value)."""
    counts: Counter = Counter()
    for row in rows:
        group, month = row.hukou_division[:group_length], month_of(row.submitted_at)
        for dimension, value in _case_values(row, timing):
            counts[group, month, row.case_type, dimension, value] += 1
    return counts


# -- the pre-aggregated tally -------------------------------------------------------------------------------------


def refresh(session: Session, timing: Timing) -> int:
    """Rebuild `case_tally` from every case as of `timing.now` and return the number of cases counted.

    One transaction: readers see the previous snapshot until it commits. Flushed, not committed.
    """
    count = 0

    def counted_rows() -> Iterator[Any]:
        nonlocal count
        for row in session.execute(select(*CASE_COLUMNS).execution_options(yield_per=BATCH_SIZE)):
            count += 1
            yield row

    counts = tally_rows(counted_rows(), timing, COUNTY_LENGTH)
    session.execute(delete(CaseTallyModel))
    batch: list[dict[str, Any]] = []
    for (county, month, case_type, dimension, value), cases in counts.items():
        batch.append({"county": county, "month": month, "case_type": case_type, "dimension": dimension,
                      "value": value, "cases": cases})
        if len(batch) >= BATCH_SIZE:
            session.execute(insert(CaseTallyModel), batch)
            batch = []
    if batch:
        session.execute(insert(CaseTallyModel), batch)
    snapshot = session.get(TallySnapshotModel, 1) or TallySnapshotModel(id=1)
    snapshot.refreshed_at, snapshot.limit_days, snapshot.cases = timing.now, timing.limit_days, count
    session.add(snapshot)
    session.flush()
    return count


def snapshot(session: Session) -> TallySnapshotModel | None:
    """Return when the tally was last rebuilt, or None if never."""
    return session.get(TallySnapshotModel, 1)


# -- filters and scope --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Submission months from `start` to `end` (YYYY-MM, both included, China time) and one case type, each optional."""

    start: str | None = None
    end: str | None = None
    case_type: str | None = None

    @classmethod
    def parse(cls, start: str | None, end: str | None, case_type: str | None) -> "Filters":
        """Check the raw filter values, raising StatisticsError with a message in Chinese."""
        start, end, case_type = (start or "").strip() or None, (end or "").strip() or None, case_type or None
        for name, value in (("起始月份", start), ("截止月份", end)):
            if value is not None and not _is_month(value):
                raise StatisticsError(f"{name}应为 YYYY-MM 格式的月份，如 2026-01")
        if start and end and start > end:
            raise StatisticsError("起始月份不能晚于截止月份")
        if case_type is not None and case_type not in CASE_TYPES:
            raise StatisticsError(f"未知的申请类型：{case_type[:30]}")
        return cls(start, end, case_type)

    def query_args(self) -> dict[str, str]:
        """Return the filters as URL query arguments."""
        args = {"from": self.start, "to": self.end, "type": self.case_type}
        return {key: value for key, value in args.items() if value}


def _is_month(value: str) -> bool:
    if len(value) != 7 or value[4] != "-" or not value.replace("-", "").isascii():
        return False
    try:
        datetime.strptime(value, "%Y-%m")  # noqa: DTZ007 - a month name, not a moment
    except ValueError:
        return False
    return 2000 <= int(value[:4]) <= 2999


def _month_start(month: str) -> datetime:
    year, number = int(month[:4]), int(month[5:])
    return datetime(year, number, 1, tzinfo=CST)


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def _prefix_range(column, prefix: str):
    """Return `column` starting with a digit prefix as a range (uses a btree index under any collation)."""
    following = str(int(prefix) + 1).zfill(len(prefix))
    if len(following) > len(prefix):
        return column >= prefix
    return and_(column >= prefix, column < following)


def child_length(code: str) -> int:
    """Return the code length of the divisions directly under `code`."""
    return divisions.CODE_LENGTHS[divisions.level_of(code) + 1]


# -- two sources of the same sums ---------------------------------------------------------------------------------

# What a sum can be grouped by: the child division, the month, the case type and the dimension's value.
GROUPINGS = ("group", "month", "case_type", "value")


class _TallySource:
    """Sums over the pre-aggregated tally (province and city scopes)."""

    def __init__(self, session: Session, code: str, filters: Filters):
        self.session, self.code, self.filters = session, code, filters
        self.group_length = child_length(code)

    def sums(self, dimension: str, by: tuple[str, ...]) -> dict[tuple, int]:
        table = CaseTallyModel
        columns = {"group": func.substr(table.county, 1, self.group_length), "month": table.month,
                   "case_type": table.case_type, "value": table.value}
        chosen = [columns[name] for name in by]
        query = select(*chosen, func.sum(table.cases)).where(
            table.dimension == dimension, _prefix_range(table.county, self.code))
        if self.filters.start:
            query = query.where(table.month >= self.filters.start)
        if self.filters.end:
            query = query.where(table.month <= self.filters.end)
        if self.filters.case_type:
            query = query.where(table.case_type == self.filters.case_type)
        if chosen:
            query = query.group_by(*chosen)
        return {tuple(row[:-1]): int(row[-1]) for row in self.session.execute(query) if row[-1] is not None}


class _LiveSource:
    """Sums over the cases themselves, tallied here (county, township and village scopes)."""

    def __init__(self, session: Session, code: str, filters: Filters, timing: Timing):
        length = child_length(code) if len(code) < 12 else 12
        query = select(*CASE_COLUMNS).where(_prefix_range(CaseModel.hukou_division, code))
        if filters.start:
            query = query.where(CaseModel.submitted_at >= _month_start(filters.start))
        if filters.end:
            query = query.where(CaseModel.submitted_at < _month_start(_next_month(filters.end)))
        if filters.case_type:
            query = query.where(CaseModel.case_type == filters.case_type)
        self.counts = tally_rows(session.execute(query), timing, length)

    def sums(self, dimension: str, by: tuple[str, ...]) -> dict[tuple, int]:
        positions = [GROUPINGS.index(name) for name in by]
        result: Counter = Counter()
        for (group, month, case_type, counted, value), cases in self.counts.items():
            if counted == dimension:
                key = (group, month, case_type, value)
                result[tuple(key[position] for position in positions)] += cases
        return dict(result)


# -- the figures --------------------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One chart's numbers: a title, column headings and rows (label first), in display order."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    chart: str  # bar, donut, line, rank, or table

    def as_dict(self) -> dict[str, Any]:
        """Return the figure as plain JSON-ready data."""
        return {"key": self.key, "title": self.title, "columns": self.columns, "rows": self.rows}


@dataclass
class Summary:
    """Everything the dashboard shows for one scope and filter."""

    code: str
    name: str
    level: int
    path: list[tuple[str, str]]
    filters: Filters
    total: int
    children: list[dict[str, Any]]
    by_type: dict[str, int]
    by_status: dict[str, int]
    mother_age: dict[str, int]
    father_age: dict[str, int]
    mother_ethnicity: dict[str, int]
    father_ethnicity: dict[str, int]
    by_month: list[dict[str, Any]]
    processing: dict[str, Any]
    limit_days: int
    live: bool  # counted from the cases now, not from the tally
    as_of: datetime | None  # when the tally was rebuilt (None: live, or never rebuilt)
    figures: list[Figure] = field(default_factory=list)


def nearest_rank(histogram: dict[int, int], share: float) -> int | None:
    """Return the nearest-rank percentile (`share` of 0..1) of values counted in `histogram`, or None if empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank, seen = max(math.ceil(share * total), 1), 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    raise AssertionError("unreachable: the ranks add up to the total")


def _months_between(first: str, last: str) -> list[str]:
    months = [first]
    while months[-1] < last:
        months.append(_next_month(months[-1]))
    return months


def _single(sums: dict[tuple, int]) -> dict[str, int]:
    return {key[0]: value for key, value in sums.items()}


def summarize(session: Session, code: str, filters: Filters, timing: Timing) -> Summary:
    """Count the cases registered (by hukou) in division `code` that match `filters`.

    The caller has checked that the reader may see `code`; an unknown code raises StatisticsError.
    """
    path = divisions.path_of(session, code) if code.isascii() and code.isdigit() and len(code) in (2, 4, 6, 9) else []
    if not path:
        raise StatisticsError(f"未找到区划代码为 {code[:12]} 的省、市、县或乡镇（街道）")
    division = path[-1]
    live = len(code) >= LIVE_FROM_LENGTH
    source = _LiveSource(session, code, filters, timing) if live else _TallySource(session, code, filters)
    stamp = None if live else snapshot(session)
    limit_days = timing.limit_days if live or stamp is None else stamp.limit_days

    by_type = _single(source.sums("status", ("case_type",)))
    total = sum(by_type.values())
    by_group = _single(source.sums("status", ("group",)))
    overdue = source.sums("overdue", ("group", "value"))
    children = []
    for child in divisions.children(session, code):
        cases = by_group.get(child.code, 0)
        late = overdue.get((child.code, "1"), 0)
        children.append({"code": child.code, "name": child.name, "cases": cases, "overdue": late,
                         "overdue_share": late / cases if cases else None})
    by_month_type = source.sums("status", ("month", "case_type"))
    months = sorted({month for month, _ in by_month_type})
    if filters.start and filters.end:
        months = _months_between(filters.start, filters.end)
    elif months:
        months = _months_between(filters.start or months[0], filters.end or months[-1])
    by_month = [{"month": month, **{kind: by_month_type.get((month, kind), 0) for kind in CASE_TYPES},
                 "total": sum(by_month_type.get((month, kind), 0) for kind in CASE_TYPES)} for month in months]
    days = {int(value): cases for value, cases in _single(source.sums("days", ("value",))).items()}
    late_total = _single(source.sums("overdue", ("value",))).get("1", 0)
    processing = {
        "completed": sum(days.values()), "median_days": nearest_rank(days, 0.5), "p90_days": nearest_rank(days, 0.9),
        "overdue": late_total, "overdue_share": late_total / total if total else None,
        "histogram": dict(sorted(days.items())),
    }
    summary = Summary(
        code=code, name=division.name, level=division.level, path=[(d.code, d.name) for d in path], filters=filters,
        total=total, children=children, by_type={kind: by_type.get(kind, 0) for kind in CASE_TYPES},
        by_status=_ordered(_single(source.sums("status", ("value",))), STATUSES),
        mother_age=_ordered(_single(source.sums("mother_age", ("value",))), [key for key, *_ in AGE_BANDS]),
        father_age=_ordered(_single(source.sums("father_age", ("value",))), [key for key, *_ in AGE_BANDS]),
        mother_ethnicity=_by_count(_single(source.sums("mother_ethnicity", ("value",)))),
        father_ethnicity=_by_count(_single(source.sums("father_ethnicity", ("value",)))),
        by_month=by_month, processing=processing, limit_days=limit_days, live=live,
        as_of=None if stamp is None else stamp.refreshed_at,
    )
    summary.figures = figures(summary)
    return summary


def _ordered(counts: dict[str, int], order: Iterable[str]) -> dict[str, int]:
    """Return `counts` in the given order of keys (every listed key, zero if absent), others and unknown last."""
    order = list(order)
    result = {key: counts.get(key, 0) for key in order}
    for key in sorted(set(counts) - set(order) - {UNKNOWN}):
        result[key] = counts[key]
    if counts.get(UNKNOWN):
        result[UNKNOWN] = counts[UNKNOWN]
    return result


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (item[0] == UNKNOWN, -item[1], item[0])))


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "—"


def _labelled(counts: dict[str, int], labels: dict[str, str]) -> list[list[Any]]:
    whole = sum(counts.values())
    return [[labels.get(key, key) if key else UNKNOWN_LABEL, cases, _share(cases, whole)]
            for key, cases in counts.items()]


def figures(summary: Summary) -> list[Figure]:
    """Return the summary as the tables behind the dashboard's charts (also what the exports write)."""
    child_level = divisions.LEVEL_NAMES.get(summary.level + 1, "下级区划")
    ranked = sorted(summary.children, key=lambda child: (-child["cases"], child["code"]))
    processing = summary.processing
    return [
        Figure("divisions", f"按{child_level}统计登记数", [child_level, "区划代码", "登记数", "占比"],
               [[c["name"], c["code"], c["cases"], _share(c["cases"], summary.total)] for c in ranked], "rank"),
        Figure("types", "按登记类型统计", ["类型", "登记数", "占比"], _labelled(summary.by_type, CASE_TYPES), "donut"),
        Figure("statuses", "按办理状态统计", ["状态", "登记数", "占比"],
               _labelled(summary.by_status, {s: s for s in STATUSES}), "bar"),
        Figure("mother_age", "按女方年龄段统计", ["年龄段", "登记数", "占比"],
               _labelled(summary.mother_age, AGE_BAND_LABELS), "bar"),
        Figure("father_age", "按男方年龄段统计", ["年龄段", "登记数", "占比"],
               _labelled(summary.father_age, AGE_BAND_LABELS), "bar"),
        Figure("mother_ethnicity", "按女方民族统计（GB/T 3304）", ["民族", "登记数", "占比"],
               _labelled(summary.mother_ethnicity, ETHNICITIES), "donut"),
        Figure("father_ethnicity", "按男方民族统计（GB/T 3304）", ["民族", "登记数", "占比"],
               _labelled(summary.father_ethnicity, ETHNICITIES), "donut"),
        Figure("months", "按月登记趋势", ["月份", *CASE_TYPES.values(), "合计"],
               [[m["month"], *(m[kind] for kind in CASE_TYPES), m["total"]] for m in summary.by_month], "line"),
        Figure("processing", "办理用时（工作日）", ["指标", "数值"], [
            ["已办结", processing["completed"]],
            ["用时中位数（工作日）", _or_dash(processing["median_days"])],
            ["用时第90百分位（工作日）", _or_dash(processing["p90_days"])],
            [f"超过{summary.limit_days}个工作日时限", processing["overdue"]],
            ["超期占比", _share(processing["overdue"], summary.total)],
        ], "table"),
        Figure("overdue", f"各{child_level}超期占比", [child_level, "登记数", "超期数", "超期占比"],
               [[c["name"], c["cases"], c["overdue"], _share(c["overdue"], c["cases"])]
                for c in sorted(summary.children, key=lambda c: (-(c["overdue_share"] or 0), c["code"]))
                if c["cases"]], "rank"),
    ]


def _or_dash(value: int | None) -> Any:
    return "—" if value is None else value
