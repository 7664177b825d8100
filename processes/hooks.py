"""What the engine asks of the product: routing fields, status milestones and result records live on cases."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from engine.models import HumanTaskModel, ProcessInstanceModel
from processes import forms
from processes.jurisdiction import JURISDICTION_FIELDS
from services import cases, people


class CaseHooks:
    """Engine hooks backed by the case table (the instance's business key is the case number)."""

    @staticmethod
    def _case(session: Session, instance: ProcessInstanceModel) -> cases.CaseModel:
        case = cases.get_case(session, instance.business_key or "")
        if case is None:
            raise LookupError(f"流程实例 {instance.id} 没有对应的案件")
        return case

    def jurisdiction(self, session: Session, instance: ProcessInstanceModel, field_name: str) -> str | None:
        """Return the division code in the case field that routes a task."""
        if field_name not in JURISDICTION_FIELDS:
            raise LookupError(f"未知辖区字段：{field_name}")
        return getattr(self._case(session, instance), field_name)

    def status_changed(self, session: Session, instance: ProcessInstanceModel, status: str) -> None:
        """Show the new milestone to the citizen."""
        cases.set_status(self._case(session, instance), status)

    def task_completed(self, session: Session, instance: ProcessInstanceModel, task: HumanTaskModel,
                       result: Mapping[str, Any], actor: str) -> None:
        """Keep each decision as its own row; a decision that confirms the claim updates the spouses' records."""
        case = self._case(session, instance)
        from processes.task_forms import task_form  # the runtime, which task_forms reads, is built with these hooks

        form = task_form(session, task)
        cases.record_verification(
            session, case, step=task.bpmn_id, step_name=task.name, actor=actor, office_division=task.division_code,
            decision=forms.decision_of(form, result), reason=forms.reason_of(form, result),
        )
        if forms.confirms_claim(form, result):
            spouses = people.persons_by_id(session, (case.woman_id, case.man_id))
            people.confirm_claim(session, case.id, {"woman": spouses.get(case.woman_id),
                                                    "man": spouses.get(case.man_id)}, actor)
