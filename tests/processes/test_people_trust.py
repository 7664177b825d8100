"""Nobody's data shown to a stranger, and a claim never rewrites anyone's record: the attacks, and a property test.

The victim family is 张丽 (WOMAN_ID, the registered citizen) and 刘强 (MAN_ID), whose first case was verified. The
attacker is another citizen who either registered with 刘强's ID number or names him as a spouse.
"""

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from processes import applying, casework
from processes.applying import ApplicationRefused
from processes.roles import CITIZEN
from services import accounts, applications, identity
from services import people as persons
from tests.applications import MAN_ID, WOMAN_ID, answers, spouse
from tests.fixtures import decide, forget
from tests.identities import id_number

ATTACKER_PHONE = "13700000009"


@pytest.fixture
def victims(session, people, apply):
    """The victim couple's first case, submitted by 张丽 with one child and verified by both villages."""
    accounts.bind_id_number(people.citizen, WOMAN_ID)
    session.commit()
    case = apply()
    for step, clerk in (("verify_hukou", people.hukou), ("verify_residence", people.residence)):
        case = decide(session, case, step, clerk, "verified")
    return case


def _attacker(session, id_number_text: str | None = None):
    user = accounts.create_user(session, phone=ATTACKER_PHONE, name="钱攻击", role=CITIZEN, password="Test@12345")
    if id_number_text:
        user.id_number = id_number_text  # claimed at registration, held by nobody else
    session.commit()
    return user


def _record(session, number):
    forget(session)
    person = persons.find_person(session, number)
    return {field: getattr(person, field) for field in persons.PERSON_FIELDS}


def test_a_stranger_registered_with_a_victims_id_number_is_prefilled_with_nothing_of_the_family(session, victims):
    assert victims.status == "办理中"
    attacker = _attacker(session, MAN_ID)
    prefilled = applying.prefill(session, attacker)
    assert prefilled == {"children": [], "man": {"name": "钱攻击", "id_number": MAN_ID, "birth_date": date(1991, 5, 12),
                                                 "phone": ATTACKER_PHONE}}
    assert "woman" not in prefilled, "the victim's wife must not appear because her husband's number was typed"


def test_naming_a_victim_as_spouse_changes_nothing_in_the_victims_record_or_case(session, people, victims):
    before = _record(session, MAN_ID)
    assert before["phone"] == "13800000001", "the victim's record holds what his verified case claimed"
    victim_claim = people_module_claim(session, victims)

    attacker = _attacker(session)
    hostile = answers(woman_id=id_number("19950101", "2", serial=77))
    hostile["man"] = spouse(MAN_ID, "刘强", phone="13700000009", employer="攻击者公司", ethnicity="03",
                            marital_status="22")
    draft = applications.start(session, attacker.id, "first_child")
    applying.submit(session, attacker, draft.token, hostile)
    session.commit()

    assert _record(session, MAN_ID) == before, "a claim does not write the resource base"
    assert people_module_claim(session, victims) == victim_claim, "the victim's case shows what he claimed"
    changes = persons.history(session, persons.find_person(session, MAN_ID).id)
    assert changes
    assert {change.case_id for change in changes} == {victims.id}, "only his verified case changed him"


def people_module_claim(session, case):
    forget(session)
    return persons.latest_claim(session, case.id).man


def test_typing_a_couples_id_numbers_reveals_none_of_their_cases(session, victims):
    attacker = _attacker(session)
    draft = applications.start(session, attacker.id, "first_child")
    with pytest.raises(ApplicationRefused) as refused:
        applying.submit(session, attacker, draft.token, answers())
    message = refused.value.problems["case_type"]
    assert victims.case_number not in message
    assert "办理中" not in message
    assert "张丽" not in message
    assert message.startswith("该夫妻已有第1孩的登记或申请")


def test_a_verification_confirms_the_claim_and_keeps_every_change(session, people, apply):
    case = apply()
    man = persons.find_person(session, MAN_ID)
    assert (man.name, man.phone, man.verified_at) == (None, None, None), "a submission alone verifies nothing"
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    record = _record(session, MAN_ID)
    assert (record["name"], record["employer"]) == ("刘强", "东城区某公司")
    changes = persons.history(session, persons.find_person(session, MAN_ID).id)
    assert {c.field for c in changes} == set(persons.PERSON_FIELDS)
    assert all((c.case_id, c.actor, c.old_value) == (case.id, people.hukou.actor, None) for c in changes)
    decide(session, case, "verify_residence", people.residence, "verified")
    assert len(persons.history(session, persons.find_person(session, MAN_ID).id)) == len(changes), "idempotent"


def test_claims_are_kept_per_submission_and_never_rewritten(session, people, apply):
    case = apply()
    case = decide(session, case, "verify_hukou", people.hukou, "mismatch", "电话不对")
    case = decide(session, case, "verify_residence", people.residence, "verified")
    corrected = answers()
    corrected["man"]["phone"] = "13800000077"
    applying.correct(session, people.citizen, case, corrected)
    session.commit()
    kept = persons.claims(session, case.id)
    assert [(c.revision, c.man["phone"]) for c in kept] == [(1, "13800000001"), (2, "13800000077")]
    row = session.get(persons.ClaimModel, kept[0].id)
    row.submitted_by = "someone"
    with pytest.raises(ValueError, match="不可修改"):
        session.flush()


