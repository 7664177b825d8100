"""Benchmark: the resource base (信息资源库查询) over 1,000,000 persons on PostgreSQL, and what sealing costs a task.

Run: python -m tests.benchmarks.people [PERSONS] [REPETITIONS]   (PostgreSQL from BENCH_DATABASE_URL, default the
local `bench_people`: create it with `psql -h 127.0.0.1 -U postgres -c 'create database bench_people'`; it is
emptied, migrated and filled unless it already holds exactly PERSONS persons sealed with the keys kept in
BENCH_INSTANCE_DIR, default $TMPDIR/birthreg-bench-people)

Filling. 500,000 couples over the real village codes of 25 counties (../shared/data/divisions), one case each: the
woman's hukou village, her residence in the same or another village of the county, the man mostly of the same
village, sometimes of another village or of another county (then visible there only through the case). 90% are
verified (names with a realistic surname skew, phones, divisions), 10% only applied for. ID numbers, phones and the
cases' contact phones are sealed with services.crypto.encrypt (the real code, about 7 µs a value) and indexed with
blind() before a COPY; the case's contact phone reuses the woman's sealed phone.

Search. processes.resource_base.search for a county official (counts by division, masked rows), a township clerk
and a village clerk of the busiest county: by whole ID number and by whole phone (a different person every call),
and by a name prefix (the commonest surname alone, and the commonest two-character start). p50/p95 in milliseconds
per call, which is every statement a request makes (the matches, the page's persons, the division names, and the
user row the request loads), with EXPLAIN ANALYZE of the county's name search. A name prefix reads one index range
of person_place (services.people), which the fill derives with services.people.rebuild_places (timed).

Sealing per task. A village verification (processes.casework.decide on a real case submitted through
processes.applying) is timed end to end on the same database, with every seal, open and blind index counted and
timed by wrapping services.crypto's functions: the share of the completion spent on cryptography is what sealing
costs. (A no-op keyring would change the stored format and the plans; counting the real calls measures the real
thing.)
"""

import csv
import gzip
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from tests.benchmarks.inbox import GIVEN, SURNAMES, copy_rows
from tests.support import reset_schema

REPO = Path(__file__).resolve().parents[2]
DIVISIONS = REPO.parent / "shared" / "data" / "divisions"
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/bench_people")
INSTANCE = Path(os.environ.get("BENCH_INSTANCE_DIR", Path(tempfile.gettempdir()) / "birthreg-bench-people"))
COUNTIES = 25
TARGET_P95_MS = 50.0
SEED = 20261203
NOW = datetime.now(UTC)
PASSWORD = "Bench@2026"
# The commonest surnames cover a large share of people (王, 李, 张 about 7% each); the rest trail off.
SURNAME_WEIGHTS = [1 / (rank + 1) ** 0.5 for rank in range(len(SURNAMES))]
DECISIONS = 30  # village verifications timed for the sealing figures


