"""Benchmark: the statistics dashboard over 1,000,000 synthetic cases of one province on PostgreSQL.

Run: python -m tests.benchmarks.statistics [CASES] [REPETITIONS]   (PostgreSQL from BENCH_DATABASE_URL, default the
local `test_bench`; the database is migrated, and emptied and filled unless it already holds exactly CASES cases,
in which case only the tally is rebuilt)

The province's divisions (河北省, 13) come from the official files in ../shared/data/divisions (read here, not
copied into the repository); `services.synthetic.generate` writes the cases over its ~50,000 real village codes,
`services.statistics.refresh` builds the tally. Then the dashboard is timed for the province, a city, the busiest
county and the busiest township, unfiltered and with a month range and a type: the one statement that answers
every sum of a page (from the tally for a province or city, from the cases for a county or township), and each
whole page (`summarize`, which adds the division lookups). p50 and p95 in milliseconds are printed per query,
with the target of 300 ms.
"""

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from engine.calendar import load_calendar
from services import divisions, holidays, statistics, synthetic
from services.cases import CaseModel
from services.statistics import PAGE_SUMS, CaseTallyModel, Filters, _LiveSource, _TallySource
from tests.support import configure_benchmark_keys, reset_schema
from webapp.migrations import upgrade

REPO = Path(__file__).resolve().parents[2]
DIVISIONS = REPO.parent / "shared" / "data" / "divisions"
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench")
PROVINCE = "13"
TARGET_MS = 300.0
NOW = datetime.now(UTC)


def fill(session: Session, count: int) -> None:
    """Load the province's divisions and the holidays and generate `count` cases (timed)."""
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


def rebuild_tally(session: Session) -> None:
    """Build the tally (timed), after vacuuming the cases so that the dashboard's plans are the steady-state ones."""
    session.commit()
    with session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE birth_case")
    started = time.perf_counter()
    statistics.refresh(session, statistics.timing_for(session, now=NOW))
    session.commit()
    session.connection().exec_driver_sql("ANALYZE case_tally")
    session.commit()
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
                name, source = "every sum of the page from the tally", lambda c=code, f=filters: _TallySource(
                    session, c, f)
            else:
                name, source = "every sum of the page from the cases", lambda c=code, f=filters: _LiveSource(
                    session, c, f, timing)
            all_ok &= _timed(name, lambda s=source: s().sums(PAGE_SUMS), repetitions)
            all_ok &= _timed("whole page (summarize)",
                             lambda c=code, f=filters: statistics.summarize(session, c, f, timing), repetitions)
            session.rollback()
    return all_ok


def main() -> None:
    """Fill the benchmark database, time the dashboard queries and exit non-zero if one missed the target."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repetitions = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    configure_benchmark_keys()
    engine = create_engine(PG_URL)
    with Session(engine) as session:
        try:
            present = session.scalar(select(func.count()).select_from(CaseModel))
        except ProgrammingError:  # no schema yet
            present = None
    if present == count:
        upgrade(PG_URL)
        print(f"reusing the {count:,} cases already in the database")
    else:
        reset_schema(PG_URL)
        upgrade(PG_URL)
    with Session(engine) as session:
        if present != count:
            fill(session, count)
        rebuild_tally(session)
        ok = measure(session, repetitions)
    engine.dispose()
    print("all dashboard queries under 300 ms at p95" if ok else "some dashboard queries missed 300 ms at p95")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
