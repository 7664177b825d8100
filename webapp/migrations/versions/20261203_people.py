"""People as a resource base: claims per case, verified person records with history, identifying numbers sealed.

- `case_claim` keeps what each case claimed (from its application's answers, or from its persons and children when
  it has none); `case_child` goes, its rows living on in the claims.
- `person` keeps only the identity its number encodes plus what verifications confirmed: the details are rebuilt by
  replaying, in order, every verification that confirmed a case (情况属实, 现场确认), each change kept in
  `person_change`; `person_place` lists where staff find each person.
- ID numbers, phones and certificate numbers are sealed with the configured data key (the app configures the keys
  before it migrates), with keyed hashes to find them; SMS texts keep no code and emails no recovery link.

Revision ID: 20261203_people
Revises: 20261125_process_admin
Create Date: 2026-12-03
"""

import json
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from services import crypto

revision = "20261203_people"
down_revision = "20261125_process_admin"
branch_labels = None
depends_on = None

# Decisions that confirmed a claim, as the form keys of this revision's diagrams define them.
CONFIRMING = {("village_verification", "verified"), ("offline_confirmation", "approved")}
PERSON_FIELDS = ("name", "ethnicity", "phone", "employer", "employer_phone", "marital_status", "hukou_division",
                 "residence_division")
CHILD_FIELDS = ("name", "sex", "birth_date", "document_number", "relation")
SIX_DIGITS = re.compile(r"(?<![0-9])[0-9]{6}(?![0-9])")
LINK = re.compile(r"https?://\S+")
LINK_PLACEHOLDER = "（链接仅发送给收件人，不在系统中保存）"


def _schema() -> None:
    op.create_table(
        "case_claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("submitted_by", sa.String(length=100), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["birth_case.id"], name=op.f("fk_case_claim_case_id_birth_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_claim")),
        sa.UniqueConstraint("case_id", "revision", name=op.f("uq_case_claim_case_id_revision")),
    )
    with op.batch_alter_table("case_claim") as batch_op:
        batch_op.create_index(batch_op.f("ix_case_claim_case_id"), ["case_id"], unique=False)
    op.create_table(
        "person_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=30), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["birth_case.id"], name=op.f("fk_person_change_case_id_birth_case")),
        sa.ForeignKeyConstraint(["claim_id"], ["case_claim.id"], name=op.f("fk_person_change_claim_id_case_claim")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_person_change_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_change")),
    )
    with op.batch_alter_table("person_change") as batch_op:
        batch_op.create_index(batch_op.f("ix_person_change_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_change_person_id"), ["person_id"], unique=False)

    op.create_table(
        "person_place",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("division_code", sa.String(length=12), nullable=False),
        sa.Column("rank", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=True),
        sa.Column("county_code", sa.String(length=6), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_person_place_person_id_person")),
        sa.PrimaryKeyConstraint("person_id", "division_code", "rank", name=op.f("pk_person_place")),
    )
    with op.batch_alter_table("person_place") as batch_op:
        batch_op.create_index("ix_person_place_division_code_name", ["division_code", "name", "person_id", "rank"],
                              unique=False)
        batch_op.create_index("ix_person_place_name", ["name", "division_code", "person_id", "rank"], unique=False,
                              postgresql_ops={"name": "text_pattern_ops"})
        batch_op.create_index("ix_person_place_county_code_name",
                              ["county_code", "name", "person_id", "rank", "division_code"], unique=False,
                              postgresql_ops={"name": "text_pattern_ops"})

    with op.batch_alter_table("user_account") as batch_op:
        batch_op.drop_constraint("uq_user_account_phone", type_="unique")
        batch_op.drop_constraint("uq_user_account_id_number", type_="unique")
        batch_op.alter_column("phone", type_=sa.Text(), existing_nullable=False)
        batch_op.alter_column("id_number", type_=sa.Text(), existing_nullable=True)
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("id_number_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("identity_level", sa.String(length=20), nullable=False,
                                      server_default="self_asserted"))
    with op.batch_alter_table("person") as batch_op:
        batch_op.drop_constraint("uq_person_id_number", type_="unique")
        batch_op.alter_column("id_number", type_=sa.Text(), existing_nullable=False)
        batch_op.add_column(sa.Column("id_number_hash", sa.String(length=64), nullable=True))
        batch_op.alter_column("phone", type_=sa.Text(), nullable=True)
        batch_op.alter_column("employer_phone", type_=sa.Text(), nullable=True)
        for name in ("name", "ethnicity", "employer", "marital_status", "hukou_division", "residence_division"):
            batch_op.alter_column(name, nullable=True)
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("birth_case") as batch_op:
        batch_op.alter_column("contact_phone", type_=sa.Text(), existing_nullable=False)
    with op.batch_alter_table("application") as batch_op:
        batch_op.alter_column("answers", type_=sa.Text(), existing_nullable=False)
    with op.batch_alter_table("sms_message") as batch_op:
        batch_op.drop_index("ix_sms_message_phone")
        batch_op.alter_column("phone", type_=sa.Text(), existing_nullable=False)
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("sms_code") as batch_op:
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))


