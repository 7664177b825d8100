"""Registration statistics for officials: counts by division, type, status, age band, ethnicity and month, and
processing times, for one division (the official's own, or one inside it) with a month range and type filter.

Every figure is counted by the case's household-registration division (户籍地, `hukou_division`) and by the China
month of its submission.

Where the numbers come from:

- A county or township (and a village) is counted live from `birth_case` in SQL: one statement selects the
  division's cases through the (hukou_division, submitted_at) index, derives each case's values once (a common
  table expression) and groups them for every figure of the page (a UNION ALL of small GROUP BYs). Only the
  grouped sums, a few hundred rows, come back to Python.
- A province or a city is read from `case_tally`, a pre-aggregated table with one row per division, month, case
  type, dimension and value, kept at three grains: counties, cities and provinces. A page reads its own
  division's row set for the breakdowns and its children's for the per-division figures, so it sums a few
  thousand rows whatever the number of cases. A plain table rather than a PostgreSQL materialized view, so the
  embedded SQLite default works the same way.

The tally keeps up by itself, so the levels agree at every moment:

- every flush that creates, changes or deletes a case adds the difference it makes (the case as counted before
  and after, `_before_case_changes` and `_after_case_changes`) in the same transaction: a submission, a
  decision (the engine's status milestones), a correction that moves a case;
- a full rebuild (`refresh`) counts open cases as overdue from a cut that moves at China midnight, so the tally
  serves only while its cut is today's and its promised limit the configured one (`fresh_snapshot`); the `tick`
  rebuilds it when it is not (`keep_fresh`), and meanwhile, or before it was ever built, a province or city is
  counted live like a county, never shown as 0;
- bulk writers that bypass the ORM (`services.synthetic`) rebuild it after them (`flask stats generate` does).

Both paths derive each case's values with the same SQL expressions (`_case_values`), so they cannot disagree.

Processing time is counted in working days (engine.calendar.WorkCalendar): the working days after the submission
date up to and including the completion date (0 = done on the day it came in), stamped on the case when it
completes (services.case_timing). A case is overdue when it was completed, or is still open, after the promised
limit: the end of the Nth working day after its submission date (WorkCalendar.deadline), N = STATS_LIMIT_DAYS
(default 3). Median and p90 are nearest-rank percentiles of the working days of the completed cases.
"""

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Integer,
    Select,
    SmallInteger,
    String,
    and_,
    case,
    cast,
    delete,
    event,
    func,
    insert,
    inspect,
    literal,
    literal_column,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.expression import FunctionElement

from engine.calendar import CST, WorkCalendar, load_calendar
from engine.db import Base, UTCDateTime, utcnow
from engine.models import AuditEventModel, ProcessInstanceModel
from services import divisions
from services.case_timing import WorkingDays
from services.cases import CASE_TYPES, FINAL_STATUSES, STATISTICS_COLUMNS, CaseModel
from services.codes import ETHNICITIES
from services.db import db, per_transaction

DEFAULT_LIMIT_DAYS = 3
COUNTY_LENGTH = 6
# Scopes whose code is at least this long are counted live from the cases; shorter ones from the tally.
LIVE_FROM_LENGTH = COUNTY_LENGTH
# The code lengths the tally is kept at, finest first: counties, cities, provinces.
TALLY_GRAINS = (6, 4, 2)
BATCH_SIZE = 5000

STATUSES = ("办理中", "核实有误", "待现场确认", "登记成功", "不予登记", "已批准", "不予批准", "已撤回")
# Ends without a decision (the applicant withdrew): neither 已登记 nor 办理中, and no processing time.
UNDECIDED_ENDS = frozenset({"已撤回"})
# What the page calls 已登记: the outcomes that grant the registration or approval (not refusals, not open cases).
REGISTERED_STATUSES = frozenset({"登记成功", "已批准"})
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

