"""Benchmark: the staff inbox over 100,000 open tasks on PostgreSQL.

Run: python -m tests.benchmarks.inbox [REPETITIONS]   (PostgreSQL from BENCH_DATABASE_URL, default the local
`test_bench`; the database is emptied and migrated first)

The database is filled with COPY: one process definition, a case and an instance per application, and 100,000 open
human tasks (plus completed ones) over the real village codes of 50 counties, so that a township holds a few hundred
tasks. Then `inbox()` is timed for a township and a village staff member: the first page of 待办, and a page filtered
by type and division and searched by name. Each call is the two queries a request makes (the counts of the four
views, and the page). The EXPLAIN ANALYZE plan of each query is printed once, to judge the indexes.
"""

import csv
import gzip
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from psycopg import sql
from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.support import configure_benchmark_keys, reset_schema

REPO = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench")
VILLAGE_FILES = (REPO.parent / "shared" / "data" / "divisions" / "villages.csv.gz",
                 REPO / "services" / "data" / "divisions" / "villages.csv")
OPEN_TASKS = 100_000
COUNTIES = 50
TARGET_P95_MS = 50.0
SEED = 20261125
NOW = datetime.now(UTC)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = (
    "丽芳敏静秀娟英华慧巧美娜玉萍红娥玲芬燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞"
    "莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融"
    "园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽伟刚勇毅俊"
    "峰强军平保东文辉力明永健世广志义兴良海山仁波宁贵福生龙元全国胜学祥才发武新利清飞彬富顺信子杰涛昌成康"
    "星光天达安岩中茂进林有坚和彪博诚先敬震振壮会思群豪心邦承乐绍功松善厚庆磊民友裕河哲江超浩亮政谦亨奇固"
    "之轮翰朗伯宏言若鸣朋斌梁栋维启克伦翔旭鹏泽晨辰士以建家致树炎德行时泰盛雄琛钧冠策腾楠榕风航弘"
)
CASE_TYPE_WEIGHTS = {"first_child": 50, "second_child": 40, "third_child": 10}


def _villages() -> list[str]:
    """Return the village codes of the first division file found (the full national list if present)."""
    path = next(p for p in VILLAGE_FILES if p.exists())
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as file:
        return [row["code"] for row in csv.DictReader(file)]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def copy_rows(connection, columns: dict[str, tuple[str, ...]], rows: dict[str, list]) -> None:
    """COPY `rows[table]` into each table of `columns` on a psycopg connection, and move its id sequence past them."""
    with connection.cursor() as cursor:
        for table, names in columns.items():
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names)))
            with cursor.copy(statement) as copy:
                for row in rows[table]:
                    copy.write_row(row)
            cursor.execute(sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), max(id)) FROM {}")
                           .format(sql.Identifier(table)), (table,))