def _read_villages() -> list[dict]:
    with gzip.open(DIVISIONS / "villages.csv.gz", "rt", encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


class Filler:
    """Generate persons and cases and COPY them in."""

    def __init__(self, villages: list[str], rng: random.Random, applicant_id: int):
        from services import crypto, identity

        self.crypto, self.identity = crypto, identity
        self.rng = rng
        self.applicant_id = applicant_id
        self.by_county: dict[str, list[str]] = defaultdict(list)
        for code in villages:
            self.by_county[code[:6]].append(code)
        self.counties = sorted(self.by_county)
        self.serials: Counter = Counter()
        self.persons: list[tuple] = []
        self.cases: list[tuple] = []

    def _id_number(self, area: str, born: date, sex: str) -> str:
        key = (area, born)
        self.serials[key] += 1
        sequence = self.serials[key] * 2 - (1 if sex == "1" else 0)  # odd for men, even for women
        first17 = f"{area}{born:%Y%m%d}{sequence:03d}"
        return first17 + self.identity.check_character(first17)

    def _name(self) -> str:
        rng = self.rng
        surname = rng.choices(SURNAMES, weights=SURNAME_WEIGHTS)[0]
        return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))

    def _person(self, sex: str, hukou: str, residence: str, verified: bool, phone: str) -> tuple[int, str]:
        rng, seal, blind = self.rng, self.crypto.encrypt, self.crypto.blind
        born = date(1975, 1, 1) + timedelta(days=rng.randrange(9000))
        number = self._id_number(hukou[:6], born, sex)
        ident = len(self.persons) + 1
        sealed_phone = seal(phone)
        if verified:
            employer_phone = seal(f"010-{rng.randrange(10**7, 10**8)}") if rng.random() < 0.5 else None
            details = (self._name(), rng.choice(("01",) * 9 + ("03", "05")), sealed_phone, blind(phone),
                       "某单位", employer_phone, "21", hukou, residence, NOW - timedelta(days=rng.randrange(700)))
        else:
            details = (None,) * 10
        self.persons.append((ident, seal(number), blind(number), born, sex, *details, NOW))
        return ident, sealed_phone

    def couple(self, index: int) -> None:
        """Add one couple and their case."""
        rng = self.rng
        county = self.counties[index % len(self.counties)]
        villages = self.by_county[county]
        hukou = rng.choice(villages)
        residence = hukou if rng.random() < 0.7 else rng.choice(villages)
        roll = rng.random()
        man_hukou = (hukou if roll < 0.85 else rng.choice(villages) if roll < 0.95
                     else rng.choice(self.by_county[rng.choice(self.counties)]))
        verified = rng.random() < 0.9
        woman, woman_phone = self._person("2", hukou, residence, verified, f"13{index:09d}")
        man, _ = self._person("1", man_hukou, residence if man_hukou == hukou else man_hukou, verified,
                              f"15{index:09d}")
        submitted = NOW - timedelta(days=rng.uniform(0, 700))
        status = "登记成功" if verified and rng.random() < 0.8 else "办理中"
        self.cases.append((index + 1, f"B{index:013d}", "first_child", "birth_registration", status, self.applicant_id,
                           "女方", "男方", woman_phone, hukou, residence, submitted, submitted, 1, woman, man))

    def copy_into(self, session: Session) -> None:
        """COPY the rows into person and birth_case and move the id sequences past them."""
        columns = {
            "person": ("id", "id_number", "id_number_hash", "birth_date", "sex", "name", "ethnicity", "phone",
                       "phone_hash", "employer", "employer_phone", "marital_status", "hukou_division",
                       "residence_division", "verified_at", "created_at"),
            "birth_case": ("id", "case_number", "case_type", "process_key", "status", "applicant_id", "woman_name",
                           "man_name", "contact_phone", "hukou_division", "residence_division", "submitted_at",
                           "status_changed_at", "parity", "woman_id", "man_id"),
        }
        rows = {"person": self.persons, "birth_case": self.cases}
        copy_rows(session.connection().connection.driver_connection, columns, rows)
        session.commit()


def _load_divisions(session: Session, villages: list[dict]) -> None:
    from services import divisions

    for name in ("provinces.csv", "cities.csv", "areas.csv"):
        divisions.import_divisions(session, DIVISIONS / name)
    counties = {row["code"][:6] for row in villages}
    streets = [row for row in divisions.read_division_file(DIVISIONS / "streets.csv")
               if str(row["code"])[:6] in counties]
    rows = [row for row in divisions.read_division_file(DIVISIONS / "villages.csv.gz")
            if str(row["code"])[:6] in counties]
    for batch in (streets, rows):
        for start in range(0, len(batch), 5000):
            session.execute(divisions.DivisionModel.__table__.insert(), batch[start:start + 5000])
    session.commit()