# The sums a page needs, each a dimension grouped by some of: the child division ("group"), the month, the case
# type and the dimension's value. Totals by type and overall are added up from these in Python.
PAGE_SUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "children": ("status", ("group",)),
    "children_overdue": ("overdue", ("group", "value")),
    "months": ("status", ("month", "case_type")),
    "days": ("days", ("value",)),
    "status": ("status", ("value",)),
    "mother_age": ("mother_age", ("value",)),
    "father_age": ("father_age", ("value",)),
    "mother_ethnicity": ("mother_ethnicity", ("value",)),
    "father_ethnicity": ("father_ethnicity", ("value",)),
}
MOST_KEYS = max(len(by) for _, by in PAGE_SUMS.values())


class StatisticsError(ValueError):
    """A filter or division that cannot be counted; the message is shown to the user."""


class CaseTallyModel(Base):
    """Pre-aggregated case counts: one row per grain, dimension, division, submission month, case type and value."""

    __tablename__ = "case_tally"

    # A page reads one grain and a few dimensions of one division (or of a range of its children): the key
    # starts with them.
    grain: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # len(division): 2, 4 or 6
    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    division: Mapped[str] = mapped_column(String(6), primary_key=True)
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


class Timing:
    """The holiday calendar, the promised limit and the moment "now" that decide which cases are overdue."""

    def __init__(self, calendar: WorkCalendar, limit_days: int, now: datetime):
        if limit_days < 1:
            raise StatisticsError("承诺办理时限应至少为 1 个工作日")
        self.calendar, self.limit_days, self.now = calendar, limit_days, now

    def open_overdue_before(self) -> datetime:
        """Return the moment before which a still-open case's promised limit has passed by now.

        The deadline only depends on the China date of submission and grows with it, so walking back from today
        to the last date whose deadline has passed finds the cut: every case submitted before the following
        midnight is late, every later one is not (yet).
        """
        day = self.now.astimezone(CST).date()
        while self.calendar.deadline(datetime.combine(day, time(12), tzinfo=CST), self.limit_days) >= self.now:
            day -= timedelta(days=1)
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CST)


def timing_for(session: Session, limit_days: int = DEFAULT_LIMIT_DAYS, now: datetime | None = None) -> Timing:
    """Return the Timing of the holiday table in the database, as of `now`."""
    return Timing(load_calendar(session), limit_days, now or utcnow())


class ChinaMonth(FunctionElement):
    """The China month (YYYY-MM) of a UTC timestamp column, in each database's own date functions.

    China Standard Time has no DST, so adding eight hours to the UTC time is exact.
    """

    type = String()
    inherit_cache = True


@compiles(ChinaMonth)
def _china_month_sqlite(element, compiler, **kw) -> str:
    # SQLite keeps UTCDateTime as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text.
    return f"strftime('%Y-%m', {compiler.process(list(element.clauses)[0], **kw)}, '+8 hours')"


@compiles(ChinaMonth, "postgresql")
def _china_month_postgresql(element, compiler, **kw) -> str:
    column = compiler.process(list(element.clauses)[0], **kw)
    return f"to_char(({column} AT TIME ZONE 'UTC') + INTERVAL '8 hours', 'YYYY-MM')"


def _age_band(column) -> ColumnElement[str]:
    return case(*((column.between(low, high), literal(key)) for key, low, high, _ in AGE_BANDS), else_=literal(UNKNOWN))


def _leading(column, length: int) -> ColumnElement[str]:
    """Return the first `length` characters of `column` (inline constants, so GROUP BY matches the select)."""
    return func.substr(column, literal_column("1"), literal_column(str(int(length))))


def _case_values(timing: Timing, group_length: int, conditions: Iterable[ColumnElement[bool]]) -> Select:
    """Select each matching case's values: the one place they are derived, for the live pages and the tally.

    Columns: division (the hukou code's first `group_length` digits), month, case_type and one per dimension
    (days is NULL for open cases).
    """
    overdue = case(
        (and_(CaseModel.completed_at.is_(None), CaseModel.submitted_at < timing.open_overdue_before(),
              CaseModel.status.not_in(UNDECIDED_ENDS)), literal("1")),
        (and_(CaseModel.completed_at.is_not(None), CaseModel.on_time_within > timing.limit_days), literal("1")),
        else_=literal("0"))
    return select(
        _leading(CaseModel.hukou_division, group_length).label("division"),
        ChinaMonth(CaseModel.submitted_at).label("month"),
        CaseModel.case_type.label("case_type"),
        CaseModel.status.label("status"),
        _age_band(CaseModel.mother_age).label("mother_age"),
        _age_band(CaseModel.father_age).label("father_age"),
        func.coalesce(CaseModel.mother_ethnicity, UNKNOWN).label("mother_ethnicity"),
        func.coalesce(CaseModel.father_ethnicity, UNKNOWN).label("father_ethnicity"),
        case((CaseModel.completed_at.is_not(None), cast(CaseModel.processing_days, String))).label("days"),
        overdue.label("overdue"),
    ).where(*conditions)


