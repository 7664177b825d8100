"""The form of a task row and of each step of a case, read from the version of the diagram the case runs on."""

from sqlalchemy.orm import Session

from engine.diagram import Element
from engine.forms import FormDefinition
from engine.models import HumanTaskModel, ProcessInstanceModel
from processes.forms import form_of
from processes.runtime import RUNTIME


def _elements(session: Session, instance: ProcessInstanceModel | None) -> dict[str, Element]:
    if instance is None:
        return {}
    definition = instance.definition
    return dict(RUNTIME.definitions.parsed(session, definition.id, definition.sha256).diagram.elements)


def element_of(session: Session, task: HumanTaskModel) -> Element | None:
    """Return the diagram element of a task row."""
    return _elements(session, task.instance).get(task.bpmn_id)


def task_form(session: Session, task: HumanTaskModel) -> FormDefinition | None:
    """Return the form a task asks for, None when it has none the product can show."""
    return form_of(element_of(session, task))


def step_forms(session: Session, instance_id: int | None) -> dict[str, FormDefinition]:
    """Return the form of every user task of a case's diagram, by element id (decisions are labelled by them)."""
    instance = session.get(ProcessInstanceModel, instance_id) if instance_id is not None else None
    return {key: form for key, element in _elements(session, instance).items()
            if (form := form_of(element)) is not None}


def recorded_fields(session: Session, instance_id: int | None) -> dict[str, list[tuple[str, str, object]]]:
    """Return, by step id, what each step's form recorded: (label, value as shown, typed value) of each filled field.

    Read from the case's workflow results (the last time each step was done), labelled by the step's form.
    """
    if instance_id is None:
        return {}
    forms = step_forms(session, instance_id)
    results = RUNTIME.data(session, instance_id).get("results", {})
    return {step: [(item.label, item.choice_label(values[item.id]), values[item.id]) for item in form.fields
                   if values.get(item.id) not in (None, "")]
            for step, values in results.items()
            if isinstance(values, dict) and (form := forms.get(step)) is not None}