def fill(session: Session, persons: int) -> None:
    """Load the divisions of 25 counties and COPY in persons/2 couples with their cases (timed)."""
    from processes import casework
    from services import accounts, holidays

    rng = random.Random(SEED)
    every = _read_villages()
    counties = sorted({row["code"][:6] for row in every})
    chosen = set(rng.sample(counties, COUNTIES))
    villages = [row for row in every if row["code"][:6] in chosen]
    _load_divisions(session, villages)
    holidays.import_holidays(session)
    casework.deploy_shipped(session)
    applicant = accounts.create_user(session, phone="13800000000", name="申请人", role="citizen", password=PASSWORD)
    session.commit()
    started = time.perf_counter()
    filler = Filler([row["code"] for row in villages], rng, applicant.id)
    for index in range(persons // 2):
        filler.couple(index)
    generated = time.perf_counter() - started
    filler.copy_into(session)
    copied = time.perf_counter() - started - generated
    from services import people

    people.rebuild_places(session)
    session.commit()
    placed = time.perf_counter() - started - generated - copied
    # VACUUM (outside a transaction) sets the visibility map, so index-only scans need no heap visits.
    with session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE person")
        connection.exec_driver_sql("VACUUM ANALYZE birth_case")
        connection.exec_driver_sql("VACUUM ANALYZE person_place")
    print(f"filled {len(filler.persons):,} persons and {len(filler.cases):,} cases over {len(villages):,} villages "
          f"of {COUNTIES} counties: generated and sealed in {generated:.0f} s, copied in {copied:.0f} s, "
          f"person_place derived in {placed:.0f} s")


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * share) - 1))]


def _timed(session: Session, calls: list[Callable[[], object]]) -> list[float]:
    for call in calls[:10]:
        call()
        session.rollback()
    timings = []
    for call in calls:
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000)
        session.rollback()
    return sorted(timings)


def _staff(session: Session) -> dict:
    """Create a county official, a township clerk and a village clerk of the busiest county, village and township."""
    from services import accounts

    county = session.execute(text("SELECT substr(hukou_division, 1, 6), count(*) FROM person WHERE hukou_division "
                                  "IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1")).one()[0]
    village = session.execute(text("SELECT hukou_division FROM person WHERE hukou_division LIKE :c "
                                   "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"), {"c": county + "%"}).scalar_one()
    found = {}
    for key, phone, role, division in (("county", "13900000020", "county_official", county),
                                       ("township", "13900000010", "township_staff", village[:9]),
                                       ("village", "13900000001", "village_staff", village)):
        user = accounts.find_by_phone(session, phone) or accounts.create_user(
            session, phone=phone, name=key, role=role, password=PASSWORD, division_code=division)
        found[key] = user
    session.commit()
    return found


def _samples(session: Session, scope: str, count: int, rng: random.Random) -> list[tuple[str, str | None]]:
    """Return (ID number, phone) of `count` random verified persons whose hukou lies in `scope` (opened here)."""
    from services.people import PersonModel

    ids = session.scalars(select(PersonModel.id).where(PersonModel.hukou_division.startswith(scope))).all()
    picked = rng.sample(ids, min(count, len(ids)))
    return [(p.id_number, p.phone) for p in session.scalars(select(PersonModel).where(PersonModel.id.in_(picked)))]