def stamp_missing_timings(session: Session, calendar: WorkCalendar) -> int:
    """Stamp the working days on completed cases that lack them (completed before they were kept); return how many.

    Flushed, not committed.
    """
    counter, stamped, after = WorkingDays(calendar), 0, 0
    missing = (select(CaseModel.id, CaseModel.submitted_at, CaseModel.completed_at)
               .where(CaseModel.completed_at.is_not(None), CaseModel.processing_days.is_(None))
               .order_by(CaseModel.id).limit(BATCH_SIZE))
    while rows := session.execute(missing.where(CaseModel.id > after)).all():
        session.execute(update(CaseModel), [{"id": row.id, **counter.stamp(row.submitted_at, row.completed_at)}
                                            for row in rows])
        stamped, after = stamped + len(rows), rows[-1].id
    return stamped


# -- the pre-aggregated tally -------------------------------------------------------------------------------------


def refresh(session: Session, timing: Timing) -> int:
    """Rebuild `case_tally` from every case as of `timing.now` and return the number of cases counted.

    The county grain is grouped from the cases in one statement, each coarser grain from the one below it. One
    transaction: readers see the previous snapshot until it commits. Flushed, not committed.
    """
    stamp_missing_timings(session, timing.calendar)
    session.execute(delete(CaseTallyModel))
    table = CaseTallyModel
    columns = ["grain", "dimension", "division", "month", "case_type", "value", "cases"]
    cases = _case_values(timing, COUNTY_LENGTH, ()).cte("counted")
    finest = union_all(*(
        select(literal_column(str(COUNTY_LENGTH)), literal(dimension), cases.c.division, cases.c.month,
               cases.c.case_type, cases.c[dimension], func.count())
        .where(cases.c[dimension].is_not(None))
        .group_by(cases.c.division, cases.c.month, cases.c.case_type, cases.c[dimension])
        for dimension in DIMENSIONS))
    session.execute(insert(table).from_select(columns, finest))
    for finer, grain in zip(TALLY_GRAINS, TALLY_GRAINS[1:], strict=False):
        division = _leading(table.division, grain)
        keys = (table.dimension, division, table.month, table.case_type, table.value)
        session.execute(insert(table).from_select(columns, select(
            literal_column(str(grain)), *keys, func.sum(table.cases)).where(table.grain == finer).group_by(*keys)))
    count = session.scalar(select(func.count()).select_from(CaseModel))
    stamp = snapshot(session) or TallySnapshotModel(id=1)
    stamp.refreshed_at, stamp.limit_days, stamp.cases = timing.now, timing.limit_days, count
    session.add(stamp)
    session.flush()
    return count


def snapshot(session: Session) -> TallySnapshotModel | None:
    """Return when the tally was last rebuilt, or None if never."""
    return session.get(TallySnapshotModel, 1)


_limit_days = DEFAULT_LIMIT_DAYS  # the promised limit the tally is kept for (STATS_LIMIT_DAYS)


def configure(limit_days: int) -> None:
    """Set the promised limit (working days) that `keep_fresh` builds the tally for."""
    global _limit_days  # noqa: PLW0603 - one setting per process, like the app's own
    _limit_days = limit_days


def _calendar(session: Session) -> WorkCalendar:
    """Return the holiday calendar, read once per transaction."""
    memo = per_transaction(session)
    if "work_calendar" not in memo:
        memo["work_calendar"] = load_calendar(session)
    return memo["work_calendar"]