def _constraints() -> None:
    with op.batch_alter_table("user_account") as batch_op:
        batch_op.alter_column("phone_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_user_account_phone_hash"), ["phone_hash"])
        batch_op.create_unique_constraint(batch_op.f("uq_user_account_id_number_hash"), ["id_number_hash"])
        batch_op.alter_column("identity_level", existing_type=sa.String(length=20), server_default=None)
    with op.batch_alter_table("person") as batch_op:
        batch_op.alter_column("id_number_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("created_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_person_id_number_hash"), ["id_number_hash"])
        batch_op.create_index(batch_op.f("ix_person_phone_hash"), ["phone_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_hukou_division"), ["hukou_division"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_residence_division"), ["residence_division"], unique=False)
        batch_op.drop_column("updated_at")
    with op.batch_alter_table("sms_message") as batch_op:
        batch_op.alter_column("phone_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_sms_message_phone_hash"), ["phone_hash"], unique=False)
    with op.batch_alter_table("sms_code") as batch_op:
        batch_op.drop_index("ix_sms_code_phone")
        batch_op.drop_column("phone")
        batch_op.alter_column("phone_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_sms_code_phone_hash"), ["phone_hash"], unique=False)
    with op.batch_alter_table("case_child") as batch_op:
        batch_op.drop_index("ix_case_child_case_id")
    op.drop_table("case_child")


def _seal(value):
    return None if value is None else crypto.encrypt(str(value))


def _blind(value):
    return None if value is None else crypto.blind(value)


def _iso(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def _seal_rows(bind, table: str, key: str, columns: dict) -> None:
    """Rewrite each row's columns: `columns` maps a column to a function of the row giving its new value."""
    names = sorted({key} | {source for _target, (source, _f) in columns.items()})
    rows = bind.execute(sa.text(f"SELECT {', '.join(names)} FROM {table}")).mappings().all()  # noqa: S608 - names are constants
    if not rows:
        return
    assignments = ", ".join(f"{target} = :{target}" for target in columns)
    statement = sa.text(f"UPDATE {table} SET {assignments} WHERE {key} = :_key")  # noqa: S608 - names are constants
    for row in rows:
        bind.execute(statement, {"_key": row[key], **{target: make(row[source])
                                                      for target, (source, make) in columns.items()}})


def _claims(bind) -> dict[int, tuple[int, dict]]:
    """Write one claim per existing case; return {case id: (claim id, answers)}."""
    answers_of = {row.case_id: json.loads(row.answers) if isinstance(row.answers, str) else row.answers
                  for row in bind.execute(sa.text("SELECT case_id, answers FROM application WHERE case_id IS NOT NULL"))}
    persons = {row["id"]: dict(row) for row in bind.execute(sa.text("SELECT * FROM person")).mappings()}
    children: dict[int, list] = {}
    for row in bind.execute(sa.text(f"SELECT case_id, {', '.join(CHILD_FIELDS)} FROM case_child ORDER BY id")).mappings():  # noqa: S608,E501 - constants
        children.setdefault(row["case_id"], []).append({field: _iso(row[field]) for field in CHILD_FIELDS})
    written = {}
    cases = bind.execute(sa.text("SELECT id, applicant_id, woman_id, man_id, woman_name, man_name, submitted_at "
                                 "FROM birth_case ORDER BY id")).mappings().all()
    for case in cases:
        answers = answers_of.get(case["id"])
        if answers is None:
            answers = {"children": children.get(case["id"], []), "after_birth": False}
            for side, ident, name in (("woman", case["woman_id"], case["woman_name"]),
                                      ("man", case["man_id"], case["man_name"])):
                person = persons.get(ident) or {}
                answers[side] = {"name": person.get("name") or name, "id_number": person.get("id_number"),
                                 "birth_date": _iso(person.get("birth_date")),
                                 **{field: person.get(field) for field in PERSON_FIELDS if field != "name"}}
        submitted = case["submitted_at"]
        bind.execute(sa.text("INSERT INTO case_claim (case_id, revision, answers, submitted_by, submitted_at) "
                             "VALUES (:case_id, 1, :answers, :by, :at)"),
                     {"case_id": case["id"], "answers": crypto.encrypt(json.dumps(answers, ensure_ascii=False,
                                                                                  sort_keys=True)),
                      "by": f"user:{case['applicant_id']}", "at": submitted})
        claim_id = bind.execute(sa.text("SELECT id FROM case_claim WHERE case_id = :c"), {"c": case["id"]}).scalar()
        written[case["id"]] = (claim_id, answers, case["woman_id"], case["man_id"])
    return written


def _replay_confirmations(bind, claims: dict) -> None:
    """Rebuild each person's details from the verifications that confirmed a claim, oldest first."""
    bind.execute(sa.text("UPDATE person SET name = NULL, ethnicity = NULL, phone = NULL, employer = NULL, "
                         "employer_phone = NULL, marital_status = NULL, hukou_division = NULL, "
                         "residence_division = NULL"))
    confirmations = bind.execute(sa.text(
        "SELECT v.case_id, v.actor, v.at, t.form_key, v.decision FROM case_verification v "
        "JOIN birth_case c ON c.id = v.case_id "
        "LEFT JOIN human_task t ON t.business_key = c.case_number AND t.bpmn_id = v.step "
        "ORDER BY v.id")).mappings().all()
    state: dict[int, dict] = {}
    seen = set()
    for row in confirmations:
        if (row["form_key"], row["decision"]) not in CONFIRMING or row["case_id"] not in claims:
            continue
        claim_id, answers, woman_id, man_id = claims[row["case_id"]]
        for side, person_id in (("woman", woman_id), ("man", man_id)):
            if person_id is None or (row["case_id"], person_id) in seen:
                continue
            seen.add((row["case_id"], person_id))
            current = state.setdefault(person_id, dict.fromkeys(PERSON_FIELDS))
            for field in PERSON_FIELDS:
                new = answers.get(side, {}).get(field) or None
                if new == current[field]:
                    continue
                bind.execute(sa.text(
                    "INSERT INTO person_change (person_id, case_id, claim_id, field, old_value, new_value, actor, at) "
                    "VALUES (:p, :c, :claim, :f, :old, :new, :actor, :at)"),
                    {"p": person_id, "c": row["case_id"], "claim": claim_id, "f": field,
                     "old": _seal(current[field]), "new": _seal(new), "actor": row["actor"], "at": row["at"]})
                current[field] = new
            bind.execute(sa.text("UPDATE person SET verified_at = :at WHERE id = :p"), {"at": row["at"], "p": person_id})
    for person_id, fields in state.items():
        bind.execute(sa.text(
            "UPDATE person SET name = :name, ethnicity = :ethnicity, phone = :phone, phone_hash = :phone_hash, "
            "employer = :employer, employer_phone = :employer_phone, marital_status = :marital_status, "
            "hukou_division = :hukou_division, residence_division = :residence_division WHERE id = :p"),
            {**fields, "phone": _seal(fields["phone"]), "phone_hash": _blind(fields["phone"]),
             "employer_phone": _seal(fields["employer_phone"]), "p": person_id})


# Where staff find each person (services.people.refresh_places, written here once for every person).
PLACES = """
INSERT INTO person_place (person_id, division_code, rank, name, county_code)
SELECT id, hukou_division, 1, name, substr(hukou_division, 1, 6) FROM person WHERE hukou_division IS NOT NULL
UNION SELECT id, residence_division, 2, name, substr(residence_division, 1, 6) FROM person
      WHERE residence_division IS NOT NULL
UNION SELECT c.woman_id, c.hukou_division, 3, p.name, substr(c.hukou_division, 1, 6)
      FROM birth_case c JOIN person p ON p.id = c.woman_id
UNION SELECT c.man_id, c.hukou_division, 3, p.name, substr(c.hukou_division, 1, 6)
      FROM birth_case c JOIN person p ON p.id = c.man_id
UNION SELECT c.woman_id, c.residence_division, 4, p.name, substr(c.residence_division, 1, 6)
      FROM birth_case c JOIN person p ON p.id = c.woman_id
UNION SELECT c.man_id, c.residence_division, 4, p.name, substr(c.residence_division, 1, 6)
      FROM birth_case c JOIN person p ON p.id = c.man_id
"""


def _data() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM user_account")).scalar() == 0:
        return  # a new database: nothing to move (and no keys needed)
    now = datetime.now(UTC)
    claims = _claims(bind)
    _replay_confirmations(bind, claims)
    bind.execute(sa.text(PLACES))
    _seal_rows(bind, "person", "id", {"id_number_hash": ("id_number", _blind), "id_number": ("id_number", _seal),
                                      "created_at": ("id", lambda _ident: now)})
    _seal_rows(bind, "user_account", "id", {"phone_hash": ("phone", _blind), "phone": ("phone", _seal),
                                            "id_number_hash": ("id_number", _blind),
                                            "id_number": ("id_number", _seal)})
    _seal_rows(bind, "birth_case", "id", {"contact_phone": ("contact_phone", _seal)})
    _seal_rows(bind, "application", "id", {"answers": ("answers", lambda answers: crypto.encrypt(
        answers if isinstance(answers, str) else json.dumps(answers, ensure_ascii=False)))})
    _seal_rows(bind, "sms_message", "id", {"phone_hash": ("phone", _blind), "phone": ("phone", _seal)})
    _seal_rows(bind, "sms_message", "id", {"text": ("text", lambda text: SIX_DIGITS.sub("******", text))})
    _seal_rows(bind, "sms_code", "id", {"phone_hash": ("phone", _blind)})
    _seal_rows(bind, "email_message", "id", {"body": ("body", lambda body: LINK.sub(LINK_PLACEHOLDER, body))})


def upgrade() -> None:
    _schema()
    _data()
    _constraints()


def downgrade() -> None:
    raise RuntimeError("sealed numbers cannot be unsealed by a schema downgrade; restore a backup instead")
