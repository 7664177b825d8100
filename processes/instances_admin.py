"""Case instances for the policy administrator: find them, act on stuck ones, move them between versions.

Every action goes through the engine, which locks the instance and writes an audit line naming the administrator.
"""

from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from engine.db import utcnow
from engine.errors import EngineError, MigrationBlocked, TaskConflict
from engine.models import AuditEventModel, HumanTaskModel, OutboxModel, ProcessDefinitionModel, ProcessInstanceModel
from processes.jurisdiction import JURISDICTION_FIELDS
from processes.overview import actor_names
from processes.roles import ROLES, STAFF_ROLES
from processes.runtime import RUNTIME
from processes.task_forms import step_forms
from services import assignments
from services.cases import CaseModel

STATUS_LABELS = {"running": "运行中", "suspended": "已暂停", "completed": "已办结", "error": "出错",
                 "cancelled": "已撤销"}
# A service task's state as the outbox row keeps it; a pending row that already failed is being retried.
SERVICE_STATUS_LABELS = {"pending": "待执行", "done": "已完成", "incident": "故障", "cancelled": "已取消"}
RETRYING = "重试中"


class InvalidRequest(EngineError):
    """The administrator's input is refused, with a message to show."""


@dataclass(frozen=True)
class InstanceFilter:
    """What the instance list is narrowed to; empty fields do not filter."""

    process_key: str = ""
    version: int | None = None
    status: str = ""
    division: str = ""
    overdue: bool = False
    incident: bool = False


def search(session: Session, wanted: InstanceFilter, offset: int = 0,
           limit: int = 50) -> tuple[list[tuple[ProcessInstanceModel, ProcessDefinitionModel, CaseModel | None]], int]:
    """Return one page of instances matching `wanted`, newest first, and how many match in all."""
    query = (select(ProcessInstanceModel, ProcessDefinitionModel, CaseModel)
             .join(ProcessDefinitionModel, ProcessDefinitionModel.id == ProcessInstanceModel.definition_id)
             .outerjoin(CaseModel, CaseModel.instance_id == ProcessInstanceModel.id))
    if wanted.process_key:
        query = query.where(ProcessInstanceModel.process_key == wanted.process_key)
    if wanted.version is not None:
        query = query.where(ProcessDefinitionModel.version == wanted.version)
    if wanted.status:
        query = query.where(ProcessInstanceModel.status == wanted.status)
    if wanted.division:
        query = query.where(or_(CaseModel.hukou_division.startswith(wanted.division, autoescape=True),
                                CaseModel.residence_division.startswith(wanted.division, autoescape=True)))
    if wanted.overdue:
        query = query.where(exists().where(HumanTaskModel.instance_id == ProcessInstanceModel.id,
                                           HumanTaskModel.status == "open", HumanTaskModel.due_at < utcnow()))
    if wanted.incident:
        query = query.where(ProcessInstanceModel.incident.is_(True))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(ProcessInstanceModel.id.desc()).offset(offset).limit(limit)).all()
    return [tuple(row) for row in rows], total


def get_instance(session: Session, instance_id: int) -> ProcessInstanceModel | None:
    """Return an instance by id."""
    return session.get(ProcessInstanceModel, instance_id)


def step_names(session: Session, instance: ProcessInstanceModel) -> dict[str, str]:
    """Return the name of every element of the instance's version by id (an unnamed element keeps its id)."""
    definition = instance.definition
    elements = RUNTIME.definitions.parsed(session, definition.id, definition.sha256).diagram.elements
    return {ident: element.name or ident for ident, element in elements.items()}


@dataclass(frozen=True)
class ServiceTask:
    """One service task of an instance (its outbox row) with the name of its step."""

    row: OutboxModel
    step: str

    @property
    def status_label(self) -> str:
        """Return the state in words: a pending task that already failed is being retried."""
        if self.row.status == "pending" and self.row.attempts:
            return RETRYING
        return SERVICE_STATUS_LABELS.get(self.row.status, self.row.status)


def service_tasks(session: Session, instance: ProcessInstanceModel) -> list[ServiceTask]:
    """Return every service task the instance queued, oldest first, each with its step's name."""
    names = step_names(session, instance)
    rows = session.scalars(select(OutboxModel).where(OutboxModel.instance_id == instance.id).order_by(OutboxModel.id))
    return [ServiceTask(row, names.get(row.bpmn_id, row.bpmn_id)) for row in rows]


def incidents(session: Session, instance_id: int) -> list[OutboxModel]:
    """Return the failed service tasks of an instance (each may be retried)."""
    return list(session.scalars(select(OutboxModel).where(
        OutboxModel.instance_id == instance_id, OutboxModel.status == "incident")))


def events(session: Session, instance_id: int) -> list[AuditEventModel]:
    """Return the event log of an instance, oldest first."""
    return list(session.scalars(select(AuditEventModel).where(AuditEventModel.instance_id == instance_id)
                                .order_by(AuditEventModel.id)))


@dataclass(frozen=True)
class EventLine:
    """One line of a case's event log, in words: who did it, and what a completed task's form recorded."""

    event: AuditEventModel
    # The name of the account behind the actor; None when the actor is no account (the system, a timer, a command).
    actor_name: str | None
    # For a completed task: each filled field of its form as (label, value in words), in the form's order.
    fields: list[tuple[str, str]]