def _snapshot_timing(stamp: TallySnapshotModel, calendar: WorkCalendar) -> Timing:
    """Return the Timing the tally was rebuilt with: what it counts every case by, until the next rebuild."""
    return Timing(calendar, stamp.limit_days, stamp.refreshed_at)


def fresh_snapshot(session: Session, timing: Timing) -> TallySnapshotModel | None:
    """Return the tally's snapshot if the tally counts every case as `timing` would, else None (missing, built for
    another promised limit, or built before the open cases' overdue cut last moved)."""
    stamp = snapshot(session)
    if stamp is None or stamp.limit_days != timing.limit_days:
        return None
    if _snapshot_timing(stamp, timing.calendar).open_overdue_before() != timing.open_overdue_before():
        return None
    return stamp


def keep_fresh(session: Session, now: datetime | None = None) -> int | None:
    """Rebuild the tally if it cannot serve now (see `fresh_snapshot`); return the cases counted, None if it could.

    Run by the periodic tick. Flushed, not committed.
    """
    timing = Timing(load_calendar(session), _limit_days, now or utcnow())
    if fresh_snapshot(session, timing) is not None:
        return None
    return refresh(session, timing)


# -- following each change to a case ------------------------------------------------------------------------------

# The case columns a tally row depends on; a change to any of them moves the case's counts.
COUNTED_COLUMNS = ("hukou_division", "submitted_at", *STATISTICS_COLUMNS)
TALLY_KEY = ("grain", "dimension", "division", "month", "case_type", "value")
_PENDING = "statistics_pending"


def _tally_rows(connection: Connection, timing: Timing, case_ids: list[int]) -> Counter:
    """Return the tally rows the cases add, as {TALLY_KEY values: cases}, counted as `refresh` counts them."""
    counted: Counter = Counter()
    if not case_ids:
        return counted
    for row in connection.execute(_case_values(timing, COUNTY_LENGTH, [CaseModel.id.in_(case_ids)])).mappings():
        for dimension in DIMENSIONS:
            if row[dimension] is not None:
                for grain in TALLY_GRAINS:
                    counted[(grain, dimension, row["division"][:grain], row["month"], row["case_type"],
                             row[dimension])] += 1
    return counted


def _counts_change(case: CaseModel) -> bool:
    attributes = inspect(case).attrs
    return any(attributes[name].history.has_changes() for name in COUNTED_COLUMNS)


@event.listens_for(db.factory, "before_flush")
def _before_case_changes(session: Session, _context, _instances) -> None:
    """Note what the cases this flush changes counted before it, while the database still holds that."""
    session.info.pop(_PENDING, None)  # left by a flush that failed: its changes were never written
    changed = [case for case in session.dirty if isinstance(case, CaseModel) and _counts_change(case)]
    deleted = [case for case in session.deleted if isinstance(case, CaseModel)]
    created = [case for case in session.new if isinstance(case, CaseModel)]
    if not (changed or deleted or created):
        return
    with session.no_autoflush:
        stamp = snapshot(session)
        if stamp is None:  # no tally yet: the first rebuild counts them
            return
        timing = _snapshot_timing(stamp, _calendar(session))
        before = _tally_rows(session.connection(), timing, [case.id for case in changed + deleted])
    session.info[_PENDING] = (timing, before, changed + created)


@event.listens_for(db.factory, "after_flush")
def _after_case_changes(session: Session, _context) -> None:
    """Add to the tally the difference this flush made to the cases' counts (same transaction)."""
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    timing, before, cases = pending
    connection = session.connection()
    change = _tally_rows(connection, timing, [case.id for case in cases])
    change.subtract(before)
    rows = [{**dict(zip(TALLY_KEY, key, strict=True)), "cases": cases} for key, cases in sorted(change.items())
            if cases]
    if not rows:
        return
    # Sorted rows and one statement: concurrent transactions lock the shared province rows in the same order.
    table = CaseTallyModel.__table__
    insert_into = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert_into(table).values(rows)
    connection.execute(statement.on_conflict_do_update(
        index_elements=list(TALLY_KEY), set_={"cases": table.c.cases + statement.excluded.cases}))


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


