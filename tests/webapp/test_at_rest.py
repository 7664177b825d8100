"""Identifying numbers at rest: a dump of the database holds no ID number, phone, certificate number, code or link;
a rotated key still finds everyone, and an interrupted rotation resumes."""

import re
import sqlite3
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Text, func, select, type_coerce

from processes import inbox
from services import accounts, crypto, mail, notifications, sms_codes
from services import people as persons
from services.db import db
from tests.applications import MAN_ID, WOMAN_ID, answers
from tests.fixtures import decide, forget, post_form, sign_in
from webapp.models import metadata


def _dump(url: str) -> str:
    """Return the whole database as its own tool dumps it (what a stolen backup would hold)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            return "\n".join(connection.iterdump())
    plain = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    return subprocess.run(["pg_dump", "--data-only", plain], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def lived_in(session, people, apply, client):
    """A database after real use: a case with a child verified by a village, a staff sign-in, a recovery email."""
    phones = [user.phone for user in vars(people).values()]
    people.citizen.email = "zhangli@example.com"
    session.commit()
    case = apply("second_child", answers(children=1))
    decide(session, case, "verify_hukou", people.hukou, "verified")
    sign_in(client, session.merge(people.township))
    client.post("/auth/logout", data={})
    anonymous = client.application.test_client()
    post_form(anonymous, "/auth/forgot/email", "/auth/forgot/email", {"email": "zhangli@example.com"})
    sms_codes.issue_code(session, "13600000000", sms_codes.REGISTER)
    session.commit()
    return SimpleNamespace(case=case, phones=phones)


def test_a_dump_shows_no_id_number_phone_certificate_code_or_link(app, session, people, lived_in):  # noqa: ARG001
    codes = [m.group(0) for _to, text in notifications.DELIVERED if "验证码" in text
             for m in re.finditer(r"[0-9]{6}(?=，)", text)]
    links = [m.group(0) for _to, _subject, body in mail.DELIVERED for m in re.finditer(r"/auth/reset/\S+", body)]
    assert codes, "codes were delivered"
    assert links, "a recovery link was delivered"
    claim = answers(children=1)
    secrets = {
        "ID numbers": [WOMAN_ID, MAN_ID],
        "phones": [*lived_in.phones, claim["man"]["phone"], "13600000000", claim["man"]["employer_phone"]],
        "certificate numbers": [child["document_number"] for child in claim["children"]],
        "codes": codes,
        "links": [link.rsplit("/", 1)[-1] for link in links],
    }
    dump = _dump(app.config["DATABASE_URL"])
    assert "张丽" in dump, "the dump is real (names are not sealed)"
    for kind, values in secrets.items():
        for value in values:
            assert value not in dump, f"{kind}: {value} is readable in the dump"


def _sealed_values(session) -> list[str]:
    values = []
    for table, column in crypto.encrypted_columns(metadata):
        raw = type_coerce(table.c[column.name], Text)
        values += session.scalars(select(raw).where(raw.is_not(None))).all()
    return values


def test_a_rotated_key_still_finds_everyone(app, session, people, lived_in):
    before = _sealed_values(session)
    old = crypto.keyring().current
    assert before
    assert {value.split("$")[0] for value in before} == {old}
    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--new-key"])
    assert result.exit_code == 0, result.output
    new = crypto.keyring().current
    assert new != old
    assert f"共重新加密 {len(before)} 条" in result.output
    forget(session)
    after = _sealed_values(session)
    assert len(after) == len(before)
    assert {value.split("$")[0] for value in after} == {new}

    assert accounts.find_by_phone(session, lived_in.phones[0]).name == "张丽"
    assert persons.find_person(session, MAN_ID).phone == "13800000001"
    [child] = answers(children=1)["children"]
    assert persons.latest_claim(session, lived_in.case.id).children[0]["document_number"] == child["document_number"]
    found = inbox.inbox(session, accounts.find_by_phone(session, "13900000002"), inbox.InboxQuery(search=WOMAN_ID))
    assert [row.case_number for row in found.rows] == [lived_in.case.case_number]
    # The old key is no longer needed: with the new one alone everything still opens.
    key_file = Path(app.config["INSTANCE_DIR"]) / "data_keys"
    crypto.configure(next(line for line in key_file.read_text().split() if line.startswith(f"{new}:")), "",
                     app.config["INSTANCE_DIR"])
    forget(session)
    assert persons.find_person(session, WOMAN_ID).id_number == WOMAN_ID


def test_an_interrupted_rotation_resumes_where_it_stopped(app, session, lived_in):  # noqa: ARG001
    total = len(_sealed_values(session))
    crypto.add_key_to_file(app.config["INSTANCE_DIR"])
    crypto.configure("", "", app.config["INSTANCE_DIR"])

    done = []

    def stop(_table, _column, count):
        done.append(count)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        crypto.rotate(db.session, metadata, batch=3, progress=stop)
    db.session.rollback()
    assert done
    assert crypto.rotate(db.session, metadata, batch=3) == total - done[0], "the committed batch is not sealed again"
    assert crypto.rotate(db.session, metadata) == 0
    forget(session)
    assert session.scalar(select(func.count()).select_from(persons.PersonModel)) == 2
