"""各环节填写的内容: what every step's form recorded on the counted cases, as a spreadsheet.

Nothing here knows a field: the columns are the fields each step's form declares (in the diagram version the case
runs on), headed by their labels, so a step a new diagram adds is exported with its own fields. Values keep their
types: dates are date cells, whole numbers numbers, choices their labels, yes/no 是/否.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from engine.calendar import CST
from engine.errors import EngineError
from engine.forms import FormDefinition, FormField
from engine.models import ProcessDefinitionModel
from processes.forms import form_of
from processes.overview import actor_names
from processes.runtime import RUNTIME
from services import divisions, statistics
from services.cases import CASE_TYPES

# The columns every row starts with, before the step's own fields.
LEADING_COLUMNS = ("受理编号", "申请类型", "户籍地", "办理人", "办理时间")
DATE_FORMAT = "yyyy-mm-dd"


@dataclass
class StepTable:
    """One step's completions: its name, its fields' labels by field id (in form order), and the rows."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    rows: list[tuple[list[Any], dict[str, Any]]] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Return the headings: the leading columns, then each field's label."""
        return [*LEADING_COLUMNS, *self.labels.values()]

    def cells(self) -> list[list[Any]]:
        """Return the rows as cells under `columns` (a field the row's form did not have stays empty)."""
        return [[*leading, *(values.get(field_id) for field_id in self.labels)] for leading, values in self.rows]


def typed_value(item: FormField, value: Any) -> Any:
    """Return a recorded value as a spreadsheet keeps it: a date, a number, or the words a reader sees."""
    if value is None or value == "":
        return None
    if item.type == "date":
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if item.type == "long" and isinstance(value, int) and not isinstance(value, bool):
        return value
    return item.choice_label(value)


def _step_forms(session: Session, definition_id: int) -> dict[str, tuple[str, FormDefinition]]:
    """Return (step name, form) of every user task of a deployed version, by element id; {} if it no longer loads."""
    definition = session.get(ProcessDefinitionModel, definition_id)
    try:
        elements = RUNTIME.definitions.parsed(session, definition.id, definition.sha256).diagram.elements
    except EngineError:
        return {}
    return {key: (element.name or key, form) for key, element in elements.items()
            if (form := form_of(element)) is not None}


def step_tables(session: Session, code: str, filters: statistics.Filters) -> list[StepTable]:
    """Return a table per step (by step id) of what the counted cases' forms recorded, in the order steps were
    first done; raises statistics.StatisticsError when the range holds too many records to export at once."""
    records = statistics.step_records(session, code, filters)
    forms = {ident: _step_forms(session, ident) for ident in {r.definition_id for r in records}}
    names = actor_names(session, {r.actor for r in records})
    places = divisions.full_names(session, {r.hukou_division for r in records}, near=code)
    tables: dict[str, StepTable] = {}
    for record in records:
        step_name, form = forms[record.definition_id].get(record.step, (record.step, None))
        if form is None:
            continue
        table = tables.setdefault(record.step, StepTable(step_name))
        table.labels |= {item.id: item.label for item in form.fields if item.id not in table.labels}
        leading = [record.case_number, CASE_TYPES.get(record.case_type, record.case_type),
                   places.get(record.hukou_division, record.hukou_division),
                   names.get(record.actor, record.actor), record.at.astimezone(CST).replace(tzinfo=None)]
        table.rows.append((leading, {item.id: typed_value(item, record.values.get(item.id)) for item in form.fields}))
    return list(tables.values())