class Filler:
    """Generate the rows of cases, instances and tasks, and COPY them in."""

    def __init__(self, villages: list[str], rng: random.Random, applicant_id: int, definition_id: int,
                 staff: dict[str, list[str]]):
        self.villages = villages
        self.by_county: dict[str, list[str]] = defaultdict(list)
        for code in villages:
            self.by_county[code[:6]].append(code)
        self.rng = rng
        self.applicant_id = applicant_id
        self.definition_id = definition_id
        self.staff = staff  # actors a task can be claimed or completed by, per role
        self.cases: list[tuple] = []
        self.instances: list[tuple] = []
        self.tasks: list[tuple] = []
        self.open_tasks = 0

    def _task(self, instance_id: int, process_key: str, case_number: str, bpmn_id: str, name: str, form_key: str,
              role: str, division: str | None, created: datetime, *, done: bool) -> None:
        rng = self.rng
        due = None if role == "citizen" else created + timedelta(days=rng.choice((3, 4, 5, 7)), hours=8)
        claimed_by = claimed_at = completed_by = completed_at = None
        status = "open"
        if done:
            status, completed_at = "completed", created + timedelta(hours=rng.randint(1, 72))
            completed_by = rng.choice(self.staff.get(role, ["user:0"]))
        elif role != "citizen" and rng.random() < 0.2:
            claimed_by, claimed_at = rng.choice(self.staff[role]), created + timedelta(hours=rng.randint(1, 24))
        if not done:
            self.open_tasks += 1
        self.tasks.append((len(self.tasks) + 1, instance_id, process_key, case_number, str(uuid4()), bpmn_id,
                           name, form_key, role, division, due, status, claimed_by, claimed_at, completed_by,
                           created, completed_at))

    def case(self) -> None:
        """Add one application at a random stage, with its instance and task rows."""
        rng = self.rng
        number = len(self.cases) + 1
        hukou = rng.choice(self.villages)
        residence = hukou if rng.random() < 0.3 else rng.choice(self.by_county[hukou[:6]])
        case_type = rng.choices(list(CASE_TYPE_WEIGHTS), weights=list(CASE_TYPE_WEIGHTS.values()))[0]
        created = NOW - timedelta(days=rng.uniform(0, 12))
        case_number = f"{created:%Y%m%d}{number:06d}"
        process_key = "third_child_approval" if case_type == "third_child" else "birth_registration"
        stage = rng.choices(("verify", "audit", "correct", "finished"), weights=(52, 38, 4, 6))[0]
        status = {"verify": "办理中", "audit": "办理中", "correct": "核实有误", "finished": "登记成功"}[stage]
        if case_type == "third_child" and stage == "audit" and rng.random() < 0.5:
            status = "待现场确认"
        self.instances.append((number, self.definition_id, process_key, case_number,
                               "completed" if stage == "finished" else "running", status, "{}", "bench", 1, False,
                               "user:bench", created))
        self.cases.append((number, case_number, case_type, process_key, status, self.applicant_id,
                           _name(rng), _name(rng), "13800000000", hukou, residence, number, created, created))
        village = "village_staff"
        verifications = ([("verify_both", "村（居）核实（户籍地与现居住地相同）", hukou)] if hukou == residence else
                         [("verify_hukou", "户籍地村（居）核实", hukou),
                          ("verify_residence", "现居住地村（居）核实", residence)])
        if case_type == "third_child":
            verifications = [("verify_hukou", "户籍地村（居）核实", hukou)]
        for bpmn_id, name, division in verifications:
            self._task(number, process_key, case_number, bpmn_id, name, "village_verification", village, division,
                       created, done=stage != "verify")
        later = created + timedelta(days=2)
        if stage == "correct":
            self._task(number, process_key, case_number, "correct_application", "更正并重新提交",
                       "application_correction", "citizen", None, later, done=False)
        elif stage in ("audit", "finished"):
            bpmn_id, name, form_key = ("township_audit", "乡镇（街道）审核", "township_audit")
            if status == "待现场确认":
                bpmn_id, name, form_key = ("offline_confirmation", "现场确认并决定", "offline_confirmation")
            self._task(number, process_key, case_number, bpmn_id, name, form_key, "township_staff", hukou, later,
                       done=stage == "finished")

    def copy_into(self, engine: Engine) -> None:
        """COPY the generated rows into their tables and move the id sequences past them."""
        columns = {
            "process_instance": ("id", "definition_id", "process_key", "business_key", "status", "milestone", "state",
                                 "serializer_version", "version_id", "incident", "started_by", "started_at"),
            "birth_case": ("id", "case_number", "case_type", "process_key", "status", "applicant_id", "woman_name",
                           "man_name", "contact_phone", "hukou_division", "residence_division", "instance_id",
                           "submitted_at", "status_changed_at"),
            "human_task": ("id", "instance_id", "process_key", "business_key", "task_guid", "bpmn_id", "name",
                           "form_key", "role", "division_code", "due_at", "status", "claimed_by", "claimed_at",
                           "completed_by", "created_at", "completed_at"),
        }
        rows = {"process_instance": self.instances, "birth_case": self.cases, "human_task": self.tasks}
        raw = engine.raw_connection()
        try:
            copy_rows(raw.driver_connection, columns, rows)
            raw.commit()
        finally:
            raw.close()


