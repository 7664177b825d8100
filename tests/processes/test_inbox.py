"""The staff inbox through the service layer: visibility, views and counts, filters, search, paging and claims."""

import threading
from contextlib import contextmanager
from datetime import date, datetime

import pytest
import time_machine
from sqlalchemy import event, select, update

from engine.calendar import CST
from engine.errors import NotFound, TaskConflict
from engine.models import AuditEventModel, HumanTaskModel
from processes import casework, inbox
from processes.casework import CaseworkError, Forbidden
from processes.demo import HUKOU_VILLAGE, OTHER_VILLAGE, RESIDENCE_VILLAGE, TOWNSHIP
from processes.inbox import VIEWS, InboxQuery
from processes.roles import TOWNSHIP_STAFF, VILLAGE_STAFF
from services import accounts, divisions
from services.accounts import UserModel
from services.db import db
from services.people import ensure_person
from tests.fixtures import decide, forget, open_task
from tests.identities import id_number

MONDAY_MORNING = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
WEDNESDAY_MORNING = datetime(2026, 3, 4, 9, 0, tzinfo=CST)
FRIDAY_MORNING = datetime(2026, 3, 6, 9, 0, tzinfo=CST)


def _page(session, user, view="todo", **filters):
    return inbox.inbox(session, user, InboxQuery(view=view, **filters))


def _tasks(page):
    return [(row.case_number, row.bpmn_id) for row in page.rows]


def _counts(session, user, **filters):
    return _page(session, user, **filters).counts


def _staff(session, phone, name, role, division):
    user = accounts.create_user(session, phone=phone, name=name, role=role, password="Test@12345",
                                division_code=division)
    session.commit()
    return user


def _apply(session, people, woman_name="张丽", man_name="刘强", case_type="first_child", hukou=HUKOU_VILLAGE,
           residence=RESIDENCE_VILLAGE):
    case = casework.submit(session, people.citizen, case_type=case_type, woman_name=woman_name, man_name=man_name,
                           contact_phone=people.citizen.phone, hukou_division=hukou, residence_division=residence)
    session.commit()
    return case


def _audits(session, kind):
    return list(session.scalars(select(AuditEventModel).where(AuditEventModel.kind == kind)
                                .order_by(AuditEventModel.id)))


