"""Migration of 1,000 running cases: dry run, bulk migration, every case on the new version, then revert."""

import time
from pathlib import Path

from sqlalchemy import func, select

from engine.models import AuditEventModel, HumanTaskModel, ProcessInstanceModel
from processes import instances_admin as instances
from processes.runtime import RUNTIME

DIAGRAMS = Path(__file__).resolve().parents[1] / "diagrams"
CASES = 1000


def start_many(session, count: int) -> None:
    """Start `count` instances of bulk_minimal, each waiting at its village verification."""
    for number in range(count):
        RUNTIME.start(session, "bulk_minimal", {}, business_key=f"B{number:06d}", actor="system")
    session.commit()


def test_thousand_cases_dry_run_migrate_and_revert(session):
    v1, _ = RUNTIME.definitions.deploy(session, (DIAGRAMS / "bulk_v1.bpmn").read_bytes(), "cli")
    start_many(session, CASES)
    v2, _ = RUNTIME.definitions.deploy(session, (DIAGRAMS / "bulk_v2.bpmn").read_bytes(), "cli")
    session.commit()

    began = time.perf_counter()
    checks = instances.migration_dry_run(session, v1, v2)
    dry = time.perf_counter() - began
    assert len(checks) == CASES
    assert all(c.movable for c in checks)

    began = time.perf_counter()
    moved, left = instances.migrate_all(session, v1, v2, "user:policy")
    session.commit()
    migrated = time.perf_counter() - began
    assert (len(moved), left) == (CASES, [])
    on_v2 = session.scalar(select(func.count()).select_from(ProcessInstanceModel)
                           .where(ProcessInstanceModel.definition_id == v2.id))
    assert on_v2 == CASES
    assert session.scalar(select(func.count()).select_from(AuditEventModel)
                          .where(AuditEventModel.kind == "migrated")) == CASES

    assert session.scalar(select(func.count()).select_from(HumanTaskModel)
                          .where(HumanTaskModel.status == "open")) == CASES, "open tasks survive the migration"

    # Something happens to one migrated case after its migration: it alone cannot be reverted.
    RUNTIME.suspend(session, checks[0].instance_id, "user:policy", "核查")
    session.commit()

    began = time.perf_counter()
    done, refused = instances.revert(session, moved, "user:policy")
    session.commit()
    reverted = time.perf_counter() - began
    assert done == CASES - 1
    assert len(refused) == 1
    assert session.scalar(select(func.count()).select_from(ProcessInstanceModel)
                          .where(ProcessInstanceModel.definition_id == v1.id)) == CASES - 1
    print(f"\n{CASES} cases: dry run {dry:.2f} s, migrate {migrated:.2f} s, revert {reverted:.2f} s")
