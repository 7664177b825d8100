"""Benchmark: complete birth_registration lifecycles through the service layer vs bare SpiffWorkflow in memory.

Run: python -m tests.benchmarks.lifecycle [N]   (PostgreSQL from BENCH_DATABASE_URL, default the local `test_bench`)

The service layer runs with the budgets of diagram code on (as configured) and off (`Budget(enabled=False)`), in
alternating rounds so that the machine's other load falls on both alike; the last line of each database is the ratio.

A lifecycle is: submit (two villages), two village verifications, the township audit, and the service tasks that
follow (slip and SMS, performed in-process after each commit). The bare run drives the same diagram with
SpiffWorkflow alone, serializing and deserializing the whole workflow around every step, as a naive integration
that persists state between requests would.
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import create_engine, text

from tests.support import reset_schema

DIAGRAM = Path(__file__).resolve().parents[2] / "bpmn_diagrams" / "birth_registration.bpmn"
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test_bench")


ROUNDS = 10


def service_layer(url: str, n: int) -> dict[str, list[float]]:
    """Return the milliseconds of each of `n` lifecycles through the service layer on the database at `url`, with the
    budgets on and off."""
    from engine.budget import Budget
    from processes import casework
    from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE, TOWNSHIP
    from processes.runtime import RUNTIME, configured_budget
    from services import accounts, divisions, holidays
    from services.db import db
    from webapp import create_app
    from webapp.migrations import upgrade

    reset_schema(url)
    upgrade(url)
    app = create_app(DATABASE_URL=url, INSTANCE_DIR=Path(tempfile.mkdtemp()), TICK_SECONDS=0, BACKGROUND="inline",
                     SECRET_KEY="bench")
    with app.app_context():
        session = db.session
        divisions.import_demo_divisions(session)
        holidays.import_holidays(session)
        casework.deploy_shipped(session)
        make = accounts.create_user
        citizen = make(session, phone="13800000001", name="张丽", role="citizen", password="x")
        hukou = make(session, phone="13900000001", name="甲", role="village_staff", password="x",
                     division_code=HUKOU_VILLAGE)
        residence = make(session, phone="13900000002", name="乙", role="village_staff", password="x",
                         division_code=RESIDENCE_VILLAGE)
        township = make(session, phone="13900000010", name="丙", role="township_staff", password="x",
                        division_code=TOWNSHIP)
        session.commit()

        def one() -> None:
            case = casework.submit(session, citizen, case_type="first_child", woman_name="张丽", man_name="刘强",
                                   contact_phone=citizen.phone, hukou_division=HUKOU_VILLAGE,
                                   residence_division=RESIDENCE_VILLAGE)
            session.commit()
            for bpmn_id, user, decision in (("verify_hukou", hukou, "verified"),
                                            ("verify_residence", residence, "verified"),
                                            ("township_audit", township, "approved")):
                task = next(t for t in casework.open_tasks(session, case) if t.bpmn_id == bpmn_id)
                casework.decide(session, task.task_guid, user, decision)
                session.commit()
            assert case.status == "登记成功", case.status

        budgets = {"on": configured_budget, "off": Budget(enabled=False)}
        timings: dict[str, list[float]] = {label: [] for label in budgets}
        try:
            for _ in range(ROUNDS):
                for label, budget in budgets.items():
                    RUNTIME.budget = budget
                    timings[label] += _timed(one, max(1, n // ROUNDS))
        finally:
            RUNTIME.budget = configured_budget
        db.session.remove()
        db.engine.dispose()
    return timings


def _timed(one, n: int) -> list[float]:
    """Run `one` three times to warm up, then `n` times; return the milliseconds of each timed run."""
    for _ in range(3):
        one()
    timings = []
    for _ in range(n):
        start = time.perf_counter()
        one()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def bare_spiff(n: int) -> list[float]:
    """Return the milliseconds of each of `n` lifecycles of the same diagram in bare SpiffWorkflow."""
    parser = BpmnParser()
    parser.add_bpmn_file(str(DIAGRAM))
    spec, subprocesses = parser.get_spec("birth_registration"), parser.get_subprocess_specs("birth_registration")
    for task_spec in spec.task_specs.values():  # bare Spiff evaluates timer text as Python: quote it
        definition = getattr(task_spec, "event_definition", None)
        if definition is not None and hasattr(definition, "expression") and definition.expression.startswith("P"):
            definition.expression = repr(definition.expression)
    # The default config lacks the plain bpmn ServiceTask (it parks STARTED, like our outbox tasks).
    config = {**DEFAULT_CONFIG, ServiceTask: BpmnTaskSpecConverter}
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))

    def step(blob: str, action) -> str:
        workflow = serializer.deserialize_json(blob)
        action(workflow)
        workflow.do_engine_steps()
        return serializer.serialize_json(workflow)

    def finish_services(workflow) -> None:
        for task in workflow.get_tasks(state=TaskState.STARTED):
            task.complete()

    def complete(bpmn_id: str, decision: str):
        def action(workflow) -> None:
            task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                        if t.task_spec.bpmn_id == bpmn_id)
            task.data["results"] = {**task.data.get("results", {}), bpmn_id: {"decision": decision, "reason": ""}}
            task.run()
        return action

    def one() -> None:
        workflow = BpmnWorkflow(spec, subprocesses)
        workflow.get_tasks(state=TaskState.READY)[0].data.update({"case_id": 1, "same_village": False})
        workflow.do_engine_steps()
        blob = serializer.serialize_json(workflow)
        for bpmn_id, decision in (("verify_hukou", "verified"), ("verify_residence", "verified"),
                                  ("township_audit", "approved")):
            blob = step(blob, complete(bpmn_id, decision))
        while True:  # slip, then SMS: one request each, as the outbox does
            if not serializer.deserialize_json(blob).get_tasks(state=TaskState.STARTED):
                break
            blob = step(blob, finish_services)
        assert serializer.deserialize_json(blob).is_completed()

    return _timed(one, n)


def _commit_ms() -> float:
    """Return the median time of one durable single-row commit on the benchmark PostgreSQL."""
    engine = create_engine(PG_URL)
    timings = []
    with engine.connect() as connection:
        connection.execute(text("DROP TABLE IF EXISTS commit_probe_logged"))
        connection.execute(text("CREATE TABLE commit_probe_logged (x int)"))
        connection.commit()
        for _ in range(50):
            start = time.perf_counter()
            connection.execute(text("INSERT INTO commit_probe_logged VALUES (1)"))
            connection.commit()
            timings.append((time.perf_counter() - start) * 1000)
        connection.execute(text("DROP TABLE commit_probe_logged"))
        connection.commit()
    engine.dispose()
    return statistics.median(timings)


def _summary(timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms"


def main() -> None:
    """Print the figures."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    bare = bare_spiff(n)
    print(f"lifecycles: {n} (after 3 warm-up); a commit on this PostgreSQL: {_commit_ms():.1f} ms")
    print(f"bare SpiffWorkflow in memory, serialize/deserialize per step: {_summary(bare)}")
    sqlite_url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    # A lifecycle is six transactions (four requests, two service tasks), so the commit time above counts six times.
    for label, url in (("SQLite", sqlite_url), ("PostgreSQL", PG_URL)):
        runs = service_layer(url, n)
        for budgets, ours in runs.items():
            ratio = statistics.median(ours) / statistics.median(bare)
            print(f"service layer on {label:<10}, budgets {budgets:<3}: {_summary(ours)}   ratio to bare {ratio:4.1f}")
        cost = statistics.median(runs["on"]) / statistics.median(runs["off"])
        print(f"service layer on {label:<10}: budgets on / off {cost:5.3f}")


if __name__ == "__main__":
    main()