def event_log(session: Session, instance: ProcessInstanceModel) -> list[EventLine]:
    """Return the event log of an instance, oldest first, with actors named and task results labelled."""
    found = events(session, instance.id)
    names = actor_names(session, {event.actor for event in found})
    forms = step_forms(session, instance.id)
    lines = []
    for event in found:
        form = forms.get(event.element or "") if event.kind == "task_completed" else None
        recorded = [(item.label, item.choice_label(event.detail[item.id])) for item in form.fields
                    if event.detail.get(item.id) not in (None, "")] if form is not None else []
        lines.append(EventLine(event, names.get(event.actor), recorded))
    return lines


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("请填写原因")
    if len(reason) > 200:
        raise InvalidRequest("原因不能超过 200 字")
    return reason


def act(session: Session, instance_id: int, action: str, actor: str, reason: str = "", target: str = "") -> str:
    """Suspend, resume, cancel, retry or move a case; return what was done, for the administrator."""
    if action == "suspend":
        RUNTIME.suspend(session, instance_id, actor, _reason(reason))
        return "已暂停该案件"
    if action == "resume":
        RUNTIME.resume(session, instance_id, actor)
        return "已恢复该案件"
    if action == "cancel":
        RUNTIME.cancel(session, instance_id, actor, _reason(reason))
        return "已撤销该案件"
    if action == "retry":
        failed = incidents(session, instance_id)
        if not failed:
            raise TaskConflict("该案件没有失败的服务任务")
        for row in failed:
            RUNTIME.retry_incident(session, row.id, actor)
        return f"已重新提交 {len(failed)} 个失败的服务任务"
    if action == "move":
        RUNTIME.move_token(session, instance_id, target, actor, _reason(reason))
        instance = get_instance(session, instance_id)
        return f"已将流程移回「{step_names(session, instance).get(target, target) if instance else target}」"
    raise InvalidRequest("未知操作")


@dataclass(frozen=True)
class MigrationCheck:
    """Whether one case can move to the target version, and why not."""

    instance_id: int
    business_key: str | None
    problems: list[str]

    @property
    def movable(self) -> bool:
        """Return whether the case can move."""
        return not self.problems


def _movable_instances(session: Session, source: ProcessDefinitionModel) -> list[ProcessInstanceModel]:
    return list(session.scalars(select(ProcessInstanceModel).where(
        ProcessInstanceModel.definition_id == source.id,
        ProcessInstanceModel.status.in_(("running", "suspended"))).order_by(ProcessInstanceModel.id)))


def _same_process(source: ProcessDefinitionModel, target: ProcessDefinitionModel) -> None:
    if source.key != target.key:
        raise InvalidRequest("只能在同一流程的不同版本之间迁移")


def migration_dry_run(session: Session, source: ProcessDefinitionModel,
                      target: ProcessDefinitionModel) -> list[MigrationCheck]:
    """Say, for every running case of `source`, whether it can move to `target` and why not."""
    _same_process(source, target)
    return [MigrationCheck(i.id, i.business_key, RUNTIME.migration_blockers(session, i.id, target))
            for i in _movable_instances(session, source)]


def migrate_all(session: Session, source: ProcessDefinitionModel, target: ProcessDefinitionModel,
                actor: str) -> tuple[list[int], list[MigrationCheck]]:
    """Move every case of `source` that can move to `target`; return the migration log ids and those left."""
    _same_process(source, target)
    moved, left = [], []
    for instance in _movable_instances(session, source):
        try:  # migrate checks first and changes nothing when it refuses, so no dry run is needed before it
            moved.append(RUNTIME.migrate(session, instance.id, target, actor).id)
        except MigrationBlocked as refused:
            left.append(MigrationCheck(instance.id, instance.business_key, refused.problems))
    return moved, left


def revert(session: Session, event_ids: list[int], actor: str) -> tuple[int, list[str]]:
    """Revert migrations by their log ids; return how many were reverted and why the others were not."""
    done, refused = 0, []
    for event_id in event_ids:
        try:
            with session.begin_nested():
                RUNTIME.revert_migration(session, event_id, actor)
            done += 1
        except EngineError as exc:
            refused.append(f"迁移记录 {event_id}：{exc}")
    return done, refused


def migrations_of(session: Session, source: ProcessDefinitionModel,
                  target: ProcessDefinitionModel) -> list[int]:
    """Return the ids of the migration log lines from `source` to `target`."""
    rows = session.execute(select(AuditEventModel.id, AuditEventModel.detail)
                           .where(AuditEventModel.kind == "migrated").order_by(AuditEventModel.id)).all()
    return [ident for ident, detail in rows
            if detail.get("from_definition") == source.id and detail.get("to_definition") == target.id]


def save_assignment(session: Session, name: str, role: str, jurisdiction_field: str, actor: str):
    """Map a lane or group name used in diagrams to a staff role and (optionally) a jurisdiction field."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidRequest("请填写泳道或候选组名称（不超过 100 字）")
    if role not in STAFF_ROLES:
        raise InvalidRequest(f"未知角色 {role}，可用：{'、'.join(ROLES[r] for r in STAFF_ROLES)}")
    if jurisdiction_field and jurisdiction_field not in JURISDICTION_FIELDS:
        raise InvalidRequest(f"未知辖区字段 {jurisdiction_field}")
    return assignments.save_rule(session, name, role, jurisdiction_field or None, actor)