def _surnames(session: Session, scope: str) -> tuple[str, str]:
    """Return the commonest surname in `scope`, and the commonest two-character start of a name."""
    def commonest(length: int) -> str:
        return session.execute(text(
            "SELECT substr(name, 1, :n) FROM person WHERE hukou_division LIKE :s AND length(name) > :n "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"), {"s": scope + "%", "n": length}).scalar_one()

    return commonest(1), commonest(2)


def measure_search(session: Session, repetitions: int, heading: str, explain: bool) -> bool:
    """Time the searches; print p50/p95 per scenario; return whether every p95 met the target."""
    from processes import resource_base

    rng = random.Random(SEED + 1)
    users = _staff(session)
    scopes = {key: user.division_code for key, user in users.items()}
    persons = session.scalar(select(func.count()).select_from(text("person")))
    in_county = session.scalar(text("SELECT count(*) FROM person WHERE hukou_division LIKE :s"),
                               {"s": scopes["county"] + "%"})
    in_village = session.scalar(text("SELECT count(*) FROM person WHERE hukou_division = :s"),
                                {"s": scopes["village"]})
    print(f"\n== {heading} ==\n{persons:,} persons; county {scopes['county']}: {in_county:,} by verified hukou; "
          f"village {scopes['village']}: {in_village:,}; {repetitions} calls per line")
    met = True
    print(f"{'search':<44} {'p50':>9} {'p95':>9}  {'results':>8}")
    for key in ("county", "township", "village"):
        user, scope = users[key], scopes[key]
        samples = _samples(session, scope, repetitions, rng)
        surname, two = _surnames(session, scope)
        scenarios = [
            ("ID number", [n for n, _ in samples]),
            ("phone", [p for _, p in samples if p]),
            (f"name prefix {surname}", [surname] * repetitions),
            (f"name prefix {two}", [two] * repetitions),
        ]
        for label, texts in scenarios:
            totals: list[int] = []

            def search(query: str, user=user, totals=totals) -> None:
                totals.append(resource_base.search(session, user, query).total)

            timings = _timed(session, [lambda query=query: search(query) for query in texts])
            p50, p95 = statistics.median(timings), _percentile(timings, 0.95)
            met &= p95 < TARGET_P95_MS
            print(f"{key + ' ' + label:<44} {p50:7.2f}ms {p95:7.2f}ms  {statistics.median(totals):8.0f}")
    print(f"target p95 < {TARGET_P95_MS:.0f} ms: {'met' if met else 'MISSED'}")
    if explain:
        _explain(session, users["county"], _surnames(session, scopes["county"])[0])
    return met


def _explain(session: Session, user, surname: str) -> None:
    """Print EXPLAIN ANALYZE of each statement of the county official's name search."""
    from processes import resource_base

    captured: list[tuple[str, object]] = []
    engine = session.get_bind()

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.startswith("SELECT matched"):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    resource_base.search(session, user, surname)
    event.remove(engine, "before_cursor_execute", capture)
    session.rollback()
    print(f"\nEXPLAIN ANALYZE, county name search {surname}:")
    for statement, parameters in captured:
        for (line,) in session.connection().exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters):
            print(f"   {line}")
        print()
    session.rollback()


def _verification_tasks(session: Session, count: int):
    """Submit `count` applications of new couples through processes.applying; return the clerk and their tasks."""
    from processes import applying, casework
    from services import accounts, applications, identity
    from tests.identities import id_number

    run = int(time.time())  # fresh accounts and numbers on every run over a reused database
    citizen = accounts.create_user(session, phone=f"178{run % 10**8:08d}", name="张丽", role="citizen",
                                   password=PASSWORD)
    village = session.scalar(text("SELECT code FROM division WHERE level = 5 ORDER BY code LIMIT 1"))
    clerk = accounts.create_user(session, phone=f"179{run % 10**8:08d}", name="核实员", role="village_staff",
                                 password=PASSWORD, division_code=village)
    session.commit()
    # Numbers issued in a province none of the persons comes from, so every couple is new.
    area = "710000"
    first_day = date(1980, 1, 1) + timedelta(days=run % 5000)

    def spouse(sex: str, n: int, name: str) -> dict:
        number = id_number(f"{first_day + timedelta(days=n):%Y%m%d}", sex, area=area, serial=n % 90 + 1)
        return {"name": name, "id_number": number, "birth_date": identity.parse(number).birth_date, "ethnicity": "01",
                "phone": f"177{run % 10**4:04d}{n:04d}", "employer": "某单位", "employer_phone": "010-12345678",
                "marital_status": "21", "hukou_division": village, "residence_division": village}

    tasks = []
    for n in range(count):
        answers = {"woman": spouse("2", n, "王芳"), "man": spouse("1", n, "李强"),
                   "after_birth": False, "children": []}
        draft = applications.start(session, citizen.id, "first_child")
        case = applying.submit(session, citizen, draft.token, answers)
        session.commit()
        tasks.append(next(t.task_guid for t in casework.open_tasks(session, case) if t.bpmn_id == "verify_both"))
    return clerk, tasks


def measure_sealing(session: Session) -> None:
    """Time village verifications through casework.decide, with every crypto call counted and timed."""
    from processes import casework
    from services import crypto

    clerk, tasks = _verification_tasks(session, DECISIONS + 3)
    spent = Counter()
    calls = Counter()
    originals = {name: getattr(crypto, name) for name in ("encrypt", "decrypt", "blind")}

    def wrap(name):
        original = originals[name]

        def timed(value):
            start = time.perf_counter()
            try:
                return original(value)
            finally:
                spent[name] += time.perf_counter() - start
                calls[name] += 1

        return timed

    # blind() is also imported by name into the modules that index values (services.people, services.accounts …).
    holders = [(module, name) for module in list(sys.modules.values()) for name in originals
               if getattr(module, name, None) is originals[name]]
    for module, name in holders:
        setattr(module, name, wrap(name))
    totals = []
    for index, guid in enumerate(tasks):
        if index < 3:  # warm-up: plans, caches
            casework.decide(session, guid, clerk, "verified")
            session.commit()
            spent.clear()
            calls.clear()
            continue
        start = time.perf_counter()
        casework.decide(session, guid, clerk, "verified")
        session.commit()
        totals.append((time.perf_counter() - start) * 1000)
    for module, name in holders:
        setattr(module, name, originals[name])

    runs = len(totals)
    crypto_ms = sum(spent.values()) * 1000 / runs
    print(f"\nvillage verification (casework.decide + commit, confirming the claim into both persons), {runs} runs:")
    print(f"  per completion: p50 {statistics.median(totals):.1f} ms, mean {statistics.mean(totals):.1f} ms")
    for name, label in (("encrypt", "seal"), ("decrypt", "open"), ("blind", "blind index")):
        print(f"  {label:<12} {calls[name] / runs:5.1f} calls, {spent[name] * 1000 / runs:6.3f} ms per completion")
    print(f"  cryptography: {crypto_ms:.3f} ms of {statistics.mean(totals):.1f} ms "
          f"({100 * crypto_ms / statistics.mean(totals):.2f}% of a completion)")


def main() -> None:
    """Fill (or reuse) the database, time the searches and the sealing; exit non-zero if a p95 missed."""
    from services.people import PersonModel
    from webapp import create_app
    from webapp.migrations import upgrade

    persons = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repetitions = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    INSTANCE.mkdir(parents=True, exist_ok=True)
    app = create_app(DATABASE_URL=PG_URL, INSTANCE_DIR=INSTANCE, TICK_SECONDS=0, BACKGROUND="inline",
                     SECRET_KEY="bench")
    from services.db import db

    with app.app_context():
        session = db.session
        try:
            present = session.scalar(select(func.count()).select_from(PersonModel))
        except Exception:  # noqa: BLE001 - no schema yet
            present = None
        session.rollback()
        if present is not None and present >= persons:
            print(f"reusing the {present:,} persons already in the database")
            upgrade(PG_URL)
        else:
            db.session.remove()
            reset_schema(PG_URL)
            upgrade(PG_URL)
            fill(session, persons)
        met = measure_search(session, repetitions, "the schema as migrated", explain=True)
        measure_sealing(session)
        session.rollback()
        db.session.remove()
        db.engine.dispose()
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
