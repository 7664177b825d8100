"""The staff inbox: the tasks a staff member may act on, read from the human-task rows, and claiming them.

Every query here reads `human_task` (joined to `birth_case` for the case columns); no workflow state is ever loaded.
Visibility is the jurisdiction rule of processes.jurisdiction expressed in SQL: the task's role equals the user's
role and the task's division code lies inside the user's division. Claims are conditional UPDATEs, so two people
claiming one task at once cannot both win.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, and_, case, false, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine.calendar import CST
from engine.db import utcnow
from engine.diagram import Element
from engine.errors import EngineError, NotFound, TaskConflict
from engine.models import HumanTaskModel, ProcessDefinitionModel, ProcessInstanceModel
from processes.casework import CaseworkError, Forbidden
from processes.division_picker import DivisionPicker, picker
from processes.forms import BUILTIN_FORMS, decision_label, form_of
from processes.jurisdiction import contains, may_act
from processes.overview import actor_names, person_named
from processes.roles import CITIZEN, TOWNSHIP_STAFF
from processes.runtime import RUNTIME
from services import audit, divisions, identity
from services.accounts import UserModel
from services.cases import CASE_TYPES, CaseModel, VerificationModel
from services.crypto import blind
from services.people import PersonModel

VIEWS = {"todo": "待办", "claimed": "我已认领", "done": "已办", "overdue": "超期"}
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_BULK_CLAIM = MAX_PAGE_SIZE
MAX_SEARCH_LENGTH = 50

Task = HumanTaskModel
Case = CaseModel


@dataclass(frozen=True)
class InboxQuery:
    """What a staff member asks their inbox for: a view, filters, a search and a page."""

    view: str = "todo"
    case_type: str | None = None
    case_status: str | None = None
    # A division code (2, 4, 6, 9 or 12 digits) inside the user's own jurisdiction.
    division: str | None = None
    # Tasks due by the end of this China date (due on or before it).
    due_before: date | None = None
    # A case number (exact or its leading digits), a spouse's whole ID number, or part of a spouse's name.
    search: str | None = None
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise CaseworkError(f"未知的待办视图：{self.view}")
        if self.case_type and self.case_type not in CASE_TYPES:
            raise CaseworkError(f"未知的申请类型：{self.case_type}")
        if self.page < 1:
            raise CaseworkError("页码应从1开始")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise CaseworkError(f"每页条数应在1到{MAX_PAGE_SIZE}之间")
        if self.search is not None and len(self.search.strip()) > MAX_SEARCH_LENGTH:
            raise CaseworkError(f"搜索内容不能超过{MAX_SEARCH_LENGTH}个字")


@dataclass(frozen=True)
class InboxRow:
    """One task in an inbox page, with the columns of its case."""

    task_id: int
    name: str
    form_key: str | None
    bpmn_id: str
    case_number: str | None
    case_type: str | None
    case_type_label: str | None
    woman_name: str | None
    man_name: str | None
    case_status: str | None
    division_code: str | None
    due_at: datetime | None
    overdue: bool
    status: str
    claimed_by: str | None
    claimed_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    # Due before the end of today (China time) but not yet overdue.
    due_today: bool = False
    # The name of whoever claimed the task, and, in 已办, the decision taken (e.g. 情况属实).
    claimed_by_name: str | None = None
    decision: str | None = None


@dataclass(frozen=True)
class InboxPage:
    """One page of one view, the number of tasks in that view and the counts of all four views (same filters)."""

    view: str
    rows: list[InboxRow]
    total: int
    counts: dict[str, int]
    page: int
    page_size: int

    @property
    def label(self) -> str:
        """Return the Chinese name of the view."""
        return VIEWS[self.view]

    @property
    def pages(self) -> int:
        """Return the number of pages of the view (at least one)."""
        return max(1, -(-self.total // self.page_size))


# -- visibility ---------------------------------------------------------------------------------------------------


def _valid_code(code: str | None) -> bool:
    return bool(code) and code.isascii() and code.isdigit() and len(code) in divisions.CODE_LENGTHS.values()


def _within(prefix: str) -> ColumnElement[bool]:
    """Return "the task's division code starts with `prefix`" as an index-friendly range."""
    return divisions.within(Task.division_code, prefix)


def _jurisdiction(user: UserModel) -> str | None:
    """Return the division whose tasks `user` sees, or None when they see none (citizens, no valid division)."""
    if user.role == CITIZEN or not _valid_code(user.division_code):
        return None
    return user.division_code


def _filter_division(user_division: str, wanted: str | None) -> str | None:
    """Return the division filter asked for (None for none), refusing one outside the user's jurisdiction."""
    if wanted is None or not wanted.strip():
        return None
    wanted = wanted.strip()
    if not _valid_code(wanted):
        raise CaseworkError("区划代码应为2、4、6、9或12位数字")
    if not contains(user_division, wanted):
        raise Forbidden(f"区划 {wanted} 不在您的辖区内，无法查看")
    return wanted