@contextmanager
def _statements():
    """Collect the SQL statements run on the test database."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, _params, _context, _many):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


# -- visibility -----------------------------------------------------------------------------------------------------


def test_each_village_sees_only_its_own_verification_and_the_township_sees_the_audit_after_both(
        session, people, submit):
    case = submit()
    assert _tasks(_page(session, people.hukou)) == [(case.case_number, "verify_hukou")]
    assert _tasks(_page(session, people.residence)) == [(case.case_number, "verify_residence")]
    for outsider in (people.other, people.county, people.township, people.citizen):
        page = _page(session, outsider)
        assert (page.rows, page.total, page.counts) == ([], 0, dict.fromkeys(VIEWS, 0)), outsider.name

    decide(session, case, "verify_hukou", people.hukou, "verified")
    assert _page(session, people.township).rows == [], "the audit waits for both verifications"
    decide(session, case, "verify_residence", people.residence, "verified")
    row, = _page(session, people.township).rows
    assert (row.case_number, row.bpmn_id, row.form_key, row.name) == (
        case.case_number, "township_audit", "township_audit", "乡镇（街道）审核")
    assert (row.case_type, row.case_type_label, row.woman_name, row.man_name, row.case_status) == (
        "first_child", "一孩登记", "张丽", "刘强", "办理中")
    assert (row.division_code, row.claimed_by, row.overdue, row.status) == (HUKOU_VILLAGE, None, False, "open")
    for outsider in (people.other, people.county, people.hukou, people.residence, people.citizen):
        assert _page(session, outsider).rows == [], outsider.name


def test_the_inbox_reads_task_rows_only_never_workflow_state(session, people, submit):
    submit()
    forget(session)
    assert people.hukou.role == VILLAGE_STAFF  # loads the user before counting
    with _statements() as seen:
        page = _page(session, people.hukou, case_type="first_child", search="张")
    assert page.total == 1
    seen = [statement for statement in seen if statement != "BEGIN"]
    assert len(seen) == 2, "one query for the counts of every view, one for the page"
    assert not any("process_instance" in statement for statement in seen)
    assert all("human_task.division_code >=" in statement for statement in seen), "a range an index serves"
    assert not any("division_code LIKE" in statement for statement in seen)


def test_users_without_tasks_of_their_role_get_an_empty_page(session, people, submit):
    submit()
    hall = _staff(session, "13900000011", "刘大厅", "service_hall", TOWNSHIP)
    nowhere = _staff(session, "13900000012", "无辖区", VILLAGE_STAFF, None)
    for user in (people.citizen, people.county, hall, nowhere):
        for view in VIEWS:
            page = _page(session, user, view)
            assert (page.rows, page.total, page.pages, page.label) == ([], 0, 1, VIEWS[view])


# -- views and counts -----------------------------------------------------------------------------------------------


def test_views_and_counts_follow_claims_and_completions(session, people, submit):
    colleague = _staff(session, "13900000004", "钱多福", VILLAGE_STAFF, HUKOU_VILLAGE)
    first, second = submit(), submit()
    assert _counts(session, people.hukou) == {"todo": 2, "claimed": 0, "done": 0, "overdue": 0}

    inbox.claim(session, people.hukou, open_task(session, first, "verify_hukou").id)
    session.commit()
    assert _counts(session, people.hukou) == {"todo": 2, "claimed": 1, "done": 0, "overdue": 0}
    assert _tasks(_page(session, people.hukou, "claimed")) == [(first.case_number, "verify_hukou")]
    assert _counts(session, colleague) == {"todo": 1, "claimed": 0, "done": 0, "overdue": 0}, \
        "a task claimed by someone else leaves my 待办"
    assert _tasks(_page(session, colleague)) == [(second.case_number, "verify_hukou")]

    decide(session, first, "verify_hukou", people.hukou, "verified")
    page = _page(session, people.hukou, "done")
    assert page.counts == {"todo": 1, "claimed": 0, "done": 1, "overdue": 0}
    row, = page.rows
    assert (row.case_number, row.status, row.overdue) == (first.case_number, "completed", False)
    assert row.completed_at is not None
    assert _counts(session, colleague) == {"todo": 1, "claimed": 0, "done": 0, "overdue": 0}

    decide(session, second, "verify_hukou", colleague, "verified")
    assert _counts(session, people.hukou) == {"todo": 0, "claimed": 0, "done": 1, "overdue": 0}
    assert _counts(session, colleague) == {"todo": 0, "claimed": 0, "done": 1, "overdue": 0}


def test_overdue_tasks_show_from_the_day_after_their_deadline(session, people, submit):
    with time_machine.travel(MONDAY_MORNING, tick=False) as clock:
        case = submit()
        row, = _page(session, people.hukou).rows
        assert row.due_at.astimezone(CST).date() == date(2026, 3, 5)
        assert (row.overdue, _counts(session, people.hukou)["overdue"]) == (False, 0)

        clock.move_to(FRIDAY_MORNING)
        page = _page(session, people.hukou, "overdue")
        assert page.counts == {"todo": 1, "claimed": 0, "done": 0, "overdue": 1}
        assert _tasks(page) == [(case.case_number, "verify_hukou")]
        assert page.rows[0].overdue
        assert _page(session, people.hukou).rows[0].overdue, "the flag shows in 待办, too"

        colleague = _staff(session, "13900000004", "钱多福", VILLAGE_STAFF, HUKOU_VILLAGE)
        inbox.claim(session, colleague, page.rows[0].task_id)
        session.commit()
        assert _counts(session, people.hukou) == {"todo": 0, "claimed": 0, "done": 0, "overdue": 1}, \
            "overdue lists every open task in the jurisdiction, whoever claimed it"
        decide(session, case, "verify_hukou", colleague, "verified")
        assert _counts(session, people.hukou)["overdue"] == 0
        assert _counts(session, people.residence)["overdue"] == 1


# -- filters, search, sorting and paging ----------------------------------------------------------------------------


@pytest.mark.usefixtures("deployed")
def test_filter_by_case_type(session, people):
    first = _apply(session, people)
    third = _apply(session, people, case_type="third_child")
    assert _page(session, people.hukou).total == 2
    page = _page(session, people.hukou, case_type="third_child")
    assert _tasks(page) == [(third.case_number, "verify_hukou")]
    assert page.rows[0].case_type_label == "三孩审批"
    assert page.counts == {"todo": 1, "claimed": 0, "done": 0, "overdue": 0}
    assert _tasks(_page(session, people.hukou, case_type="first_child")) == [(first.case_number, "verify_hukou")]
    assert _page(session, people.hukou, case_type="second_child").rows == []
    with pytest.raises(CaseworkError, match="未知的申请类型"):
        InboxQuery(case_type="fourth_child")


@pytest.mark.usefixtures("deployed")
def test_filter_by_case_status(session, people):
    first = _apply(session, people, hukou=HUKOU_VILLAGE, residence=HUKOU_VILLAGE)
    decide(session, first, "verify_both", people.hukou, "verified")
    third = _apply(session, people, case_type="third_child")
    decide(session, third, "verify_hukou", people.hukou, "verified")
    decide(session, third, "township_review", people.township, "passed")
    assert _page(session, people.township).total == 2
    assert _tasks(_page(session, people.township, case_status="待现场确认")) == [
        (third.case_number, "offline_confirmation")]
    assert _tasks(_page(session, people.township, case_status="办理中")) == [(first.case_number, "township_audit")]

    decide(session, first, "township_audit", people.township, "approved")
    assert _tasks(_page(session, people.hukou, "done", case_status="登记成功")) == [
        (first.case_number, "verify_both")]
    assert _tasks(_page(session, people.hukou, "done", case_status="待现场确认")) == [
        (third.case_number, "verify_hukou")]


@pytest.mark.usefixtures("deployed")
def test_filter_by_division_inside_the_jurisdiction_only(session, people):
    at_hukou = _apply(session, people, hukou=HUKOU_VILLAGE, residence=HUKOU_VILLAGE)
    at_residence = _apply(session, people, hukou=RESIDENCE_VILLAGE, residence=RESIDENCE_VILLAGE)
    decide(session, at_hukou, "verify_both", people.hukou, "verified")
    decide(session, at_residence, "verify_both", people.residence, "verified")

    assert _page(session, people.township).total == 2
    assert _page(session, people.township, division=TOWNSHIP).total == 2
    assert _tasks(_page(session, people.township, division=HUKOU_VILLAGE)) == [
        (at_hukou.case_number, "township_audit")]
    assert _tasks(_page(session, people.township, division=RESIDENCE_VILLAGE)) == [
        (at_residence.case_number, "township_audit")]
    assert _page(session, people.township, division=OTHER_VILLAGE).total == 0
    assert _page(session, people.hukou, "done", division=HUKOU_VILLAGE).total == 1

    for outside in ("110101", "110101002", "110101002001", "11"):
        with pytest.raises(Forbidden, match="不在您的辖区内"):
            _page(session, people.township, division=outside)
    with pytest.raises(Forbidden, match="不在您的辖区内"):
        _page(session, people.hukou, division=RESIDENCE_VILLAGE)
    for malformed in ("1101010", "abc", "11010100100x"):
        with pytest.raises(CaseworkError, match="区划代码应为"):
            _page(session, people.township, division=malformed)


def test_the_division_range_is_exact_at_the_edges():
    assert divisions.next_prefix("110101001") == "110101002"
    assert divisions.next_prefix("110101009") == "110101010"
    assert divisions.next_prefix("1199") == "1200"
    assert divisions.next_prefix("99") is None


@pytest.mark.usefixtures("deployed")
def test_filter_by_due_date(session, people):
    with time_machine.travel(WEDNESDAY_MORNING, tick=False):
        later = _apply(session, people)  # due by the end of Monday March 9
    with time_machine.travel(MONDAY_MORNING, tick=False):
        sooner = _apply(session, people)  # due by the end of Thursday March 5
        assert _page(session, people.hukou, due_before=date(2026, 3, 4)).total == 0
        assert _tasks(_page(session, people.hukou, due_before=date(2026, 3, 5))) == [
            (sooner.case_number, "verify_hukou")]
        assert _tasks(_page(session, people.hukou, due_before=date(2026, 3, 9))) == [
            (sooner.case_number, "verify_hukou"), (later.case_number, "verify_hukou")]


@pytest.mark.usefixtures("deployed")
def test_search_by_case_number_or_name(session, people):
    zhang = _apply(session, people, woman_name="张丽", man_name="刘强")
    wang = _apply(session, people, woman_name="王芳", man_name="李建国")
    for term, expected in (
        (zhang.case_number, [zhang]),
        (wang.case_number, [wang]),
        ("王芳", [wang]),
        ("芳", [wang]),
        ("刘强", [zhang]),
        ("建国", [wang]),
        (" 丽 ", [zhang]),
        ("赵", []),
        ("%", []),
        ("99999999", []),
    ):
        page = _page(session, people.hukou, search=term)
        assert {row.case_number for row in page.rows} == {c.case_number for c in expected}, term
        assert page.total == len(expected), term
    by_prefix = _page(session, people.hukou, search=zhang.case_number[:8])
    assert {row.case_number for row in by_prefix.rows} == {zhang.case_number, wang.case_number}, \
        "a case number's leading digits (its date) find every case of that day"
    assert _page(session, people.hukou, search="").total == 2


@pytest.mark.usefixtures("deployed")
def test_sorted_by_due_date_with_open_ended_tasks_last(session, people):
    with time_machine.travel(WEDNESDAY_MORNING, tick=False):
        later = _apply(session, people)
    with time_machine.travel(MONDAY_MORNING, tick=False):
        sooner = _apply(session, people)
    third = _apply(session, people)
    assert _tasks(_page(session, people.hukou)) == [
        (sooner.case_number, "verify_hukou"), (later.case_number, "verify_hukou"), (third.case_number, "verify_hukou")]

    session.execute(update(HumanTaskModel).where(HumanTaskModel.business_key == sooner.case_number)
                    .values(due_at=None))
    session.commit()
    assert _tasks(_page(session, people.hukou)) == [
        (later.case_number, "verify_hukou"), (third.case_number, "verify_hukou"), (sooner.case_number, "verify_hukou")]


@pytest.mark.usefixtures("deployed")
def test_pages(session, people):
    numbers = [_apply(session, people).case_number for _ in range(5)]
    first = _page(session, people.hukou, page_size=2)
    second = _page(session, people.hukou, page=2, page_size=2)
    last = _page(session, people.hukou, page=3, page_size=2)
    beyond = _page(session, people.hukou, page=4, page_size=2)
    assert [len(p.rows) for p in (first, second, last, beyond)] == [2, 2, 1, 0]
    assert {p.total for p in (first, second, last, beyond)} == {5}
    assert first.pages == 3
    assert [row.case_number for p in (first, second, last) for row in p.rows] == numbers, "same-due tasks by id"
    assert _page(session, people.hukou).page_size == 20
    for bad in ({"page": 0}, {"page_size": 0}, {"page_size": 101}, {"view": "mine"}, {"search": "字" * 51}):
        with pytest.raises(CaseworkError):
            InboxQuery(**bad)


# -- claim, release, bulk claim, reassign ---------------------------------------------------------------------------


def test_claim_and_release(session, people, submit):
    colleague = _staff(session, "13900000004", "钱多福", VILLAGE_STAFF, HUKOU_VILLAGE)
    case = submit()
    task = open_task(session, case, "verify_hukou")
    for outsider in (people.other, people.residence, people.township, people.county, people.citizen):
        with pytest.raises(Forbidden, match="无权认领"):
            inbox.claim(session, outsider, task.id)
    with pytest.raises(NotFound, match="任务不存在"):
        inbox.claim(session, people.hukou, 999_999)

    claimed = inbox.claim(session, people.hukou, task.id)
    assert (claimed.claimed_by, claimed.claimed_at is not None) == (people.hukou.actor, True)
    session.commit()
    inbox.claim(session, people.hukou, task.id)  # claiming one's own claim again changes nothing
    session.commit()
    event_, = _audits(session, "task_claimed")
    assert (event_.instance_id, event_.actor, event_.element, event_.detail) == (
        task.instance_id, people.hukou.actor, "verify_hukou", {"name": "户籍地村（居）核实", "claimed_by": "李多福"})

    with pytest.raises(TaskConflict, match="已由李多福认领"):
        inbox.claim(session, colleague, task.id)
    session.rollback()
    with pytest.raises(Forbidden, match="只能释放自己认领的任务"):
        inbox.release(session, colleague, task.id)
    session.rollback()

    released = inbox.release(session, people.hukou, task.id)
    assert (released.claimed_by, released.claimed_at) == (None, None)
    session.commit()
    event_, = _audits(session, "task_released")
    assert (event_.actor, event_.detail) == (
        people.hukou.actor, {"name": "户籍地村（居）核实", "released_by": "李多福"})
    with pytest.raises(TaskConflict, match="尚未被认领"):
        inbox.release(session, people.hukou, task.id)
    session.rollback()

    inbox.claim(session, colleague, task.id)
    session.commit()
    decide(session, case, "verify_hukou", colleague, "verified")
    with pytest.raises(TaskConflict, match="已经办理完毕"):
        inbox.claim(session, people.hukou, task.id)
    with pytest.raises(TaskConflict, match="已经办理完毕或已取消"):
        inbox.release(session, colleague, task.id)


def test_completing_a_task_someone_else_claimed_is_refused(session, people, submit):
    colleague = _staff(session, "13900000004", "钱多福", VILLAGE_STAFF, HUKOU_VILLAGE)
    case = submit()
    task = open_task(session, case, "verify_hukou")
    inbox.claim(session, people.hukou, task.id)
    session.commit()
    with pytest.raises(TaskConflict, match="已由其他工作人员认领"):
        casework.decide(session, task.task_guid, colleague, "verified")
    session.rollback()
    decide(session, case, "verify_hukou", people.hukou, "verified")


def test_bulk_claim_takes_what_is_free_and_mine_to_act_on(session, people, submit):
    colleague = _staff(session, "13900000004", "钱多福", VILLAGE_STAFF, HUKOU_VILLAGE)
    cases_ = [submit() for _ in range(4)]
    mine = [open_task(session, c, "verify_hukou").id for c in cases_]
    not_mine = open_task(session, cases_[0], "verify_residence").id
    inbox.claim(session, colleague, mine[3])
    session.commit()

    assert inbox.bulk_claim(session, people.hukou, [*mine, mine[0], not_mine, 999_999]) == 3
    session.commit()
    forget(session)
    assert {t.id for t in session.scalars(select(HumanTaskModel).where(
        HumanTaskModel.claimed_by == people.hukou.actor))} == set(mine[:3])
    assert session.get(HumanTaskModel, mine[3]).claimed_by == colleague.actor
    assert session.get(HumanTaskModel, not_mine).claimed_by is None
    claims = [e for e in _audits(session, "task_claimed") if e.actor == people.hukou.actor]
    assert sorted(e.element for e in claims) == ["verify_hukou"] * 3
    assert _counts(session, people.hukou) == {"todo": 3, "claimed": 3, "done": 0, "overdue": 0}
    assert inbox.bulk_claim(session, people.hukou, mine) == 0, "claimed already"
    assert inbox.bulk_claim(session, people.hukou, []) == 0
    with pytest.raises(CaseworkError, match="一次最多认领100项"):
        inbox.bulk_claim(session, people.hukou, list(range(1, 102)))


def test_bulk_claim_refreshes_tasks_loaded_in_the_session(session, people, submit):
    task = open_task(session, submit(), "verify_hukou")
    assert task.claimed_by is None
    assert inbox.bulk_claim(session, people.hukou, [task.id]) == 1
    assert task.claimed_by == people.hukou.actor


def test_township_staff_reassign_within_their_jurisdiction(session, people, submit):
    colleague = _staff(session, "13900000004", "钱多福", VILLAGE_STAFF, HUKOU_VILLAGE)
    elsewhere = _staff(session, "13900000013", "郑景山", TOWNSHIP_STAFF, "110101002")
    case = submit()
    task = open_task(session, case, "verify_hukou")
    inbox.claim(session, people.hukou, task.id)
    session.commit()

    for not_a_lead in (people.hukou, colleague, people.county, elsewhere):
        with pytest.raises(Forbidden, match="只有本辖区的乡镇（街道）工作人员"):
            inbox.reassign(session, not_a_lead, task.id, colleague)
    for unfit in (people.other, people.residence, people.township, people.citizen):
        with pytest.raises(Forbidden, match="无权办理该任务"):
            inbox.reassign(session, people.township, task.id, unfit)
    session.rollback()

    moved = inbox.reassign(session, people.township, task.id, colleague)
    assert moved.claimed_by == colleague.actor
    session.commit()
    event_, = _audits(session, "task_reassigned")
    assert (event_.actor, event_.element, event_.detail) == (
        people.township.actor, "verify_hukou",
        {"name": "户籍地村（居）核实", "reassigned_by": "陈街道", "to": "钱多福", "previous": "李多福"})
    assert _counts(session, colleague)["claimed"] == 1
    assert _counts(session, people.hukou)["todo"] == 0
    with pytest.raises(TaskConflict, match="已由其他工作人员认领"):
        casework.decide(session, task.task_guid, people.hukou, "verified")
    session.rollback()

    inbox.release(session, colleague, task.id)
    session.commit()
    inbox.reassign(session, people.township, task.id, people.hukou)  # an unclaimed task, too
    session.commit()
    assert _audits(session, "task_reassigned")[-1].detail["previous"] is None
    colleague.active = False
    session.commit()
    with pytest.raises(Forbidden, match="钱多福无权办理该任务"):
        inbox.reassign(session, people.township, task.id, colleague)
    session.rollback()

    decide(session, case, "verify_hukou", people.hukou, "verified")
    with pytest.raises(TaskConflict, match="无法转派"):
        inbox.reassign(session, people.township, task.id, people.hukou)


# -- two people claiming at once ------------------------------------------------------------------------------------

ROUNDS = 10


def _claim_together(task_id: int, user_ids: list[int]) -> tuple[list[int], list[BaseException]]:
    barrier = threading.Barrier(len(user_ids))
    winners: list[int] = []
    errors: list[BaseException] = []

    def work(user_id):
        with db.factory() as session:
            try:
                user = session.get(UserModel, user_id)
                session.commit()  # ends the read; the user stays loaded (expire_on_commit=False)
                barrier.wait(timeout=10)
                inbox.claim(session, user, task_id)
                session.commit()
                winners.append(user_id)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                session.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(user_id,)) for user_id in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return winners, errors


def test_two_people_claiming_one_task_at_once_exactly_one_wins(session, people, submit):
    colleague = _staff(session, "13900000004", "钱多福", VILLAGE_STAFF, HUKOU_VILLAGE)
    for round_number in range(ROUNDS):
        task_id = open_task(session, submit(), "verify_hukou").id
        forget(session)
        winners, errors = _claim_together(task_id, [people.hukou.id, colleague.id])
        assert len(winners) == 1, f"round {round_number}: {winners} {errors!r}"
        loser, = errors
        assert isinstance(loser, TaskConflict), f"round {round_number}: {loser!r}"
        assert "认领" in str(loser)
        forget(session)
        assert session.get(HumanTaskModel, task_id).claimed_by == f"user:{winners[0]}"
        claims = session.scalars(select(AuditEventModel).where(
            AuditEventModel.kind == "task_claimed", AuditEventModel.instance_id == session.get(
                HumanTaskModel, task_id).instance_id)).all()
        assert [e.actor for e in claims] == [f"user:{winners[0]}"], f"round {round_number}"


@pytest.mark.usefixtures("deployed")
def test_search_by_a_spouses_whole_id_number(session, people):
    woman_id, man_id = id_number("19930307", "2"), id_number("19900501", "1")
    found = _apply(session, people, woman_name="张丽", man_name="刘强")
    _apply(session, people, woman_name="王芳", man_name="李建国")
    found.woman_id = ensure_person(session, woman_id, date(1993, 3, 7), "2").id
    found.man_id = ensure_person(session, man_id, date(1990, 5, 1), "1").id
    session.commit()
    for term in (woman_id, man_id, man_id.lower(), f" {woman_id} "):
        assert [row.case_number for row in _page(session, people.hukou, search=term).rows] == [found.case_number]
    assert _page(session, people.hukou, search=woman_id[:-1] + "0").total == 0, "only the whole number matches"
