"""What a citizen sees of a case: its status explained, what to do next, and a timeline of the steps.

Citizens see offices, never the names of the staff who decided.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from engine.calendar import CST
from engine.forms import FormDefinition
from engine.models import HumanTaskModel
from processes.forms import decision_label, needs_reason
from processes.overview import all_tasks
from processes.roles import CITIZEN, ROLE_DIVISION_LENGTH
from processes.task_forms import step_forms
from processes.withdrawal import WITHDRAWN, may_withdraw
from services import applications, cases, confirmation_visit, materials, notifications, people
from services.accounts import UserModel
from services.db import db
from services.filestore import FileStore
from webapp.casepage import place

NEXT_STEPS = {
    "办理中": "村（居）正在核实您的申请，核实后由乡镇（街道）审核；每个环节的办理期限见下方办理进度。"
           "办理结果将以短信通知，请留意。",
    "核实有误": "核实发现申请信息与实际情况不符，请按下方原因更正后重新提交。",
    "登记成功": "登记已完成。请下载并打印《生育服务登记单》，也可到街道服务大厅打印。",
    "待现场确认": "审查已通过。请夫妻双方携带身份证、户口本、结婚证原件到户籍地乡镇（街道）卫生健康办公室现场确认。",
    "已批准": "再生育审批已批准。请下载并打印审批单，也可到街道服务大厅打印。",
    "不予登记": "经审核不予登记，原因见下方。如有疑问，请联系户籍地乡镇（街道）卫生健康办公室。",
    "不予批准": "经审查不予批准，原因见下方。如有疑问，请联系户籍地乡镇（街道）卫生健康办公室。",
    WITHDRAWN: "您已撤回本申请，村（居）和乡镇（街道）不再办理。如仍需办理，可以重新提交申请。",
}
SLIP_STATUSES = frozenset({"登记成功", "已批准"})


@dataclass(frozen=True)
class Step:
    """One line of the timeline."""

    at: datetime | None
    title: str
    detail: str = ""
    current: bool = False


def cases_of(user: UserModel) -> list[cases.CaseModel]:
    """Return the citizen's cases, newest first."""
    return list(db.session.scalars(select(cases.CaseModel).where(cases.CaseModel.applicant_id == user.id)
                                   .order_by(cases.CaseModel.id.desc())))


def _office(code: str | None, role: str | None) -> str:
    """Name the office that acts for `role` over the division `code` (a township task names the township)."""
    if not code or role not in ROLE_DIVISION_LENGTH:
        return ""
    return place(code[:ROLE_DIVISION_LENGTH[role]])


def _note(form: FormDefinition | None, result: cases.VerificationModel) -> str:
    """Label a decision's note: the reason of a refusal (原因), or a remark on a positive decision (说明)."""
    return f"{'原因' if needs_reason(form, result.decision) else '说明'}：{result.reason}"


def timeline(case: cases.CaseModel, tasks: list[HumanTaskModel]) -> list[Step]:
    """Return the steps of a case: submission, each result with its office, and what is under way now."""
    forms = step_forms(db.session, case.instance_id)
    role_of_step = {t.bpmn_id: t.role for t in tasks}
    steps = [Step(case.submitted_at, "提交申请", f"受理编号 {case.case_number}")]
    for result in cases.verifications(db.session, case):
        if role_of_step.get(result.step) == CITIZEN:  # the citizen's own correction: no office, no reason to give
            steps.append(Step(result.at, "您已更正申请并重新提交"))
            continue
        office = _office(result.office_division, role_of_step.get(result.step))
        label = decision_label(forms.get(result.step), result.decision)
        note = _note(forms.get(result.step), result) if result.reason else ""
        detail = "；".join(filter(None, [office, note]))
        steps.append(Step(result.at, f"{result.step_name}：{label}", detail))
    for task in tasks:
        if task.status == "open":
            title = "待您更正申请" if task.role == CITIZEN else f"正在办理：{task.name}"
            # The deadline comes from the diagram's timer, so it follows whatever the policy sets.
            due = f"办理期限：{task.due_at.astimezone(CST):%Y-%m-%d}" if task.due_at and task.role != CITIZEN else ""
            if due and task.form_key == confirmation_visit.VISIT_FORM:  # the office's booking, not the citizen's
                due = f"预约现场确认日期：{task.due_at.astimezone(CST):%Y-%m-%d}（不是您的截止期限）"
            detail = "；".join(filter(None, [_office(task.division_code, task.role), due]))
            steps.append(Step(None, title, detail, current=True))
    if case.completed_at:
        steps.append(Step(case.completed_at, f"办结：{case.status}"))
    elif case.status == WITHDRAWN:
        steps.append(Step(case.status_changed_at, "您已撤回申请"))
    return steps


def _reason(case: cases.CaseModel) -> str:
    results = [r for r in cases.verifications(db.session, case) if r.reason]
    return results[-1].reason if results else ""


def case_view(case: cases.CaseModel) -> dict:
    """Return the template context of a citizen's case page."""
    tasks = all_tasks(db.session, case)
    can_correct = any(t.status == "open" and t.role == CITIZEN for t in tasks)
    return {"next_step": NEXT_STEPS.get(case.status, ""), "timeline": timeline(case, tasks),
            "reason": _reason(case) if case.status in {"核实有误", "不予登记", "不予批准"} else "",
            "can_correct": can_correct, "slip_ready": case.status in SLIP_STATUSES,
            "can_withdraw": not can_correct and may_withdraw(db.session, case),
            "children": claim.children if (claim := people.latest_claim(db.session, case.id)) else [],
            "visit": confirmation_visit.open_visit(db.session, case.hukou_division, tasks),
            "notices": notifications.notices(db.session, case.case_number, case.contact_phone)}


def public_view(case: cases.CaseModel) -> dict:
    """Return what the lookup without sign-in shows: the status, the next step and the steps, with no details."""
    steps = [Step(step.at, step.title, current=step.current) for step in timeline(case, all_tasks(db.session, case))]
    return {"next_step": NEXT_STEPS.get(case.status, ""), "timeline": steps}


def application_of(case: cases.CaseModel) -> applications.ApplicationModel | None:
    """Return the application a case was submitted from (cases made by staff tools have none)."""
    return db.session.scalar(select(applications.ApplicationModel)
                             .where(applications.ApplicationModel.case_id == case.id))


def missing_materials(application: applications.ApplicationModel) -> list[str]:
    """Return the labels of the required materials not uploaded yet."""
    return materials.missing_materials(db.session, application)


def uploaded_materials(application: applications.ApplicationModel) -> list[tuple[str, list]]:
    """Return the uploaded files of an application grouped by the label of their kind, in upload order."""
    grouped: dict[str, list] = {}
    for material in materials.of_application(db.session, application):
        grouped.setdefault(materials.KINDS[material.kind].label, []).append(material)
    return list(grouped.items())


def delete_draft(application: applications.ApplicationModel, store: FileStore) -> None:
    """Delete a draft and the files uploaded for it (the files go once the deletion commits)."""
    for material in materials.of_application(db.session, application):
        materials.remove_material(db.session, store, application, material.token)
    db.session.delete(application)