# -- the inbox ----------------------------------------------------------------------------------------------------


def _end_of_china_day(day: date) -> datetime:
    """Return midnight China time at the end of `day`: a task due before it is due on or before that day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=CST)


def _case_filters(query: InboxQuery) -> list[ColumnElement[bool]]:
    """Return the conditions on the case columns (type, status, search)."""
    conditions: list[ColumnElement[bool]] = []
    if query.case_type:
        conditions.append(Case.case_type == query.case_type)
    if query.case_status:
        conditions.append(Case.status == query.case_status)
    term = (query.search or "").strip()
    if term:
        if identity.ID_PATTERN.fullmatch(identity.normalize(term)):
            # A spouse's ID number, matched whole (a fragment of an ID number is no search key).
            spouses = select(PersonModel.id).where(PersonModel.id_number_hash == blind(term))
            conditions.append(or_(Case.woman_id.in_(spouses), Case.man_id.in_(spouses)))
        elif term.isascii() and term.isdigit():
            # A case number, exact or by its leading digits. The search only filters the tasks the jurisdiction and
            # view select (found through ix_human_task_inbox), so neither it nor the name search needs an index.
            conditions.append(Case.case_number.startswith(term, autoescape=True))
        else:
            conditions.append(or_(Case.woman_name.contains(term, autoescape=True),
                                  Case.man_name.contains(term, autoescape=True)))
    return conditions


def _view_conditions(user: UserModel, own: str, wanted: str | None, due_limit: datetime | None,
                     now: datetime) -> tuple[dict[str, ColumnElement[bool]], ColumnElement[bool]]:
    """Return each view's condition on human_task, and their union (what the counts query reads)."""
    visible_open = and_(Task.status == "open", Task.role == user.role, _within(wanted or own))
    # What I completed stays mine to look back on, whatever my role or division is now.
    done = and_(Task.status == "completed", Task.completed_by == user.actor)
    if wanted:
        done = and_(done, _within(wanted))
    if due_limit is not None:
        visible_open, done = and_(visible_open, Task.due_at < due_limit), and_(done, Task.due_at < due_limit)
    views = {
        "todo": and_(visible_open, or_(Task.claimed_by.is_(None), Task.claimed_by == user.actor)),
        "claimed": and_(visible_open, Task.claimed_by == user.actor),
        "done": done,
        "overdue": and_(visible_open, Task.due_at < now),
    }
    return views, or_(visible_open, done)


def _page_statement(condition: ColumnElement[bool], query: InboxQuery,
                    case_filters: list[ColumnElement[bool]]) -> Select:
    """Return the query of one page of a view: open tasks by due date (open-ended last), 已办 newest done first."""
    order = ((Task.completed_at.desc(), Task.id.desc()) if query.view == "done"
             else (Task.due_at.asc().nulls_last(), Task.id))
    return (
        select(Task.id, Task.instance_id, Task.name, Task.form_key, Task.bpmn_id, Task.business_key,
               Task.division_code, Task.due_at, Task.status, Task.claimed_by, Task.claimed_at, Task.completed_by,
               Task.created_at, Task.completed_at,
               Case.id.label("case_id"), Case.case_type, Case.woman_name, Case.man_name,
               Case.status.label("case_status"))
        .outerjoin(Case, Case.case_number == Task.business_key)
        .where(condition, *case_filters)
        .order_by(*order)
        .limit(query.page_size).offset((query.page - 1) * query.page_size)
    )