def child_length(code: str) -> int:
    """Return the code length of the divisions directly under `code`."""
    return divisions.CODE_LENGTHS[divisions.level_of(code) + 1]


# -- two sources of the same sums ---------------------------------------------------------------------------------

# One grouped select per sum: its key columns (in the order asked), its count, and its conditions.
Grouped = tuple[list[ColumnElement], ColumnElement[int], list[ColumnElement[bool]]]


def _sums_at_once(session: Session, requests: dict[str, tuple[str, tuple[str, ...]]],
                  grouped: Callable[[str, tuple[str, ...]], Grouped]) -> dict[str, dict[tuple, int]]:
    """Answer every (dimension, by) request in one statement, a UNION ALL of grouped selects, split by request."""
    names = list(requests)
    parts = []
    for index, name in enumerate(names):
        keys, total, conditions = grouped(*requests[name])
        padding = [cast(null(), String)] * (MOST_KEYS - len(keys))
        parts.append(select(literal_column(str(index)), *keys, *padding, total).where(*conditions).group_by(*keys))
    results: dict[str, dict[tuple, int]] = {name: {} for name in names}
    for row in session.execute(union_all(*parts)):
        name = names[row[0]]
        if row[-1]:
            results[name][tuple(row[1:1 + len(requests[name][1])])] = int(row[-1])
    return results


def _tally_filters(filters: Filters) -> list[ColumnElement[bool]]:
    table, conditions = CaseTallyModel, []
    if filters.start:
        conditions.append(table.month >= filters.start)
    if filters.end:
        conditions.append(table.month <= filters.end)
    if filters.case_type:
        conditions.append(table.case_type == filters.case_type)
    return conditions


def _case_filters(filters: Filters) -> list[ColumnElement[bool]]:
    conditions = []
    if filters.start:
        conditions.append(CaseModel.submitted_at >= _month_start(filters.start))
    if filters.end:
        conditions.append(CaseModel.submitted_at < _month_start(_next_month(filters.end)))
    if filters.case_type:
        conditions.append(CaseModel.case_type == filters.case_type)
    return conditions


class _TallySource:
    """Sums over the pre-aggregated tally (province and city scopes): the scope's own rows for its breakdowns,
    its children's rows (the next grain) for the per-division figures."""

    def __init__(self, session: Session, code: str, filters: Filters):
        self.session, self.code, self.filters = session, code, filters
        self.group_length = child_length(code)

    def _grouped(self, dimension: str, by: tuple[str, ...]) -> Grouped:
        table = CaseTallyModel
        columns = {"group": table.division, "month": table.month, "case_type": table.case_type, "value": table.value}
        if "group" in by:
            scope = [table.grain == self.group_length, divisions.within(table.division, self.code)]
        else:
            scope = [table.grain == len(self.code), table.division == self.code]
        conditions = [*scope, table.dimension == dimension, *_tally_filters(self.filters)]
        return [columns[name] for name in by], func.sum(table.cases), conditions

    def sums(self, requests: dict[str, tuple[str, tuple[str, ...]]]) -> dict[str, dict[tuple, int]]:
        """Return each requested sum as {key tuple: cases}."""
        return _sums_at_once(self.session, requests, self._grouped)


