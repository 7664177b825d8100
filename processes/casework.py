"""Lifecycle use cases: deploy the shipped diagrams, submit a case, decide a task, resubmit a correction."""

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import EngineError
from engine.models import HumanTaskModel, ProcessDefinitionModel
from processes.forms import FORMS
from processes.jurisdiction import may_act
from processes.roles import CITIZEN
from processes.runtime import RUNTIME
from services import cases, divisions
from services.accounts import UserModel

DIAGRAMS_DIR = Path(__file__).resolve().parent.parent / "bpmn_diagrams"
# Fields a submission copies from the spouses onto the case for reporting (see services/cases.py).
REPORTING_FIELDS = frozenset({"parity", "woman_id", "man_id", "mother_age", "father_age", "mother_ethnicity",
                              "father_ethnicity"})


class CaseworkError(EngineError):
    """A request the rules refuse, with a message for the user."""


class Forbidden(CaseworkError):
    """The user may not act on this task or case."""


def deploy_shipped(session: Session, actor: str = "system") -> list[tuple[ProcessDefinitionModel, bool]]:
    """Deploy every diagram in bpmn_diagrams/ (unchanged files make no new version)."""
    return [RUNTIME.definitions.deploy(session, path.read_bytes(), actor)
            for path in sorted(DIAGRAMS_DIR.glob("*.bpmn"))]


def offered_types(session: Session) -> dict[str, str]:
    """Map each case type citizens may apply for to the process that handles it, as the active diagrams declare.

    A diagram lists its types in the process property `caseTypes` (comma-separated). When two active processes
    claim a type, the one deployed last wins: deploying a new policy is how a type moves to another process.
    """
    rows = session.scalars(
        select(ProcessDefinitionModel)
        .where(ProcessDefinitionModel.kind == "bpmn", ProcessDefinitionModel.active.is_(True))
        .order_by(ProcessDefinitionModel.id)
    ).all()
    newest = {row.key: row for row in rows}
    offered = {}
    for row in sorted(newest.values(), key=lambda r: r.id):
        declared = RUNTIME.definitions.parsed(session, row.id, row.sha256).diagram.properties.get("caseTypes", "")
        for case_type in filter(None, (t.strip() for t in declared.split(","))):
            if case_type in cases.CASE_TYPES:
                offered[case_type] = row.key
    return {case_type: offered[case_type] for case_type in cases.CASE_TYPES if case_type in offered}


def _village(session: Session, code: str, label: str) -> str:
    code = (code or "").strip()
    if len(code) != 12 or not code.isdigit():
        raise CaseworkError(f"{label}应选到村（居），为12位区划代码")
    if divisions.get_division(session, code) is None:
        raise CaseworkError(f"{label}区划代码 {code} 不存在")
    return code


def submit(session: Session, applicant: UserModel, *, case_type: str, woman_name: str, man_name: str,
           contact_phone: str, hukou_division: str, residence_division: str, **reporting) -> cases.CaseModel:
    """Create a case and start its lifecycle on the newest active version of the process for its type."""
    process_key = offered_types(session).get(case_type)
    if process_key is None:
        raise CaseworkError(f"当前不受理该类型的申请：{cases.CASE_TYPES.get(case_type, case_type)}")
    if unknown := set(reporting) - REPORTING_FIELDS:
        raise TypeError(f"unknown case fields: {sorted(unknown)}")
    case = cases.create_case(
        session, case_type=case_type, process_key=process_key, applicant_id=applicant.id,
        woman_name=woman_name, man_name=man_name, contact_phone=contact_phone,
        hukou_division=_village(session, hukou_division, "户籍地"),
        residence_division=_village(session, residence_division, "现居住地"), **reporting,
    )
    case.instance = RUNTIME.start(
        session, case.process_key, {"same_village": case.hukou_division == case.residence_division},
        business_key=case.case_number, actor=applicant.actor,
    )
    return case


def open_tasks(session: Session, case: cases.CaseModel) -> list[HumanTaskModel]:
    """Return the open user tasks of a case."""
    return list(session.scalars(
        select(HumanTaskModel).where(HumanTaskModel.business_key == case.case_number, HumanTaskModel.status == "open")
        .order_by(HumanTaskModel.id)
    ))


def _task(session: Session, task_guid: str) -> HumanTaskModel:
    task = session.scalar(select(HumanTaskModel).where(HumanTaskModel.task_guid == task_guid))
    if task is None:
        raise CaseworkError("任务不存在")
    return task


def decide(session: Session, task_guid: str, user: UserModel, decision: str, reason: str = "") -> cases.CaseModel:
    """Record a staff member's decision on a task they may act on, and advance the case."""
    task = _task(session, task_guid)
    if not may_act(user.role, user.division_code, task.role, task.division_code):
        raise Forbidden("您无权办理该任务")
    form = FORMS[task.form_key or ""]
    if decision not in form.decisions:
        raise CaseworkError(f"请选择办理结果：{' / '.join(form.decisions.values())}")
    reason = (reason or "").strip()
    if decision in form.reason_required_for and not reason:
        raise CaseworkError(f"选择「{form.decisions[decision]}」时必须填写原因")
    RUNTIME.complete_task(session, task.id, {"decision": decision, "reason": reason}, user.actor)
    return cases.get_case(session, task.business_key or "")


def resubmit(session: Session, case: cases.CaseModel, user: UserModel, *, hukou_division: str | None = None,
             residence_division: str | None = None, note: str = "") -> cases.CaseModel:
    """Send a corrected case back to verification (the citizen's correction task)."""
    if user.id != case.applicant_id or user.role != CITIZEN:
        raise Forbidden("只有申请人本人可以更正申请")
    task = next((t for t in open_tasks(session, case) if t.role == CITIZEN), None)
    if task is None:
        raise CaseworkError("该申请当前无需更正")
    if hukou_division:
        case.hukou_division = _village(session, hukou_division, "户籍地")
    if residence_division:
        case.residence_division = _village(session, residence_division, "现居住地")
    RUNTIME.complete_task(session, task.id, {"decision": "resubmitted", "reason": note.strip()}, user.actor,
                          data={"same_village": case.hukou_division == case.residence_division})
    return case
