"""The resource-base migration moves a database filled by the previous schema without losing or changing a case.

Rows are written as the previous release wrote them (plain numbers, one person row per ID number holding whatever
was last submitted, children per case, codes in SMS texts, links in emails); after `upgrade` every case has its
claim, persons hold only what verifications confirmed, and nothing identifying is readable.
"""

import json
import os
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import column, create_engine, insert, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from services import accounts, crypto, people
from services.cases import CaseModel
from tests.applications import MAN_ID, WOMAN_ID, answers
from webapp.migrations import upgrade

BEFORE = "20261125_process_admin"
AT = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
CITIZEN_PHONE, CLERK_PHONE = "13800000001", "13900000001"


def _stored(value):
    return value.isoformat() if isinstance(value, date) else value


def _fill(connection) -> None:
    rows = {
        "user_account": [
            {"id": 1, "phone": CITIZEN_PHONE, "name": "张丽", "role": "citizen", "password_hash": "x",
             "id_number": WOMAN_ID, "created_at": AT},
            {"id": 2, "phone": CLERK_PHONE, "name": "李多福", "role": "village_staff", "password_hash": "x",
             "division_code": "110101001001", "created_at": AT}],
        # What the last submission wrote: here a stranger's claim had overwritten 刘强's phone and employer.
        "person": [
            {"id": 1, "id_number": WOMAN_ID, "name": "张丽", "birth_date": date(1993, 3, 7), "sex": "2",
             "ethnicity": "01", "phone": CITIZEN_PHONE, "employer": "东城区某公司", "employer_phone": "010-12345678",
             "marital_status": "21", "hukou_division": "110101001001", "residence_division": "110101002001",
             "updated_at": AT},
            {"id": 2, "id_number": MAN_ID, "name": "刘强", "birth_date": date(1991, 5, 12), "sex": "1",
             "ethnicity": "01", "phone": "13700000009", "employer": "攻击者公司", "employer_phone": "010-99999999",
             "marital_status": "21", "hukou_division": "110101001001", "residence_division": "110101002001",
             "updated_at": AT}],
        "birth_case": [
            {"id": 1, "case_number": "20261120000001", "case_type": "first_child", "process_key": "birth_registration",
             "status": "办理中", "applicant_id": 1, "woman_name": "张丽", "man_name": "刘强",
             "contact_phone": CITIZEN_PHONE, "hukou_division": "110101001001", "residence_division": "110101002001",
             "submitted_at": AT, "status_changed_at": AT, "woman_id": 1, "man_id": 2, "parity": 1},
            {"id": 2, "case_number": "20261120000002", "case_type": "second_child",
             "process_key": "birth_registration", "status": "办理中", "applicant_id": 1, "woman_name": "张丽",
             "man_name": "刘强", "contact_phone": CITIZEN_PHONE, "hukou_division": "110101001001",
             "residence_division": "110101002001", "submitted_at": AT, "status_changed_at": AT, "woman_id": 1,
             "man_id": 2, "parity": 2}],
        "application": [
            {"id": 1, "token": "t1", "applicant_id": 1, "case_type": "first_child", "status": "submitted",
             "answers": json.dumps({k: {f: _stored(v) for f, v in s.items()} if isinstance(s, dict) else s
                                    for k, s in answers().items()}, ensure_ascii=False),
             "case_id": 1, "created_at": AT, "updated_at": AT}],
        "case_child": [{"id": 1, "case_id": 2, "name": "刘小一", "sex": "1", "birth_date": date(2024, 1, 1),
                        "document_number": "O110000123456", "relation": "both"}],
        "process_definition": [{"id": 1, "key": "birth_registration", "name": "生育登记", "version": 1,
                                "sha256": "0" * 64, "xml": b"<x/>", "active": True, "deployed_by": "test",
                                "deployed_at": AT, "kind": "bpmn"}],
        "process_instance": [{"id": 1, "definition_id": 1, "process_key": "birth_registration", "status": "running",
                              "state": "{}", "serializer_version": "1", "version_id": 1, "incident": False,
                              "started_by": "user:1", "started_at": AT, "business_key": "20261120000001"}],
        "human_task": [{"id": 1, "instance_id": 1, "process_key": "birth_registration", "task_guid": "g1",
                        "bpmn_id": "verify_hukou", "name": "户籍地村（居）核实", "role": "village_staff",
                        "status": "completed", "created_at": AT, "business_key": "20261120000001",
                        "form_key": "village_verification"}],
        "case_verification": [{"id": 1, "case_id": 1, "step": "verify_hukou", "step_name": "户籍地村（居）核实",
                               "actor": "user:2", "decision": "verified", "reason": "", "at": AT}],
        "sms_message": [{"id": 1, "phone": CLERK_PHONE, "template": "verification_code",
                         "text": "【生育登记】您的验证码为482913，5分钟内有效。请勿告诉他人。", "provider": "record",
                         "created_at": AT}],
        "sms_code": [{"id": 1, "phone": CLERK_PHONE, "purpose": "staff_login", "code_hash": "h", "attempts": 0,
                      "created_at": AT, "expires_at": AT}],
        "email_message": [{"id": 1, "to_address": "zhangli@example.com", "kind": "password_reset", "subject": "重置",
                           "body": "请打开 http://localhost/auth/reset/SECRETTOKEN 设置新密码", "provider": "record",
                           "created_at": AT}],
    }
    for name, values in rows.items():
        for row in values:
            connection.execute(insert(table(name, *(column(key) for key in row))).values(row))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def old_database(request):
    """A private database at the previous revision (never the shared test database)."""
    if request.param == "sqlite":
        path = Path(tempfile.mkdtemp()) / "old.db"
        yield f"sqlite:///{path}"
        return
    admin_url = os.environ.get("TEST_DATABASE_URL", "")
    name = f"birthreg_migration_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def test_the_migration_keeps_every_case_and_seals_every_number(old_database, app):
    upgrade(old_database, BEFORE)
    engine = create_engine(old_database)
    with engine.begin() as connection:
        _fill(connection)
    # The app configures its keys before it migrates (flask init, db upgrade): the same keys here.
    crypto.configure(app.config["DATA_KEYS"], app.config["INDEX_KEY"], app.config["INSTANCE_DIR"])
    try:
        upgrade(old_database)
        with engine.connect() as connection:
            raw_phone = connection.execute(text("SELECT phone FROM user_account WHERE id = 1")).scalar()
            raw_sms = connection.execute(text("SELECT text, phone FROM sms_message")).one()
            raw_mail = connection.execute(text("SELECT body FROM email_message")).scalar()
        assert raw_phone.startswith(crypto.keyring().current + "$")
        assert "482913" not in raw_sms.text
        assert CLERK_PHONE not in raw_sms.phone
        assert "SECRETTOKEN" not in raw_mail

        with Session(engine) as session:
            kept = [(c.case_number, c.status, c.woman_name, c.contact_phone)
                    for c in session.query(CaseModel).order_by(CaseModel.id)]
            assert kept == [("20261120000001", "办理中", "张丽", CITIZEN_PHONE),
                            ("20261120000002", "办理中", "张丽", CITIZEN_PHONE)]
            first, second = people.latest_claim(session, 1), people.latest_claim(session, 2)
            assert first.man["phone"] == "13800000001", "the first case claims what its application said"
            assert second.man["phone"] == "13700000009", "a case without an application claims its persons' rows"
            assert [child["document_number"] for child in second.children] == ["O110000123456"]

            man = people.find_person(session, MAN_ID)
            assert (man.phone, man.employer) == ("13800000001", "东城区某公司"), "only the verified claim counts"
            assert man.verified_at is not None
            changes = people.history(session, man.id)
            assert {(c.field, c.actor, c.case_id) for c in changes} >= {("phone", "user:2", 1)}
            places = {(row.division_code, row.rank, row.name) for row in session.query(people.PersonPlaceModel)
                      .filter(people.PersonPlaceModel.person_id == man.id)}
            verified_residence = answers()["man"]["residence_division"]
            assert places == {("110101001001", 1, "刘强"), (verified_residence, 2, "刘强"),
                              ("110101001001", 3, "刘强"), ("110101002001", 4, "刘强")}
            assert accounts.find_by_phone(session, CITIZEN_PHONE).name == "张丽"
            assert accounts.holder_of_id_number(session, WOMAN_ID).id == 1
    finally:
        engine.dispose()