class _LiveSource:
    """Sums over the cases themselves, counted in SQL now (county, township and village scopes)."""

    def __init__(self, session: Session, code: str, filters: Filters, timing: Timing):
        self.session = session
        length = child_length(code) if len(code) < 12 else 12
        conditions = [divisions.within(CaseModel.hukou_division, code), *_case_filters(filters)]
        # Referenced by every grouped select: PostgreSQL reads the scope's cases once and keeps them for all.
        self.cases: CTE = _case_values(timing, length, conditions).cte("scoped")

    def _grouped(self, dimension: str, by: tuple[str, ...]) -> Grouped:
        columns = {"group": self.cases.c.division, "month": self.cases.c.month,
                   "case_type": self.cases.c.case_type, "value": self.cases.c[dimension]}
        return [columns[name] for name in by], func.count(), [self.cases.c[dimension].is_not(None)]

    def sums(self, requests: dict[str, tuple[str, tuple[str, ...]]]) -> dict[str, dict[tuple, int]]:
        """Return each requested sum as {key tuple: cases}."""
        return _sums_at_once(self.session, requests, self._grouped)


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
    total: int  # 已受理: every case submitted
    registered: int  # 已登记: registered or approved
    in_progress: int  # 办理中: not decided yet
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
    as_of: datetime | None  # when the tally was last rebuilt in full (None: live)
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
    # A county or below, or a tally that cannot serve now, is counted from the cases.
    stamp = None if len(code) >= LIVE_FROM_LENGTH else fresh_snapshot(session, timing)
    live = stamp is None
    source = _LiveSource(session, code, filters, timing) if live else _TallySource(session, code, filters)
    sums = {name: _single(found) if len(PAGE_SUMS[name][1]) == 1 else found
            for name, found in source.sums(PAGE_SUMS).items()}

    by_month_type = sums["months"]
    by_type = {kind: sum(cases for (_, counted), cases in by_month_type.items() if counted == kind)
               for kind in CASE_TYPES}
    total = sum(by_type.values())
    overdue = sums["children_overdue"]
    children = []
    for child in divisions.children(session, code):
        cases = sums["children"].get(child.code, 0)
        late = overdue.get((child.code, "1"), 0)
        children.append({"code": child.code, "name": child.name, "cases": cases, "overdue": late,
                         "overdue_share": late / cases if cases else None})
    months = sorted({month for month, _ in by_month_type})
    if filters.start and filters.end:
        months = _months_between(filters.start, filters.end)
    elif months:
        months = _months_between(filters.start or months[0], filters.end or months[-1])
    by_month = [{"month": month, **{kind: by_month_type.get((month, kind), 0) for kind in CASE_TYPES},
                 "total": sum(by_month_type.get((month, kind), 0) for kind in CASE_TYPES)} for month in months]
    days = {int(value): cases for value, cases in sums["days"].items()}
    late_total = sum(cases for (_, late), cases in overdue.items() if late == "1")
    processing = {
        "completed": sum(days.values()), "median_days": nearest_rank(days, 0.5), "p90_days": nearest_rank(days, 0.9),
        "overdue": late_total, "overdue_share": late_total / total if total else None,
        "histogram": dict(sorted(days.items())),
    }
    by_status = sums["status"]
    summary = Summary(
        code=code, name=division.name, level=division.level, path=[(d.code, d.name) for d in path], filters=filters,
        total=total, children=children, by_type=by_type,
        registered=sum(cases for status, cases in by_status.items() if status in REGISTERED_STATUSES),
        in_progress=sum(cases for status, cases in by_status.items() if status not in FINAL_STATUSES | UNDECIDED_ENDS),
        by_status=_ordered(sums["status"], STATUSES),
        mother_age=_ordered(sums["mother_age"], [key for key, *_ in AGE_BANDS]),
        father_age=_ordered(sums["father_age"], [key for key, *_ in AGE_BANDS]),
        mother_ethnicity=_by_count(sums["mother_ethnicity"]), father_ethnicity=_by_count(sums["father_ethnicity"]),
        by_month=by_month, processing=processing, limit_days=timing.limit_days, live=live,
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


class Share(float):
    """A fraction that reads as a percentage (12.3%) on pages and in CSV, and stays a number in spreadsheets."""

    def __str__(self) -> str:
        return f"{float(self):.1%}"


NO_VALUE = "—"  # a share of nothing, or a percentile of no cases


def _share(part: int, whole: int) -> Share | str:
    return Share(part / whole) if whole else NO_VALUE


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
        Figure("divisions", f"按{child_level}统计受理数", [child_level, "区划代码", "受理数", "占比"],
               [[c["name"], c["code"], c["cases"], _share(c["cases"], summary.total)] for c in ranked], "rank"),
        Figure("types", "按申请类型统计", ["类型", "受理数", "占比"], _labelled(summary.by_type, CASE_TYPES), "donut"),
        Figure("statuses", "按办理状态统计", ["状态", "受理数", "占比"],
               _labelled(summary.by_status, {s: s for s in STATUSES}), "bar"),
        Figure("mother_age", "按女方年龄段统计", ["年龄段", "受理数", "占比"],
               _labelled(summary.mother_age, AGE_BAND_LABELS), "bar"),
        Figure("father_age", "按男方年龄段统计", ["年龄段", "受理数", "占比"],
               _labelled(summary.father_age, AGE_BAND_LABELS), "bar"),
        Figure("mother_ethnicity", "按女方民族统计（GB/T 3304）", ["民族", "受理数", "占比"],
               _labelled(summary.mother_ethnicity, ETHNICITIES), "donut"),
        Figure("father_ethnicity", "按男方民族统计（GB/T 3304）", ["民族", "受理数", "占比"],
               _labelled(summary.father_ethnicity, ETHNICITIES), "donut"),
        Figure("months", "按月受理趋势", ["月份", *CASE_TYPES.values(), "合计"],
               [[m["month"], *(m[kind] for kind in CASE_TYPES), m["total"]] for m in summary.by_month], "line"),
        Figure("processing", "办理用时（工作日）", ["指标", "数值"], [
            ["已办结（含不予登记、不予批准）", processing["completed"]],
            ["用时中位数（工作日）", _or_dash(processing["median_days"])],
            ["用时第90百分位（工作日）", _or_dash(processing["p90_days"])],
            [f"超过{summary.limit_days}个工作日时限", processing["overdue"]],
            ["超期占比", _share(processing["overdue"], summary.total)],
        ], "table"),
        Figure("overdue", f"各{child_level}超期占比", [child_level, "受理数", "超期数", "超期占比"],
               [[c["name"], c["cases"], c["overdue"], _share(c["overdue"], c["cases"])]
                for c in sorted(summary.children, key=lambda c: (-(c["overdue_share"] or 0), c["code"]))
                if c["cases"]], "rank"),
    ]


