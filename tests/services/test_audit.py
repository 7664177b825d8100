"""The audit service: one writer, a hash chain `verify` checks, append-only on PostgreSQL, purged after retention."""

import re
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from engine import audit as chain
from engine.calendar import CST
from engine.models import AuditEventModel, HumanTaskModel, ProcessDefinitionModel
from processes import casework, definitions_admin, instances_admin
from processes.demo import HUKOU_VILLAGE
from processes.roles import CITIZEN
from processes.runtime import RUNTIME
from services import accounts, audit, cases
from services.accounts import LoginRefused
from services.db import db
from tests.fixtures import forget
from webapp.config import ConfigurationError, check, from_environment

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)


def _events(session, kind=None):
    forget(session)
    query = select(AuditEventModel).order_by(AuditEventModel.id)
    if kind is not None:
        query = query.where(AuditEventModel.kind == kind)
    return session.scalars(query).all()


def _verify(session):
    forget(session)
    result = audit.verify(session)
    session.rollback()
    return result


def _on_postgres(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --- one writer


def test_no_audit_row_is_built_outside_the_audit_writer():
    """Every audit write of processes, services and the web app goes through services.audit (engine.audit below)."""
    built = [f"{path.relative_to(ROOT)}:{number}"
             for package in ("engine", "processes", "services", "webapp", "forms")
             for path in (ROOT / package).rglob("*.py") if path != ROOT / "engine" / "audit.py"
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if re.search(r"(?<!class )AuditEventModel\(|insert\(AuditEventModel", line)]
    assert built == []


def test_a_recorded_event_is_one_row_sealed_into_the_chain_at_commit(session):
    audit.record(session, "user:1", "pii_viewed", fields=["phone"])
    [row] = session.scalars(select(AuditEventModel)).all()
    assert row.seq is None, "sealed when the transaction commits, not before"
    session.commit()
    [row] = _events(session)
    assert (row.seq, row.prev_hash, row.kind, row.detail) == (1, chain.GENESIS, "pii_viewed", {"fields": ["phone"]})
    assert row.row_hash == chain.digest(session.execute(select(*chain.COLUMNS)).mappings().one(), 1, chain.GENESIS)


def test_an_event_about_an_account_names_it_as_subject(session):
    audit.record(session, "user:1", "password_changed", user_id=7)
    audit.record(session, "user:1", "pii_viewed", person_id=3)
    session.commit()
    assert [e.subject for e in _events(session)] == ["user:7", "person:3"]


def test_a_rolled_back_event_leaves_no_gap_in_the_chain(session):
    audit.record(session, "user:1", "pii_viewed")
    session.rollback()
    audit.record(session, "user:1", "pii_viewed")
    session.commit()
    assert [e.seq for e in _events(session)] == [1]
    assert _verify(session).ok


def test_events_outside_a_rolled_back_savepoint_are_still_sealed(session):
    audit.record(session, "user:1", "pii_viewed", n=1)
    savepoint = session.begin_nested()
    audit.record(session, "user:1", "pii_viewed", n=2)
    savepoint.rollback()
    audit.record(session, "user:1", "pii_viewed", n=3)
    session.commit()
    assert [(e.detail["n"], e.seq) for e in _events(session)] == [(1, 1), (3, 2)]
    assert _verify(session).ok


def test_a_case_that_fails_in_a_savepoint_keeps_a_verifiable_chain(session, people):
    diagram = ROOT / "tests" / "engine" / "diagrams" / "failing_condition.bpmn"
    RUNTIME.definitions.deploy(session, diagram.read_bytes(), "tester")
    case = cases.create_case(
        session, case_type="first_child", process_key="failing_condition", applicant_id=people.citizen.id,
        woman_name="张丽", man_name="刘强", contact_phone=people.citizen.phone,
        hukou_division=HUKOU_VILLAGE, residence_division=HUKOU_VILLAGE,
    )
    case.instance = RUNTIME.start(session, "failing_condition", {}, case.case_number, people.citizen.actor)
    session.commit()
    task = session.scalar(select(HumanTaskModel).where(HumanTaskModel.business_key == case.case_number))
    casework.decide(session, task.task_guid, people.hukou, "verified")
    session.commit()
    assert [e.kind for e in _events(session, "error")] == ["error"]
    result = _verify(session)
    assert result.ok, result.problem


# --- the events the brief lists, once each


def test_sign_in_success_and_failure_are_audited_once_each(session):
    user = accounts.create_user(session, phone="13800000001", name="张丽", role=CITIZEN, password="Test@12345")
    session.commit()
    with pytest.raises(LoginRefused):
        accounts.authenticate(session, "13800000001", "Wrong@12345")
    session.commit()
    with pytest.raises(LoginRefused):
        accounts.authenticate(session, "13800000999", "Wrong@12345")
    session.commit()
    failed = _events(session, "sign_in_failed")
    assert [(e.actor, e.subject) for e in failed] == [(user.actor, f"user:{user.id}"), ("anonymous", None)]
    assert [e.kind for e in _events(session, "account_created")] == ["account_created"]


def test_activating_and_retiring_a_version_is_audited_once_each(session, deployed):
    definition = deployed["birth_registration"]
    definitions_admin.activate(session, definition, "user:5")
    session.commit()
    [activated] = _events(session, "version_activated")
    assert (activated.actor, activated.detail["version"]) == ("user:5", definition.version)
    with pytest.raises(definitions_admin.RetireRefused):  # the only process of its case types: refused, no event
        definitions_admin.retire(session, definition, "user:5")
    session.rollback()
    assert _events(session, "version_retired") == []
    newer, created = definitions_admin.upload(session, definition.xml.replace(b'name="', b'name="new ', 1), "user:5")
    assert created
    definitions_admin.activate(session, newer, "user:5")
    definitions_admin.retire(session, definition, "user:5")
    session.commit()
    assert [e.detail["version"] for e in _events(session, "version_retired")] == [definition.version]


def test_a_deployment_is_audited_once_per_new_version(session, deployed):
    stored = session.scalar(select(func.count()).select_from(ProcessDefinitionModel))
    assert len(_events(session, "deployed")) == stored >= len(deployed)
    _definition, created = definitions_admin.upload(session, deployed["birth_registration"].xml, "user:5")
    session.commit()
    assert created is False
    assert len(_events(session, "deployed")) == stored, "an unchanged diagram is no new deployment"


def test_an_assignment_rule_change_is_audited_with_before_and_after(session):
    instances_admin.save_assignment(session, "县级复核", "county_official", None, "user:9")
    instances_admin.save_assignment(session, "县级复核", "township_staff", None, "user:9")
    session.commit()
    first, second = _events(session, "assignment_rule_saved")
    assert first.detail["before"] is None
    assert second.detail["before"] == {"role": "county_official", "jurisdiction_field": None}
    assert second.detail["after"] == {"role": "township_staff", "jurisdiction_field": None}


# --- the chain check


def test_verify_passes_on_a_fresh_database_with_case_events(session, submit):
    submit()
    result = _verify(session)
    assert result.ok, result.problem
    assert result.rows == len(_events(session)) > 5


def test_verify_names_the_row_edited_in_sql(session):
    for n in range(5):
        audit.record(session, "user:1", "pii_viewed", n=n)
    session.commit()
    if _on_postgres(session):
        pytest.skip("PostgreSQL refuses the edit itself (see the trigger test)")
    third = _events(session)[2]
    session.execute(text("UPDATE audit_event SET actor = 'user:2' WHERE id = :id"), {"id": third.id})
    session.commit()
    result = _verify(session)
    assert (result.ok, result.broken_id, result.broken_seq) == (False, third.id, 3)
    assert "修改" in result.problem


def test_verify_names_the_row_after_one_deleted_in_sql(session):
    for n in range(5):
        audit.record(session, "user:1", "pii_viewed", n=n)
    session.commit()
    if _on_postgres(session):
        pytest.skip("PostgreSQL refuses the delete itself (see the trigger test)")
    rows = _events(session)
    session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": rows[1].id})
    session.commit()
    result = _verify(session)
    assert (result.ok, result.broken_id) == (False, rows[2].id)


def test_verify_reports_a_row_inserted_around_the_service(session):
    audit.record(session, "user:1", "pii_viewed")
    session.commit()
    session.execute(text("INSERT INTO audit_event (at, actor, kind, detail) VALUES (:at, 'user:1', 'forged', '{}')"),
                    {"at": NOW})
    session.commit()
    result = _verify(session)
    assert not result.ok
    assert result.broken_seq is None
    assert "不在链中" in result.problem


def test_two_transactions_appending_at_once_keep_one_chain(app):
    """Writers in parallel threads, each committing many events: every row is chained once, in one order."""
    errors = []

    def writer(number):
        try:
            with app.app_context():
                for n in range(15):
                    with db.factory() as session:
                        audit.record(session, f"user:{number}", "pii_viewed", n=n)
                        audit.record(session, f"user:{number}", "material_viewed", n=n)
                        session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        result = audit.verify(db.session)
        db.session.rollback()
        assert result.ok, result.problem
        assert result.rows == 90
        assert db.session.scalar(select(func.count()).select_from(AuditEventModel)
                                 .where(AuditEventModel.seq.is_(None))) == 0


@pytest.mark.postgres
def test_postgres_refuses_to_change_or_delete_an_audit_row(session):
    audit.record(session, "user:1", "pii_viewed")
    session.commit()
    [row] = _events(session)
    for statement in ("UPDATE audit_event SET actor = 'user:2' WHERE id = :id",
                      "UPDATE audit_event SET seq = 99 WHERE id = :id",
                      "DELETE FROM audit_event WHERE id = :id"):
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement), {"id": row.id})
        session.rollback()
    session.execute(text("SELECT set_config('birthreg.audit_purge', 'on', true)"))
    with pytest.raises(DBAPIError, match="append-only"):  # the purge's setting does not free a recent row
        session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": row.id})
    session.rollback()
    assert _verify(session).ok