def _counts_statement(views: dict[str, ColumnElement[bool]], union: ColumnElement[bool],
                      case_filters: list[ColumnElement[bool]]) -> Select:
    """Return one query counting every view: the rows of any view, tallied per view with SUM(CASE …)."""
    tallies = [func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(view)
               for view, condition in views.items()]
    statement = select(*tallies).select_from(Task).where(union)
    if case_filters:
        statement = statement.join(Case, Case.case_number == Task.business_key).where(*case_filters)
    return statement


def inbox(session: Session, user: UserModel, query: InboxQuery | None = None) -> InboxPage:
    """Return one page of a staff member's inbox view, with the counts of every view under the same filters."""
    query = query or InboxQuery()
    own = _jurisdiction(user)
    if own is None:
        return InboxPage(query.view, [], 0, dict.fromkeys(VIEWS, 0), query.page, query.page_size)
    wanted = _filter_division(own, query.division)
    now = utcnow()
    due_limit = _end_of_china_day(query.due_before) if query.due_before is not None else None
    views, union = _view_conditions(user, own, wanted, due_limit, now)
    case_filters = _case_filters(query)
    tallied = session.execute(_counts_statement(views, union, case_filters)).one()
    counts = {view: int(tallied._mapping[view]) for view in VIEWS}
    found = (session.execute(_page_statement(views[query.view], query, case_filters)).all()
             if counts[query.view] > (query.page - 1) * query.page_size else [])
    end_of_today = _end_of_china_day(now.astimezone(CST).date())
    claimers = actor_names(session, {r.claimed_by for r in found})
    decisions = _decisions(session, found) if query.view == "done" else {}
    rows = [
        InboxRow(
            task_id=r.id, name=r.name, form_key=r.form_key, bpmn_id=r.bpmn_id, case_number=r.business_key,
            case_type=r.case_type, case_type_label=CASE_TYPES.get(r.case_type, r.case_type) if r.case_type else None,
            woman_name=r.woman_name, man_name=r.man_name, case_status=r.case_status, division_code=r.division_code,
            due_at=r.due_at, overdue=r.status == "open" and r.due_at is not None and r.due_at < now,
            status=r.status, claimed_by=r.claimed_by, claimed_at=r.claimed_at, created_at=r.created_at,
            completed_at=r.completed_at,
            due_today=r.status == "open" and r.due_at is not None and now <= r.due_at < end_of_today,
            claimed_by_name=claimers.get(r.claimed_by), decision=decisions.get(r.id),
        )
        for r in found
    ]
    return InboxPage(query.view, rows, counts[query.view], counts, query.page, query.page_size)


def _steps(session: Session, instance_ids: set[int]) -> dict[int, Mapping[str, Element]]:
    """Return the diagram elements of each instance's version (parsed once per version; no workflow state read).

    A version that no longer loads leaves its steps out: the inbox still lists the tasks, labelled by form key.
    """
    versions = session.execute(
        select(ProcessInstanceModel.id, ProcessDefinitionModel.id.label("definition_id"), ProcessDefinitionModel.sha256)
        .join(ProcessDefinitionModel, ProcessDefinitionModel.id == ProcessInstanceModel.definition_id)
        .where(ProcessInstanceModel.id.in_(instance_ids)))
    of_instance = {row.id: (row.definition_id, row.sha256) for row in versions}
    elements = {}
    for definition_id, sha256 in set(of_instance.values()):
        try:
            elements[definition_id] = RUNTIME.definitions.parsed(session, definition_id, sha256).diagram.elements
        except EngineError:
            continue
    return {instance: elements[definition] for instance, (definition, _) in of_instance.items()
            if definition in elements}


