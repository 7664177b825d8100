"""Plain-text and tabular views of definitions and cases, for the CLI and for operators."""

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.calendar import CST
from engine.models import AuditEventModel, HumanTaskModel, OutboxModel, ProcessDefinitionModel, ProcessInstanceModel
from processes.casework import open_tasks
from processes.forms import decision_label
from processes.roles import ROLES
from processes.task_forms import step_forms
from services import cases, divisions
from services.accounts import UserModel


def all_tasks(session: Session, case: cases.CaseModel) -> list[HumanTaskModel]:
    """Return every user task a case has had, open or not, in the order they were opened."""
    return list(session.scalars(select(HumanTaskModel).where(HumanTaskModel.business_key == case.case_number)
                                .order_by(HumanTaskModel.id)))


def definition_summary(session: Session) -> list[dict]:
    """Return every deployed definition with the number of its running cases."""
    running = (
        select(ProcessInstanceModel.definition_id, func.count().label("n"))
        .where(ProcessInstanceModel.status == "running").group_by(ProcessInstanceModel.definition_id).subquery()
    )
    rows = session.execute(
        select(ProcessDefinitionModel, func.coalesce(running.c.n, 0))
        .outerjoin(running, running.c.definition_id == ProcessDefinitionModel.id)
        .order_by(ProcessDefinitionModel.key, ProcessDefinitionModel.version.desc())
    ).all()
    return [
        {"id": d.id, "key": d.key, "kind": "决策表" if d.kind == "dmn" else "流程", "version": d.version,
         "name": d.name,
         "state": "启用" if d.active else "停用",
         "running": n, "deployed_at": d.deployed_at.astimezone(CST), "deployed_by": d.deployed_by}
        for d, n in rows
    ]


def _when(value) -> str:
    return value.astimezone(CST).strftime("%Y-%m-%d %H:%M") if value else "—"


def _place(session: Session, code: str | None) -> str:
    if not code:
        return "—"
    try:
        return f"{divisions.full_name(session, code)}（{code}）"
    except LookupError:
        return code


def actor_names(session: Session, actors: Iterable[str | None]) -> dict[str, str]:
    """Return the names of the users behind actors such as `user:12`, by actor (one query for all of them).

    The one place an actor is named: an actor that is no user (`system`, a removed account) has no entry here, and
    pages show it as it is.
    """
    ids = {int(a[5:]) for a in actors if a and a.startswith("user:") and a[5:].isdigit() and len(a) < 16}
    if not ids:
        return {}
    # Only the two columns: a whole account row would unseal its phone for nothing.
    return {f"user:{ident}": name
            for ident, name in session.execute(select(UserModel.id, UserModel.name).where(UserModel.id.in_(ids)))}


def person_named(session: Session, actor: str) -> str:
    """Name the user behind an audit actor such as `user:12` (the actor itself when it is no user)."""
    return actor_names(session, [actor]).get(actor, actor)


def describe_case(session: Session, case: cases.CaseModel) -> str:
    """Return a case's status, open tasks, decisions, service tasks and audit trail as text."""
    instance = session.get(ProcessInstanceModel, case.instance_id) if case.instance_id else None
    applicant = session.get(UserModel, case.applicant_id)
    lines = [
        f"受理编号 {case.case_number}  {case.type_label}  状态：{case.status}",
        f"申请人 {applicant.name if applicant else '?'}  女方 {case.woman_name}  男方 {case.man_name}  "
        f"提交于 {_when(case.submitted_at)}",
        f"户籍地 {_place(session, case.hukou_division)}",
        f"现居住地 {_place(session, case.residence_division)}",
    ]
    if instance:
        incident = "（有故障）" if instance.incident else ""
        lines.append(f"流程 {instance.process_key} v{instance.definition.version}  实例 {instance.id} "
                     f"{instance.status}{incident}  下次定时 {_when(instance.next_timer_at)}")
    lines.append("待办任务：")
    lines += [f"  {t.name}  {ROLES.get(t.role, t.role)}  {_place(session, t.division_code)}  期限 {_when(t.due_at)}"
              for t in open_tasks(session, case)] or ["  无"]
    lines.append("办理结果：")
    forms = step_forms(session, case.instance_id)
    lines += [f"  {_when(v.at)} {v.step_name}：{decision_label(forms.get(v.step), v.decision)}"
              f"{'，' + v.reason if v.reason else ''}（{person_named(session, v.actor)}）"
              for v in cases.verifications(session, case)] or ["  无"]
    if instance:
        outbox = session.scalars(select(OutboxModel).where(OutboxModel.instance_id == instance.id)
                                 .order_by(OutboxModel.id)).all()
        lines.append("服务任务：")
        lines += [f"  {o.bpmn_id} {o.operator} {o.status} 尝试 {o.attempts} {o.last_error or ''}" for o in outbox]
        events = session.scalars(select(AuditEventModel).where(AuditEventModel.instance_id == instance.id)
                                 .order_by(AuditEventModel.id)).all()
        lines.append("审计记录：")
        lines += [f"  {_when(e.at)} {e.kind} {e.element or ''} {person_named(session, e.actor)} {e.detail}"
                  for e in events]
    return "\n".join(lines)