# --- Property: over random sequences of applications, corrections and verifications by several accounts, no account
# is ever offered a value it did not submit itself, and every person record is the fold of its confirmed claims.

ACCOUNTS = 3
ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("apply"), st.integers(0, ACCOUNTS - 1), st.integers(0, 2), st.integers(0, 2),
              st.integers(0, 9)),
    st.tuples(st.just("verify"), st.integers(0, 7), st.sampled_from(["verified", "mismatch"])),
    st.tuples(st.just("correct"), st.integers(0, 7), st.integers(0, 9)),
), min_size=1, max_size=8)
_examples = itertools.count()
PLACE = (persons.PersonPlaceModel.person_id, persons.PersonPlaceModel.division_code, persons.PersonPlaceModel.rank,
         persons.PersonPlaceModel.name)


def _number(day: int, sex: str) -> str:
    born = date(1975, 1, 1) + timedelta(days=day)
    return id_number(born.strftime("%Y%m%d"), sex)


def _answers_of(woman: str, man: str, variant: int) -> dict:
    given = answers(woman_id=woman, man_id=man, same_village=True)
    for side in persons.SPOUSES:
        given[side]["phone"] = f"13{variant}{'1' if side == 'woman' else '2'}0000000"[:11]
        given[side]["employer"] = f"单位{variant}"
    return given


def _offered(prefilled: dict) -> set:
    return {(side, field, str(value)) for side in persons.SPOUSES for field, value in prefilled.get(side, {}).items()}


def _submitted(given: dict) -> set:
    return {(side, field, str(value)) for side in persons.SPOUSES for field, value in given[side].items()}


def _assert_places_are_derived(session) -> None:
    stored = set(session.execute(select(*PLACE)).all())
    rebuilt = session.begin_nested()
    persons.rebuild_places(session)
    assert set(session.execute(select(*PLACE)).all()) == stored, "the places kept are the places derived"
    rebuilt.rollback()


def _registration(user) -> set:
    parsed = identity.parse(user.id_number)
    return {(side, field, str(value)) for side in persons.SPOUSES for field, value in (
        ("name", user.name), ("id_number", user.id_number), ("phone", user.phone),
        ("birth_date", parsed.birth_date))}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_no_account_receives_what_it_did_not_submit_and_records_fold_their_confirmed_claims(
        session, people, deployed, actions):  # noqa: ARG001 - deployed diagrams are needed to start cases
    # The database is shared by the examples: each works on ID numbers and phones of its own.
    example = next(_examples)
    women = [_number(example * 20 + i, "2") for i in range(3)]
    men = [_number(example * 20 + 10 + i, "1") for i in range(3)]
    citizens = []
    for i in range(ACCOUNTS):
        user = accounts.create_user(session, phone=f"136{example:05d}{i:03d}", name=f"申请人{i}", role=CITIZEN,
                                    password="Test@12345")
        user.id_number = _number(example * 20 + 5 + i, "1")
        citizens.append(user)
    session.commit()
    own: dict[int, set] = {user.id: set() for user in citizens}
    made: list = []  # (case, the account that submitted it)
    fold: dict[str, dict] = {}
    for action in actions:
        if action[0] == "apply":
            _, who, woman, man, variant = action
            user = citizens[who]
            given = _answers_of(women[woman], men[man], variant)
            draft = applications.start(session, user.id, "first_child")
            try:
                case = applying.submit(session, user, draft.token, given)
            except ApplicationRefused:
                session.rollback()
                continue
            session.commit()
            own[user.id] |= _submitted(given)
            made.append((case, user))
        elif action[0] == "verify" and made:
            case, _user = made[action[1] % len(made)]
            forget(session)
            if not any(t.bpmn_id == "verify_both" for t in casework.open_tasks(session, case)):
                continue
            decide(session, case, "verify_both", people.hukou, action[2], "" if action[2] == "verified" else "不符")
            if action[2] == "verified":
                claim = persons.latest_claim(session, case.id)
                for side in persons.SPOUSES:
                    fold[claim.spouse(side)["id_number"]] = {
                        field: claim.spouse(side)[field] or None for field in persons.PERSON_FIELDS}
        elif action[0] == "correct" and made:
            case, user = made[action[1] % len(made)]
            forget(session)
            if not any(t.role == CITIZEN for t in casework.open_tasks(session, case)):
                continue
            claim = persons.latest_claim(session, case.id)
            given = _answers_of(claim.woman["id_number"], claim.man["id_number"], action[2])
            applying.correct(session, user, case, given)
            session.commit()
            own[user.id] |= _submitted(given)
        forget(session)
        for user in citizens:
            assert _offered(applying.prefill(session, user)) <= own[user.id] | _registration(user)
        _assert_places_are_derived(session)
        for number in women + men:
            person = persons.find_person(session, number)
            expected = fold.get(number, dict.fromkeys(persons.PERSON_FIELDS))
            assert person is None or {field: getattr(person, field) for field in persons.PERSON_FIELDS} == expected
