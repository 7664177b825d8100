"""Benchmark: the statistics dashboard over 1,000,000 synthetic cases of one province on PostgreSQL.

Run: python -m tests.benchmarks.statistics [CASES] [REPETITIONS]   (PostgreSQL from BENCH_DATABASE_URL, default the
local `test_bench`; the database is emptied and migrated first)

The province's divisions (河北省, 13) come from the official files in ../shared/data/divisions (read here, not
copied into the repository); `services.synthetic.generate` writes the cases over its ~50,000 real village codes,
`services.statistics.refresh` builds the tally. Then each query the dashboard makes is timed for the province, a
city, the busiest county and the busiest township, unfiltered and with a month range and a type: the eleven tally
sums of a province or city page, the one live query (fetch and tally) of a county or township page, and each whole
page (`summarize`). p50 and p95 in milliseconds are printed per query, with the target of 300 ms.
"""

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.orm import Session

from engine.calendar import load_calendar
from services import divisions, holidays, statistics, synthetic
from services.cases import CaseModel
from services.statistics import CaseTallyModel, Filters, _LiveSource, _TallySource
from tests.support import reset_schema
from webapp.migrations import upgrade

REPO = Path(__file__).resolve().parents[2]
DIVISIONS = REPO.parent / "shared" / "data" / "divisions"
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench")
PROVINCE = "13"
TARGET_MS = 300.0
NOW = datetime.now(UTC)
# The sums a province or city page asks of the tally (see services.statistics.summarize).
TALLY_QUERIES = (
    ("status", ("case_type",)), ("status", ("group",)), ("overdue", ("group", "value")),
    ("status", ("month", "case_type")), ("days", ("value",)), ("overdue", ("value",)), ("status", ("value",)),
    ("mother_age", ("value",)), ("father_age", ("value",)), ("mother_ethnicity", ("value",)),
    ("father_ethnicity", ("value",)),
)


def fill(session: Session, count: int) -> None:
    """Load the province's divisions and the holidays, generate `count` cases and build the tally (timed)."""
    for name in ("provinces.csv", "cities.csv", "areas.csv", "streets.csv"):
        divisions.import_divisions(session, DIVISIONS / name)
    villages = [row for row in divisions.read_division_file(DIVISIONS / "villages.csv.gz")
                if str(row["code"]).startswith(PROVINCE)]
    for start in range(0, len(villages), 5000):
        session.execute(insert(divisions.DivisionModel), villages[start:start + 5000])
    holidays.import_holidays(session)
    session.commit()
    started = time.perf_counter()
    written = synthetic.generate(session, count, [str(row["code"]) for row in villages],
                                 start=NOW - timedelta(days=730), end=NOW, calendar=load_calendar(session), now=NOW)
    session.commit()
    print(f"generated {written:,} cases over {len(villages):,} villages in {time.perf_counter() - started:.0f} s")
    session.execute(select(func.count()).select_from(CaseModel))
    session.connection().exec_driver_sql("ANALYZE")
    started = time.perf_counter()
    statistics.refresh(session, statistics.timing_for(session, now=NOW))
    session.commit()
    session.connection().exec_driver_sql("ANALYZE")
    rows = session.scalar(select(func.count()).select_from(CaseTallyModel))
    print(f"refresh (rebuild case_tally) took {time.perf_counter() - started:.0f} s: {rows:,} tally rows")


def _busiest(session: Session, length: int, within: str) -> str:
    column = func.substr(CaseModel.hukou_division, 1, length)
    return session.execute(select(column, func.count()).where(CaseModel.hukou_division.startswith(within))
                           .group_by(column).order_by(func.count().desc()).limit(1)).one()[0]


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _timed(name: str, call, repetitions: int) -> bool:
    call()  # warm the cache and the plan
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p50, p95 = _percentile(times, 0.5), _percentile(times, 0.95)
    ok = p95 < TARGET_MS
    print(f"  {name:<48} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {'ok' if ok else 'SLOW'}")
    return ok


def measure(session: Session, repetitions: int) -> bool:
    """Time every dashboard query for four scopes, unfiltered and filtered; return whether all met the target."""
    city = _busiest(session, 4, PROVINCE)
    county = _busiest(session, 6, city)
    township = _busiest(session, 9, county)
    timing = statistics.timing_for(session, now=NOW)
    last = NOW.strftime("%Y-%m")
    first = (NOW - timedelta(days=180)).strftime("%Y-%m")
    all_ok = True
    for filters in (Filters(), Filters(first, last, "second_child")):
        print(f"filters: {filters.query_args() or 'none'}")
        for code in (PROVINCE, city, county, township):
            cases = session.scalar(select(func.count()).select_from(CaseModel).where(
                CaseModel.hukou_division.startswith(code)))
            print(f" {code} ({divisions.get_division(session, code).name}, {cases:,} cases)")
            if len(code) < statistics.LIVE_FROM_LENGTH:
                source = _TallySource(session, code, filters)
                for dimension, by in TALLY_QUERIES:
                    all_ok &= _timed(f"tally sum {dimension} by {'+'.join(by)}",
                                     lambda d=dimension, b=by, s=source: s.sums(d, b), repetitions)
            else:
                all_ok &= _timed("live fetch and tally", lambda c=code, f=filters: _LiveSource(session, c, f, timing),
                                 repetitions)
            all_ok &= _timed("whole page (summarize)",
                             lambda c=code, f=filters: statistics.summarize(session, c, f, timing), repetitions)
            session.rollback()
    return all_ok


def main() -> None:
    """Fill the benchmark database, time the dashboard queries and exit non-zero if one missed the target."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repetitions = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    reset_schema(PG_URL)
    upgrade(PG_URL)
    engine = create_engine(PG_URL)
    with Session(engine) as session:
        fill(session, count)
        ok = measure(session, repetitions)
    engine.dispose()
    print("all dashboard queries under 300 ms at p95" if ok else "some dashboard queries missed 300 ms at p95")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