def fill(url: str) -> dict:
    """Empty, migrate and fill the database at `url`; return the benchmark users and what they should see."""
    from engine.models import ProcessDefinitionModel
    from services import accounts
    from webapp.migrations import upgrade

    configure_benchmark_keys()
    rng = random.Random(SEED)
    reset_schema(url)
    upgrade(url)
    villages = _villages()
    counties = sorted({code[:6] for code in villages})
    chosen = set(rng.sample(counties, COUNTIES))
    villages = [code for code in villages if code[:6] in chosen]

    engine = create_engine(url)
    with Session(engine) as session:
        make = accounts.create_user
        applicant = make(session, phone="13800000000", name="申请人", role="citizen", password="Bench@2026")
        definition_id = session.execute(insert(ProcessDefinitionModel).values(
            key="birth_registration", kind="bpmn", name="生育登记（一孩、二孩）", version=1, sha256="0" * 64,
            xml=b"<bpmn/>", active=True, decisions={}, deployed_by="bench", deployed_at=NOW,
        ).returning(ProcessDefinitionModel.id)).scalar_one()
        session.commit()
        applicant_id = applicant.id
    # Fake colleagues who claimed or completed tasks (ids beyond the real accounts).
    staff = {"village_staff": [f"user:{n}" for n in range(1000, 1400)],
             "township_staff": [f"user:{n}" for n in range(2000, 2100)]}
    filler = Filler(villages, rng, applicant_id, definition_id, staff)
    started = time.perf_counter()
    while filler.open_tasks < OPEN_TASKS:
        filler.case()
    filler.copy_into(engine)
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    print(f"filled: {len(villages)} villages of {COUNTIES} counties, {len(filler.cases)} cases, "
          f"{len(filler.tasks)} tasks ({filler.open_tasks} open) in {time.perf_counter() - started:.1f} s")

    # The busiest township (by its township-staff tasks) and its busiest village (by village-staff tasks).
    open_rows = [t for t in filler.tasks if t[11] == "open"]
    township = Counter(t[9][:9] for t in open_rows if t[8] == "township_staff").most_common(1)[0][0]
    village = Counter(t[9] for t in open_rows if t[8] == "village_staff" and t[9].startswith(township)
                      ).most_common(1)[0][0]
    in_township = sum(1 for t in open_rows if t[9] and t[9].startswith(township))
    print(f"township {township}: {in_township} open tasks of all roles; village {village}")
    with Session(engine) as session:
        users = {
            "township": make(session, phone="13900000010", name="乡镇", role="township_staff", password="Bench@2026",
                             division_code=township),
            "village": make(session, phone="13900000001", name="村居", role="village_staff", password="Bench@2026",
                            division_code=village),
        }
        session.commit()
        actors = {key: user.actor for key, user in users.items()}
        ids = {key: user.id for key, user in users.items()}
    with engine.begin() as connection:  # some claims and completions of their own
        for key, role, prefix in (("township", "township_staff", township), ("village", "village_staff", village)):
            connection.execute(text(
                "UPDATE human_task SET claimed_by = :actor, claimed_at = now() WHERE id IN (SELECT id FROM human_task "
                "WHERE status = 'open' AND role = :role AND division_code LIKE :prefix AND claimed_by IS NULL "
                "ORDER BY id LIMIT 5)"), {"actor": actors[key], "role": role, "prefix": prefix + "%"})
            connection.execute(text(
                "UPDATE human_task SET completed_by = :actor WHERE id IN (SELECT id FROM human_task "
                "WHERE status = 'completed' AND role = :role AND division_code LIKE :prefix ORDER BY id LIMIT 20)"),
                {"actor": actors[key], "role": role, "prefix": prefix + "%"})
        connection.execute(text("ANALYZE human_task"))
    engine.dispose()
    return {"ids": ids, "township": township, "village": village}


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * share) - 1))]