# --- retention


def _record_at(session, moment, count, kind="pii_viewed"):
    with time_machine.travel(moment, tick=False):
        for n in range(count):
            audit.record(session, "user:1", kind, n=n)
        session.commit()


def test_the_purge_deletes_only_events_past_retention_and_the_chain_still_verifies(session):
    today = datetime.now(CST)
    _record_at(session, today - timedelta(days=400), 3, "old")
    _record_at(session, today - timedelta(days=200), 2, "recent")
    _record_at(session, today - timedelta(days=1), 1, "recent")
    audit.configure(365)
    try:
        assert audit.purge_expired(session) == 3
        session.commit()
        assert [e.kind for e in _events(session)] == ["recent", "recent", "recent", "audit_purged"]
        assert _verify(session).ok
        assert audit.purge_expired(session) == 0, "nothing more is old enough"
        session.commit()
        audit.record(session, "user:1", "pii_viewed")
        session.commit()
        assert _verify(session).ok
        assert audit.configure(183) is None
        assert audit.purge_expired(session) == 2
        session.commit()
        result = _verify(session)
        assert result.ok, result.problem
    finally:
        audit.configure(365)


def test_the_purge_keeps_the_newest_row_so_the_chain_continues(session):
    _record_at(session, datetime.now(CST) - timedelta(days=400), 2)
    audit.configure(365)
    assert audit.purge_expired(session) == 1
    session.commit()
    audit.record(session, "user:1", "pii_viewed")
    session.commit()
    assert _verify(session).ok


def test_deleting_the_oldest_rows_without_the_purge_is_detected(session):
    for n in range(3):
        audit.record(session, "user:1", "pii_viewed", n=n)
    session.commit()
    if _on_postgres(session):
        pytest.skip("PostgreSQL refuses the delete itself")
    first = _events(session)[0]
    session.execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": first.id})
    session.commit()
    assert not _verify(session).ok


def test_the_periodic_tick_purges(session):
    from processes import background

    _record_at(session, datetime.now(CST) - timedelta(days=400), 2)
    audit.record(session, "user:1", "pii_viewed")
    session.commit()
    audit.configure(365)
    background.tick()
    assert [e.kind for e in _events(session)] == ["pii_viewed", "audit_purged"]
    assert _verify(session).ok


@pytest.mark.parametrize("days", ["0", "30", "182"])
def test_a_retention_below_six_months_is_refused(monkeypatch, days):
    monkeypatch.setenv("AUDIT_RETENTION_DAYS", days)
    with pytest.raises(ConfigurationError, match="AUDIT_RETENTION_DAYS"):
        check(from_environment())
    with pytest.raises(audit.RetentionTooShort):
        audit.configure(int(days))
