"""Stored dry runs: run once per content in the background, outside any transaction, never left running forever."""

import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from engine.db import utcnow
from engine.dryrun_reports import DryRunReportModel
from processes import definitions_admin as admin
from services.db import db
from tests.fixtures import forget

DIAGRAMS = Path(__file__).resolve().parents[1] / "engine" / "diagrams"
ADMIN = "user:policy"


def uploaded(session, name: str):
    definition, _ = admin.upload(session, (DIAGRAMS / f"{name}.bpmn").read_bytes(), ADMIN)
    session.commit()
    return definition


def test_a_version_is_dry_run_once_and_its_report_stored(session, deployed):
    definition = deployed["birth_registration"]
    assert admin.dry_run_state(session, definition, 20) is None
    forget(session)

    assert admin.run_stored_dry_run(definition.id, 20) == "done"
    forget(session)
    state = admin.dry_run_state(session, definition, 20)
    assert state.status == "done"
    assert state.report.ok
    assert {p.end for p in state.report.paths} == {"登记成功", "不予登记"}
    forget(session)
    assert admin.run_stored_dry_run(definition.id, 20) == "", "the same content is not run twice"


def test_a_stale_running_row_is_reported_failed_and_can_run_again(session, deployed):
    definition = deployed["birth_registration"]
    session.add(DryRunReportModel(sha256=definition.sha256, status="running",
                                  started_at=utcnow() - admin.stale_after(20) - timedelta(seconds=1)))
    session.commit()
    state = admin.dry_run_state(session, definition, 20)
    assert state.status == "failed"
    assert "试运行超过 35 秒仍未结束，已中止" in state.problem
    session.commit()

    assert admin.forget_dry_run(session, definition, 20)
    session.commit()
    assert admin.run_stored_dry_run(definition.id, 20) == "done"


def test_a_fresh_running_row_is_left_to_its_run(session, deployed):
    definition = deployed["birth_registration"]
    session.add(DryRunReportModel(sha256=definition.sha256, status="running", started_at=utcnow()))
    session.commit()
    assert admin.dry_run_state(session, definition, 20).status == "running"
    assert not admin.forget_dry_run(session, definition, 20), "a run under way is not dropped"
    session.rollback()
    assert admin.run_stored_dry_run(definition.id, 20) == "", "nor run a second time"


def test_the_run_holds_no_transaction_while_diagram_code_runs(session, deployed):  # noqa: ARG001
    definition = uploaded(session, "dry_run_endless_script")
    forget(session)
    runner = threading.Thread(target=admin.run_stored_dry_run, args=(definition.id, 3))
    runner.start()
    try:
        while session.scalar(select(DryRunReportModel.status)) != "running":
            forget(session)
            time.sleep(0.05)
        forget(session)
        # A write of someone else while the script spins: on SQLite it needs the database's one write lock.
        started = time.monotonic()
        with db.factory() as other:
            other.add(DryRunReportModel(sha256="0" * 64, status="done", started_at=utcnow(), problem=""))
            other.commit()
        assert time.monotonic() - started < 1, "the run held the write lock"
    finally:
        runner.join(timeout=10)
    forget(session)
    state = admin.dry_run_state(session, definition, 3)
    assert state.status == "done"
    assert state.report.paths[0].outcome in {"deadline", "budget"}


def test_a_run_that_cannot_start_is_stored_as_failed_not_left_running(session, deployed, monkeypatch):
    definition = deployed["birth_registration"]
    forget(session)

    def broken(*_args):
        raise RuntimeError("the holiday table is unreadable")

    monkeypatch.setattr(admin, "prepare_dry_run", broken)
    assert admin.run_stored_dry_run(definition.id, 20) == "failed"
    forget(session)
    state = admin.dry_run_state(session, definition, 20)
    assert (state.status, state.problem) == ("failed", "试运行本身出错，未能完成")