def _decisions(session: Session, found: list) -> dict[int, str]:
    """Return the decision taken on each completed task of a page, read from the cases' result rows (by case id)
    and labelled by the step's form.

    A step may be decided more than once on one case (verified again after a correction): the result recorded
    by the same person closest to the task's completion is the one that completed it.
    """
    case_ids = {r.case_id for r in found if r.case_id is not None and r.status == "completed"}
    if not case_ids:
        return {}
    results: dict[tuple[int, str, str], list[tuple[datetime, str]]] = {}
    for row in session.execute(select(VerificationModel.case_id, VerificationModel.step, VerificationModel.actor,
                                      VerificationModel.at, VerificationModel.decision)
                               .where(VerificationModel.case_id.in_(case_ids))):
        results.setdefault((row.case_id, row.step, row.actor), []).append((row.at, row.decision))
    taken = {}
    for r in found:
        candidates = results.get((r.case_id, r.bpmn_id, r.completed_by or ""))
        if candidates and r.completed_at is not None:
            taken[r] = min(candidates, key=lambda result, done=r.completed_at: abs(result[0] - done))[1]
    steps = _steps(session, {r.instance_id for r in taken}) if taken else {}
    decided = {}
    for r, decision in taken.items():
        element = steps.get(r.instance_id, {}).get(r.bpmn_id)
        decided[r.id] = decision_label(form_of(element) if element else BUILTIN_FORMS.get(r.form_key or ""), decision)
    return decided


def division_picker(session: Session, user: UserModel, chosen: str | None) -> DivisionPicker | None:
    """Return the division picker of a staff member's inbox, or None when they see no tasks (no jurisdiction).

    `chosen` is a filter the inbox has already accepted (inside the jurisdiction); any other code is not offered.
    """
    own = _jurisdiction(user)
    if own is None:
        return None
    return picker(session, own, chosen if chosen and _valid_code(chosen) and contains(own, chosen) else None)


# -- claims -------------------------------------------------------------------------------------------------------


def _may_act_sql(user: UserModel) -> ColumnElement[bool]:
    """Return processes.jurisdiction.may_act for `user` as a condition on human_task."""
    own = _jurisdiction(user)
    return false() if own is None else and_(Task.role == user.role, _within(own))


def _name_of(session: Session, actor: str | None) -> str | None:
    """Return the name of the user behind an actor such as `user:12` (the actor itself if unknown)."""
    return person_named(session, actor) if actor is not None else None


def _audit(session: Session, task: Task, user: UserModel, kind: str, **names: str | None) -> None:
    """Add an audit line about a claim to the task's instance."""
    audit.record(session, user.actor, kind, instance_id=task.instance_id, element=task.bpmn_id, name=task.name,
                 **names)


def _task(session: Session, task_id: int) -> HumanTaskModel:
    """Return the task as stored now (re-read: a conditional UPDATE may just have changed it)."""
    task = session.get(HumanTaskModel, task_id, populate_existing=True)
    if task is None:
        raise NotFound("任务不存在")
    return task


def _refuse_claim(session: Session, user: UserModel, task: HumanTaskModel) -> None:
    """Raise the error that explains why `user` could not claim `task`."""
    if not may_act(user.role, user.division_code, task.role, task.division_code):
        raise Forbidden("您无权认领该任务")
    if task.status == "completed":
        raise TaskConflict("该任务已经办理完毕，无法认领")
    if task.status != "open":
        raise TaskConflict("该任务已取消，无法认领")
    raise TaskConflict(f"该任务已由{_name_of(session, task.claimed_by)}认领，请刷新待办列表")