def _or_dash(value: int | None) -> Any:
    return NO_VALUE if value is None else value


# -- what each step recorded ---------------------------------------------------------------------------------------

# More completed steps than this are not exported at once: the reader narrows the months or the division.
STEP_RECORDS_LIMIT = 50_000


@dataclass(frozen=True)
class StepRecord:
    """One completion of a user task of a counted case: what its form recorded, as the audit trail keeps it."""

    case_number: str
    case_type: str
    hukou_division: str
    definition_id: int
    step: str
    actor: str
    at: datetime
    values: dict[str, Any]


def step_records(session: Session, code: str, filters: Filters) -> list[StepRecord]:
    """Return every task completion of the cases `summarize` counts (by hukou place, month and type), oldest case
    first; read from the `task_completed` events of the audit trail, which keep each form's typed values.

    Raises StatisticsError when there are more than STEP_RECORDS_LIMIT.
    """
    rows = session.execute(
        select(CaseModel.case_number, CaseModel.case_type, CaseModel.hukou_division,
               ProcessInstanceModel.definition_id, AuditEventModel.element, AuditEventModel.actor,
               AuditEventModel.at, AuditEventModel.detail)
        .join(ProcessInstanceModel, ProcessInstanceModel.id == CaseModel.instance_id)
        .join(AuditEventModel, AuditEventModel.instance_id == CaseModel.instance_id)
        .where(divisions.within(CaseModel.hukou_division, code), *_case_filters(filters),
               AuditEventModel.kind == "task_completed")
        .order_by(CaseModel.submitted_at, CaseModel.id, AuditEventModel.id)
        .limit(STEP_RECORDS_LIMIT + 1)).all()
    if len(rows) > STEP_RECORDS_LIMIT:
        raise StatisticsError(f"所选范围内的办理记录超过 {STEP_RECORDS_LIMIT} 条，"
                              "请缩小月份范围或选择下级区划后再导出各环节填写的内容")
    return [StepRecord(row.case_number, row.case_type, row.hukou_division, row.definition_id, row.element or "",
                       row.actor, row.at, dict(row.detail or {})) for row in rows]
