"""What the product reads off a task form, and the forms of stored versions that name a form key only.

A diagram declares each user task's form (`camunda:formData`, read by engine.forms). Two field properties say what
a field means to the case: `decision` marks the outcome recorded as the step's decision (by default the field with
id `decision`), and `reason` the note recorded beside it (by default the field `reason`). `confirmsClaim` on the
decision field names the value that says the claimed facts are true (情况属实): the spouses' records in the resource
base then take them over (services.people.confirm_claim). Everything here is the one place that decides a
decision's label, whether a decision needs a reason, and whether it confirms the claim.

Versions deployed before forms were declared in diagrams name one of five form keys: `BUILTIN_FORMS` keeps them
running, as definitions of the same kind.
"""

from collections.abc import Mapping
from typing import Any

from engine.diagram import Element
from engine.forms import FormDefinition, FormField

REASON_MAX_LENGTH = 500


def _decision_form(title: str, decisions: dict[str, str], reason_for: str | None = None,
                   confirms: str | None = None) -> FormDefinition:
    """Return a form of the old shape: a decision to choose, and a reason required for one of the decisions."""
    decision = FormField("decision", "办理结果", "enum", choices=tuple(decisions.items()),
                         constraints={"required": ""},
                         properties={"decision": "true", **({"confirmsClaim": confirms} if confirms else {})})
    reason = FormField("reason", "意见或原因", "string", constraints={"maxlength": str(REASON_MAX_LENGTH)},
                       properties={"reason": "true", **({"requiredIf": f"decision == {reason_for}"} if reason_for
                                                        else {})})
    return FormDefinition((decision, reason), {"title": title})


BUILTIN_FORMS = {
    "village_verification": _decision_form("村（居）核实", {"verified": "情况属实", "mismatch": "情况不符"},
                                           "mismatch", confirms="verified"),
    "township_audit": _decision_form("乡镇（街道）审核", {"approved": "通过", "rejected": "不通过"}, "rejected"),
    "township_review": _decision_form("乡镇（街道）审查", {"passed": "审查通过", "failed": "审查不通过"}, "failed"),
    "offline_confirmation": _decision_form("现场确认", {"approved": "已现场确认，批准", "rejected": "不予批准"},
                                           "rejected", confirms="approved"),
    "application_correction": _decision_form("更正申请", {"resubmitted": "已更正并重新提交"}),
}


def form_of(element: Element | None) -> FormDefinition | None:
    """Return the form of a user task: declared in the diagram, else the built-in form its key names."""
    if element is None:
        return None
    return element.form or BUILTIN_FORMS.get(element.form_key or "")


def decision_field(form: FormDefinition | None) -> FormField | None:
    """Return the field whose value is the step's decision: marked `decision`, else the form's only enum field."""
    if form is None:
        return None
    enums = [item for item in form.fields if item.type == "enum"]
    return form.marked("decision") or (enums[0] if len(enums) == 1 else None)


def reason_field(form: FormDefinition | None) -> FormField | None:
    """Return the field whose value is the note recorded with the decision (marked `reason`), if any."""
    return form.marked("reason") if form is not None else None


def decision_of(form: FormDefinition | None, result: Mapping[str, Any]) -> str:
    """Return the decision a form result records ("" when the form has no decision field)."""
    found = decision_field(form)
    value = result.get(found.id) if found else result.get("decision")
    return "" if value is None else str(value)


def reason_of(form: FormDefinition | None, result: Mapping[str, Any]) -> str:
    """Return the note a form result records beside its decision."""
    found = reason_field(form)
    value = result.get(found.id) if found else result.get("reason")
    return "" if value is None else str(value)


def decision_label(form: FormDefinition | None, decision: str) -> str:
    """Return the label of a decision taken on a form (the value itself when the form does not know it)."""
    found = decision_field(form)
    return found.choice_label(decision) if found else decision


def needs_reason(form: FormDefinition | None, decision: str) -> bool:
    """Return whether taking `decision` obliges the decider to give a reason: what marks it as a refusal."""
    found, reason = decision_field(form), reason_field(form)
    if found is None or reason is None:
        return False
    condition = reason.condition("requiredIf")
    return reason.required or (condition is not None and condition.field == found.id
                               and condition.holds({found.id: decision}))


def confirms_claim(form: FormDefinition | None, result: Mapping[str, Any]) -> bool:
    """Return whether a form result says the facts the applicant claimed are true (property `confirmsClaim`)."""
    found = decision_field(form)
    wanted = found.properties.get("confirmsClaim") if found else None
    return wanted is not None and decision_of(form, result) == wanted


def offered_decisions(form: FormDefinition | None) -> list[tuple[str, str]]:
    """Return the decisions a form offers (value, label), for lint and dry runs."""
    found = decision_field(form)
    return list(found.choices) if found else []


# What a task page may show its decider beside the form; a user task lists some in its property `facts`
# (comma-separated, e.g. `spouses,changes`), and shows all of them when it lists none.
FACTS = {"spouses": "夫妻与子女信息", "materials": "证明材料", "decisions": "各环节与此前的办理结果",
         "changes": "重新提交时申请人更改的内容"}


def facts_of(element: Element | None) -> frozenset[str]:
    """Return the case facts a task shows its decider: those its `facts` property lists, else all."""
    listed = (element.properties.get("facts", "") if element is not None else "").replace("，", ",")
    chosen = {name.strip() for name in listed.split(",") if name.strip()}
    return frozenset(chosen & set(FACTS)) if chosen else frozenset(FACTS)