def _timed(call: Callable[[], object], repetitions: int, session: Session) -> list[float]:
    for _ in range(10):
        call()
        session.rollback()
    timings = []
    for _ in range(repetitions):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000)
        session.rollback()
    return timings


def _plan_lines(session: Session, statement: str, parameters) -> Iterator[str]:
    """Yield the lines of EXPLAIN ANALYZE for one captured statement."""
    for (line,) in session.connection().exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS OFF) {statement}", parameters):
        yield line


def measure(url: str, setup: dict, repetitions: int) -> bool:
    """Time the inbox queries; print p50/p95, row counts and plans; return whether every p95 met the target."""
    from processes.inbox import InboxQuery, inbox
    from services.accounts import UserModel

    engine = create_engine(url)
    captured: list[tuple[str, object]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.startswith("SELECT") and "human_task" in statement:
            captured.append((statement, parameters))

    met = True
    with Session(engine) as session:
        township = session.get(UserModel, setup["ids"]["township"])
        village = session.get(UserModel, setup["ids"]["village"])
        session.commit()
        township_name = _common_surname(session, "township_staff", setup["village"])
        village_name = _common_surname(session, "village_staff", setup["village"])
        some_case = session.execute(text(
            "SELECT business_key FROM human_task WHERE status = 'open' AND role = 'township_staff' "
            "AND claimed_by IS NULL AND division_code LIKE :prefix ORDER BY id DESC LIMIT 1"),
            {"prefix": setup["township"] + "%"},
        ).scalar_one()
        scenarios = [
            ("township 待办 first page", township, InboxQuery()),
            (f"township type+division+name {township_name}", township,
             InboxQuery(case_type="first_child", division=setup["village"], search=township_name)),
            (f"township type+name {township_name} (whole township)", township,
             InboxQuery(case_type="first_child", search=township_name)),
            ("township case number search", township, InboxQuery(search=some_case)),
            ("township 超期 page 2", township, InboxQuery(view="overdue", page=2)),
            ("village 待办 first page", village, InboxQuery()),
            (f"village type+division+name {village_name}", village,
             InboxQuery(case_type="first_child", division=setup["village"], search=village_name)),
        ]
        print(f"\n{'query':<38} {'p50':>8} {'p95':>8}   total  rows  counts")
        for label, user, query in scenarios:
            page = inbox(session, user, query)
            session.rollback()
            timings = sorted(_timed(lambda user=user, query=query: inbox(session, user, query), repetitions,
                                    session))
            p50, p95 = statistics.median(timings), _percentile(timings, 0.95)
            met &= p95 < TARGET_P95_MS
            print(f"{label:<38} {p50:6.2f}ms {p95:6.2f}ms {page.total:7d} {len(page.rows):5d}  {page.counts}")
        print(f"\ntarget p95 < {TARGET_P95_MS:.0f} ms: {'met' if met else 'MISSED'}  ({repetitions} calls each)")

        print("\nEXPLAIN ANALYZE (the counts query, then the page query), once per scenario:")
        for label, user, query in scenarios:
            captured.clear()
            inbox(session, user, query)
            print(f"-- {label}")
            for statement, parameters in list(captured):
                for line in _plan_lines(session, statement, parameters):
                    if any(word in line for word in ("Scan", "Execution Time", "Sort Method", "Limit", "Aggregate",
                                                     "Nested Loop", "Hash Join", "BitmapOr")):
                        print(f"   {line}")
            session.rollback()
    engine.dispose()
    return met


def _common_surname(session: Session, role: str, division: str) -> str:
    """Return the commonest surname of the women of the first-child cases open for `role` in `division`."""
    return session.execute(text(
        "SELECT substr(c.woman_name, 1, 1) FROM human_task t JOIN birth_case c ON c.case_number = t.business_key "
        "WHERE t.status = 'open' AND t.role = :role AND t.division_code LIKE :prefix AND c.case_type = 'first_child' "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"), {"role": role, "prefix": division + "%"}).scalar_one()


def main() -> None:
    """Fill the database and print the figures."""
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    setup = fill(PG_URL)
    met = measure(PG_URL, setup, repetitions)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