def claim(session: Session, user: UserModel, task_id: int) -> HumanTaskModel:
    """Claim an open task the user may act on and nobody has claimed (claiming one's own claim again is a no-op).

    The UPDATE is the first statement and carries every condition, so of two simultaneous claims exactly one
    matches the row; on SQLite, too, a claim that waited for the other writer then sees its commit.
    """
    claimed = session.execute(
        update(Task)
        .where(Task.id == task_id, Task.status == "open", Task.claimed_by.is_(None), _may_act_sql(user))
        .values(claimed_by=user.actor, claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    task = _task(session, task_id)
    if not claimed:
        if task.status == "open" and task.claimed_by == user.actor:
            return task
        _refuse_claim(session, user, task)
    _audit(session, task, user, "task_claimed", claimed_by=user.name)
    session.flush()
    return task


def bulk_claim(session: Session, user: UserModel, task_ids: list[int]) -> int:
    """Claim every given task that is open, unclaimed and the user's to act on; return how many were claimed.

    Tasks claimed by someone else meanwhile, closed, or outside the user's role and jurisdiction are skipped.
    """
    ids = sorted(set(task_ids))
    if len(ids) > MAX_BULK_CLAIM:
        raise CaseworkError(f"一次最多认领{MAX_BULK_CLAIM}项任务")
    if not ids:
        return 0
    claimed = session.execute(
        update(Task)
        .where(Task.id.in_(ids), Task.status == "open", Task.claimed_by.is_(None), _may_act_sql(user))
        .values(claimed_by=user.actor, claimed_at=utcnow())
        .returning(Task.id, Task.instance_id, Task.bpmn_id, Task.name)
        .execution_options(synchronize_session=False)
    ).all()
    for row in claimed:
        audit.record(session, user.actor, "task_claimed", instance_id=row.instance_id, element=row.bpmn_id,
                     name=row.name, claimed_by=user.name, bulk=True)
    for row in claimed:  # tasks already loaded in this session must show their new claim
        loaded = session.identity_map.get(identity_key(Task, row.id))
        if loaded is not None:
            session.expire(loaded)
    session.flush()
    return len(claimed)


def release(session: Session, user: UserModel, task_id: int) -> HumanTaskModel:
    """Give back one's own claim on an open task, so that colleagues see it unclaimed again."""
    released = session.execute(
        update(Task)
        .where(Task.id == task_id, Task.status == "open", Task.claimed_by == user.actor)
        .values(claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    task = _task(session, task_id)
    if not released:
        if task.status != "open":
            raise TaskConflict("该任务已经办理完毕或已取消，无需释放")
        if task.claimed_by is None:
            raise TaskConflict("该任务尚未被认领，无需释放")
        raise Forbidden("只能释放自己认领的任务")
    _audit(session, task, user, "task_released", released_by=user.name)
    session.flush()
    return task


def reassign(session: Session, user: UserModel, task_id: int, to_user: UserModel) -> HumanTaskModel:
    """Hand an open task to a colleague who may act on it: township staff only, within their jurisdiction."""
    task = _task(session, task_id)
    if user.role != TOWNSHIP_STAFF or not contains(_jurisdiction(user), task.division_code):
        raise Forbidden("只有本辖区的乡镇（街道）工作人员可以转派该任务")
    if task.status != "open":
        raise TaskConflict("该任务已经办理完毕或已取消，无法转派")
    if not to_user.active or not may_act(to_user.role, to_user.division_code, task.role, task.division_code):
        raise Forbidden(f"{to_user.name}无权办理该任务，不能转派给他（她）")
    previous = task.claimed_by
    if previous == to_user.actor:
        return task
    # Compare-and-set on the claim read above: a claim or release made meanwhile makes this one fail, not vanish.
    unchanged = Task.claimed_by.is_(None) if previous is None else Task.claimed_by == previous
    moved = session.execute(
        update(Task)
        .where(Task.id == task_id, Task.status == "open", unchanged)
        .values(claimed_by=to_user.actor, claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    task = _task(session, task_id)
    if not moved:
        raise TaskConflict("该任务的认领情况刚刚发生变化，请刷新后重试")
    _audit(session, task, user, "task_reassigned", reassigned_by=user.name, to=to_user.name,
           previous=_name_of(session, previous))
    session.flush()
    return task


def reassign_candidates(session: Session, user: UserModel, task: HumanTaskModel) -> list[UserModel]:
    """Return the colleagues a township worker may hand an open task to (none for anyone else)."""
    if user.role != TOWNSHIP_STAFF or task.status != "open" or not contains(_jurisdiction(user), task.division_code):
        return []
    return [colleague for colleague in session.scalars(
        select(UserModel).where(UserModel.role == task.role, UserModel.active.is_(True)).order_by(UserModel.name))
        if may_act(colleague.role, colleague.division_code, task.role, task.division_code)
        and colleague.actor not in (task.claimed_by, user.actor)]
