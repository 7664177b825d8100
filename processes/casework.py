"""Lifecycle use cases: deploy the shipped diagrams, submit a case, decide a task, resubmit a correction."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import EngineError
from engine.forms import FormDefinition, check
from engine.models import HumanTaskModel, ProcessDefinitionModel
from processes.forms import decision_field, reason_field
from processes.jurisdiction import may_act
from processes.roles import CITIZEN
from processes.runtime import RUNTIME
from processes.task_forms import task_form
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


class FormRejected(CaseworkError):
    """A form result its definition refuses: the problems by field id, the first of them as the message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())))
        self.errors = errors


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


def form_for(session: Session, task: HumanTaskModel) -> FormDefinition:
    """Return the form of a task, or refuse: a task whose form the product cannot show cannot be done online."""
    form = task_form(session, task)
    if form is None:
        raise CaseworkError("该任务没有可在线提交的表单")
    return form


def _checked(form: FormDefinition, sent: Mapping[str, Any]) -> dict[str, Any]:
    """Return a form result as its definition types it, or refuse it (the same check as every page and the API)."""
    outcome = check(form, sent)
    if outcome.errors:
        raise FormRejected(outcome.errors)
    return outcome.values


def _with_decision(form: FormDefinition, values: Mapping[str, Any] | None, decision: str | None,
                   reason: str) -> dict[str, Any]:
    """Return the values sent, with a decision and a reason given apart put in the fields that record them."""
    sent = dict(values or {})
    for found, value in ((decision_field(form), decision), (reason_field(form), reason)):
        if found is not None and value and not sent.get(found.id):
            sent[found.id] = value
    return sent


def decide(session: Session, task_guid: str | HumanTaskModel, user: UserModel, decision: str | None = None,
           reason: str = "", *, values: Mapping[str, Any] | None = None) -> cases.CaseModel:
    """Record a staff member's form result on a task they may act on, and advance the case.

    The task is named by its GUID, or given as the row a caller has already read (no second lookup). `values` are
    the form's fields as sent (text or JSON values); `decision` and `reason`, when given, fill the fields that
    record them.
    """
    task = task_guid if isinstance(task_guid, HumanTaskModel) else _task(session, task_guid)
    if not may_act(user.role, user.division_code, task.role, task.division_code):
        raise Forbidden("您无权办理该任务")
    form = form_for(session, task)
    RUNTIME.complete_task(session, task.id, _checked(form, _with_decision(form, values, decision, reason)),
                          user.actor)
    return cases.get_case(session, task.business_key or "")


def correction_task(session: Session, case: cases.CaseModel) -> HumanTaskModel | None:
    """Return the open task of a case that waits for its applicant (the correction), if any."""
    return next((t for t in open_tasks(session, case) if t.role == CITIZEN), None)


def resubmit(session: Session, case: cases.CaseModel, user: UserModel, *, hukou_division: str | None = None,
             residence_division: str | None = None, note: str = "",
             values: Mapping[str, Any] | None = None) -> cases.CaseModel:
    """Send a corrected case back to verification (the citizen's correction task)."""
    if user.id != case.applicant_id or user.role != CITIZEN:
        raise Forbidden("只有申请人本人可以更正申请")
    task = correction_task(session, case)
    if task is None:
        raise CaseworkError("该申请当前无需更正")
    if hukou_division:
        case.hukou_division = _village(session, hukou_division, "户籍地")
    if residence_division:
        case.residence_division = _village(session, residence_division, "现居住地")
    form = form_for(session, task)
    # A correction form of one choice ("已更正并重新提交") is answered by resubmitting itself.
    decision = decision_field(form)
    only = decision.choices[0][0] if decision is not None and len(decision.choices) == 1 else None
    RUNTIME.complete_task(session, task.id, _checked(form, _with_decision(form, values, only, note)), user.actor,
                          data={"same_village": case.hukou_division == case.residence_division})
    return case
