"""What a page about one case shows (staff, admin).

The claim beside the verified records, tasks, results, materials, comments, history and the diagram.
"""

from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import select

from engine.models import AuditEventModel, HumanTaskModel
from engine.svg import render_svg
from processes.forms import decision_label
from processes.overview import actor_names, all_tasks
from processes.runtime import RUNTIME
from processes.task_forms import recorded_fields, step_forms
from services import cases, divisions, materials, people
from services.cases import CaseModel, VerificationModel
from services.comments import CaseCommentModel, comments_of
from services.db import db
from services.materials import MaterialModel
from webapp.filters import SPOUSE_FIELDS

AUDIT_LABELS = {
    "started": "提交申请", "task_completed": "办理", "service_done": "系统处理", "service_failed": "系统处理失败",
    "incident": "故障", "incident_retried": "重试", "timer_fired": "超期提醒", "completed": "办结", "error": "出错",
    "task_claimed": "认领", "task_released": "取消认领", "task_reassigned": "转派", "pii_viewed": "查看完整信息",
    "slip_printed": "打印登记单",
    "material_viewed": "查看证明材料",
}


@dataclass
class CaseFacts:
    """The parts of a case page that do not depend on who looks or which task they came from."""

    related: list[HumanTaskModel]
    events: list[AuditEventModel]
    names: dict[str, str]
    diagram: Markup | None
    decided: list[tuple[VerificationModel, str]]
    materials: list[tuple[str, list[MaterialModel]]]
    claim: people.Claim | None
    records: dict[str, people.PersonModel]
    comments: list[CaseCommentModel]
    # What the applicant changed in their last resubmission (empty before any).
    changes: list["Change"]
    # By step id: the labelled values its form recorded.
    recorded: dict[str, list[tuple[str, str, object]]]

    @property
    def differences(self) -> dict[str, set[str]]:
        """Return, per spouse, the fields where this case's claim differs from the verified record."""
        if self.claim is None:
            return {}
        return {side: people.differences(self.claim.spouse(side), self.records.get(side)) for side in people.SPOUSES}

    def as_context(self) -> dict:
        """Return the facts as template variables, with the audit labels and the place formatter."""
        return {"related": self.related, "events": self.events, "names": self.names, "diagram": self.diagram,
                "decided": self.decided, "materials": self.materials, "claim": self.claim, "records": self.records,
                "differences": self.differences, "comments": self.comments, "changes": self.changes,
                "recorded": self.recorded, "labels": AUDIT_LABELS, "place": place}


def place(code: str | None) -> str:
    """Return a division's full name, or the code when it is unknown."""
    try:
        return divisions.full_name(db.session, code) if code else ""
    except LookupError:
        return code or ""


@dataclass(frozen=True)
class Change:
    """One thing a resubmission changed: a spouse's field, or the children."""

    field: str
    label: str
    before: object
    after: object


def resubmission_changes(claims: list[people.Claim]) -> list[Change]:
    """Return what the newest claim of a case changed against the one before it (nothing for a first claim)."""
    if len(claims) < 2:  # noqa: PLR2004 - a change needs two claims
        return []
    before, after = claims[-2], claims[-1]
    found = [Change(field, f"{'女方' if side == 'woman' else '男方'}{label}", before.spouse(side).get(field),
                    after.spouse(side).get(field))
             for side in people.SPOUSES for field, label in SPOUSE_FIELDS
             if before.spouse(side).get(field) != after.spouse(side).get(field)]
    if before.children != after.children:
        found.append(Change("children", "现有子女", "、".join(c.get("name", "") for c in before.children) or "无",
                            "、".join(c.get("name", "") for c in after.children) or "无"))
    return found


def case_facts(case: CaseModel) -> CaseFacts:
    """Read a case's claim and verified records, tasks, results, materials, comments, audit trail and diagram."""
    session = db.session
    related = all_tasks(session, case)
    events: list[AuditEventModel] = []
    diagram = None
    if case.instance_id is not None:
        events = list(session.scalars(select(AuditEventModel).where(
            AuditEventModel.instance_id == case.instance_id).order_by(AuditEventModel.id)))
        states = RUNTIME.element_states(session, case.instance_id)
        diagram = Markup(render_svg(case.instance.definition.xml, states))  # noqa: S704 - render_svg escapes names
    results = cases.verifications(session, case)
    notes = comments_of(session, case.id)
    actors = [e.actor for e in events] + [v.actor for v in results] + [f"user:{c.author_id}" for c in notes]
    names = actor_names(session, actors)
    forms = step_forms(session, case.instance_id)
    decided = [(v, decision_label(forms.get(v.step), v.decision)) for v in results]
    found = people.persons_by_id(session, (case.woman_id, case.man_id))
    records = {side: found[ident] for side, ident in (("woman", case.woman_id), ("man", case.man_id))
               if ident in found}
    claims = people.claims(session, case.id)
    return CaseFacts(related=related, events=events, names=names, diagram=diagram, decided=decided,
                     materials=materials.of_case(session, case), claim=claims[-1] if claims else None,
                     records=records, comments=notes, changes=resubmission_changes(claims),
                     recorded=recorded_fields(session, case.instance_id))
