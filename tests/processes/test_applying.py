"""Applications: prefill from what the system knows, parity against earlier registrations, one case per draft."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from processes import applying
from processes.applying import ApplicationRefused
from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE
from services import applications, people
from tests.applications import MAN_ID, WOMAN_ID, answers
from tests.fixtures import decide, forget


def test_a_submission_stores_the_spouses_as_persons_and_copies_the_reporting_fields(session, apply):
    # 04:00 on her 33rd birthday in China, still the day before in UTC: ages count by the China date.
    with time_machine.travel(datetime(2026, 3, 6, 20, 0, tzinfo=UTC), tick=False):
        case = apply()
    woman = people.find_person(session, WOMAN_ID)
    assert woman is not None
    assert woman.sex == "2"
    assert woman.birth_date == date(1993, 3, 7)
    assert case.woman_id == woman.id
    assert case.man_id == people.find_person(session, MAN_ID).id
    assert case.parity == 1
    assert case.mother_ethnicity == "01"
    assert case.mother_age == 33
    assert case.hukou_division == HUKOU_VILLAGE
    assert case.residence_division == RESIDENCE_VILLAGE
    assert case.status == "办理中"


def test_submitting_the_same_draft_twice_makes_one_case(session, people, deployed):  # noqa: ARG001
    draft = applications.start(session, people.citizen.id, "first_child")
    first = applying.submit(session, people.citizen, draft.token, answers())
    session.commit()
    again = applying.submit(session, people.citizen, draft.token, answers())
    session.commit()
    assert again.id == first.id
    assert session.query(applications.ApplicationModel).one().case_id == first.id


def test_parity_must_match_the_shared_children_declared(session, apply):
    with pytest.raises(ApplicationRefused) as refused:
        apply("second_child", answers(children=0))
    assert "应为 1 个，您填写了 0 个" in refused.value.problems["children"]
    session.rollback()
    assert apply("second_child", answers(children=1)).parity == 2


def test_a_registered_first_child_is_known_to_the_next_application(session, people, apply):
    first = apply()
    for step in ("verify_hukou", "verify_residence"):
        first = decide(session, first, step, people.hukou if step == "verify_hukou" else people.residence, "verified")
    first = decide(session, first, "township_audit", people.township, "approved")
    assert first.status == "登记成功"

    with pytest.raises(ApplicationRefused) as refused:
        apply("first_child")
    assert refused.value.problems["case_type"] == (
        f"系统中已有该夫妻的一孩登记（受理编号 {first.case_number}，登记成功），本次不能再申请一孩登记")
    forget(session)
    assert [c.case_number for c in applying.couple_cases(session, WOMAN_ID, MAN_ID)] == [first.case_number]


def test_a_case_under_way_blocks_a_duplicate(session, apply):
    running = apply()
    with pytest.raises(ApplicationRefused) as refused:
        apply()
    assert refused.value.problems["case_type"] == (
        f"该夫妻的一孩登记（受理编号 {running.case_number}）正在办理中，请勿重复申请")


def test_unknown_divisions_and_one_person_as_both_spouses_are_refused(session, apply):
    given = answers()
    given["woman"]["hukou_division"] = "110101001999"
    given["man"]["id_number"] = WOMAN_ID
    with pytest.raises(ApplicationRefused) as refused:
        apply(given=given)
    assert refused.value.problems == {
        "man-id_number": "男方与女方的身份证号码不能相同",
        "woman-hukou_division": "女方户籍地区划代码 110101001999 不存在，请重新选择",
    }
    assert session.query(people.PersonModel).count() == 0


def test_prefill_offers_the_couple_and_children_of_the_last_case(session, people, apply):
    apply("second_child", answers(children=1))
    people.citizen.id_number = WOMAN_ID
    known = applying.prefill(session, people.citizen)
    assert known["woman"]["name"] == "张丽"
    assert known["woman"]["hukou_division"] == HUKOU_VILLAGE
    assert known["man"]["id_number"] == MAN_ID
    assert known["man"]["employer"] == "东城区某公司"
    assert [c["name"] for c in known["children"]] == ["刘小0"]


def test_prefill_of_a_first_time_applicant_uses_their_registration(session, people):
    people.citizen.id_number = WOMAN_ID
    assert applying.prefill(session, people.citizen) == {
        "children": [], "woman": {"name": "张丽", "id_number": WOMAN_ID, "birth_date": date(1993, 3, 7),
                                  "phone": "13800000001"}}


def test_answers_survive_storage_as_json(session):
    given = answers(children=1)
    assert applying.loaded(applying.stored(given)) == given
