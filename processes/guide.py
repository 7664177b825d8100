"""办事指南 of each case type, read off the process version new cases of that type start on.

The steps are the diagram's tasks along its main path (from the start event, through the default flow of every
exclusive gateway and every branch of a parallel one), who handles each (its lane or role), the time limit of each
(the timer attached to it), and the tasks that happen only in some cases (a correction). Materials come from the
materials rules, so the guide changes when a new diagram version is activated, with no edit to any text.

Guides are built once per set of active versions (and assignment rules) and kept in memory: they depend on
nothing else.
"""

import re
import threading
from collections import deque
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.diagram import Diagram, Element, Vocabulary
from engine.models import ProcessDefinitionModel
from processes.casework import offered_types
from processes.roles import ROLES
from processes.runtime import RUNTIME
from services import cases, materials
from services.assignments import rules
from services.codes import REMARRIAGE

FEE = "不收费"
SYSTEM = "系统自动办理"
SPLIT_BY_DEFAULT = frozenset({"exclusiveGateway", "inclusiveGateway"})
SHOWN_TAGS = frozenset({"startEvent", "userTask", "serviceTask", "endEvent"})
WHOLE_DAYS = re.compile(r"^P(\d+)D$")
WHOLE_HOURS = re.compile(r"^PT(\d+)H$")
# Situations that ask for more materials, as answers the materials rules understand (services.materials).
MATERIAL_SITUATIONS = {
    "夫妻一方再婚的": {"woman": {"marital_status": REMARRIAGE}},
    "子女已出生后申请的": {"after_birth": True},
}


@dataclass(frozen=True)
class Limit:
    """A time limit as written on the timer: its words, and its working days when counted so."""

    text: str
    working_days: int | None = None


@dataclass(frozen=True)
class Step:
    """One step of the guide: the tasks done at it (several when done in parallel), who does them, in how long."""

    names: tuple[str, ...]
    handler: str
    limit: Limit | None = None
    kind: str = "task"  # "start", "task", "system" or "end"


@dataclass(frozen=True)
class Material:
    """A material to prepare: its name, what it shows, and the situation that asks for it (empty: always)."""

    label: str
    hint: str
    when: str = ""


@dataclass(frozen=True)
class Guide:
    """The generated part of one case type's 办事指南."""

    case_type: str
    type_label: str
    process_name: str
    version: int
    steps: tuple[Step, ...]
    occasional: tuple[Step, ...]
    materials: tuple[Material, ...]
    fee: str = FEE

    @property
    def total_limit(self) -> str:
        """Return the sum of the steps' limits in working days (parallel steps counted once), or '' if any lacks one."""
        days = [step.limit.working_days if step.limit else None for step in self.steps if step.kind == "task"]
        if not days or None in days:
            return ""
        return f"{sum(d for d in days if d)}个工作日"


# Guides by the active versions and assignment rules they were built from: a version activated or retired, or a
# rule changed, is a new key. Few keys ever exist; the oldest go beyond KEPT.
_CACHE: dict[tuple, dict[str, Guide]] = {}
_LOCK = threading.Lock()
KEPT = 16


def offered_guides(session: Session) -> dict[str, Guide]:
    """Return the guide of every case type citizens may apply for now, by type in the types' order.

    Two small queries when the guides are known (the active versions' ids and hashes, the assignment rules);
    the diagrams themselves are read only when a version was activated or retired since.
    """
    active = tuple(tuple(row) for row in session.execute(
        select(ProcessDefinitionModel.id, ProcessDefinitionModel.sha256)
        .where(ProcessDefinitionModel.kind == "bpmn", ProcessDefinitionModel.active.is_(True))
        .order_by(ProcessDefinitionModel.id)))
    key = (active, tuple(sorted(rules(session).items())))
    found = _CACHE.get(key)
    if found is None:
        vocabulary = RUNTIME.definitions.vocabulary_for(session)
        found = {}
        for case_type, process_key in offered_types(session).items():
            definition = RUNTIME.definitions.latest_active(session, process_key)
            diagram = RUNTIME.definitions.parsed(session, definition.id, definition.sha256).diagram
            found[case_type] = build(case_type, definition, diagram, vocabulary)
        with _LOCK:
            while len(_CACHE) >= KEPT:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = found
    return found


def guide_for(session: Session, case_type: str) -> Guide | None:
    """Return the guide of a case type from its process's active version; None when no process takes the type."""
    return offered_guides(session).get(case_type)


def build(case_type: str, definition: ProcessDefinitionModel, diagram: Diagram, vocabulary: Vocabulary) -> Guide:
    """Build the guide of `case_type` from the diagram of `definition`."""
    path = main_path(diagram)
    on_path = {element.id for stage in path for element in stage}
    steps = tuple(step for stage in path if (step := _step(stage, diagram, vocabulary)) is not None)
    occasional = tuple(_step([element], diagram, vocabulary) for element in diagram.elements.values()
                       if element.tag == "userTask" and element.id not in on_path and not element.inside)
    return Guide(case_type, cases.CASE_TYPES.get(case_type, case_type), diagram.name or definition.name,
                 definition.version, steps, occasional, required_materials())


def main_path(diagram: Diagram) -> list[list[Element]]:
    """Return the shown elements along the main path, grouped by distance from the start (parallel ones together).

    A gateway that chooses one way goes its default way (the ordinary outcome: verified, approved); one without a
    default goes its first way. Boundary events (deadlines, withdrawal) are not on the path.
    """
    starts = [e for e in diagram.elements.values() if e.tag == "startEvent" and not e.inside and not e.attached_to]
    depth: dict[str, int] = {start.id: 0 for start in starts[:1]}
    queue = deque(depth)
    while queue:
        current = diagram.elements[queue.popleft()]
        for target in _next(diagram, current):
            if target not in depth and target in diagram.elements:
                depth[target] = depth[current.id] + 1
                queue.append(target)
    stages: dict[int, list[Element]] = {}
    for element_id, distance in depth.items():
        element = diagram.elements[element_id]
        if element.tag in SHOWN_TAGS:
            stages.setdefault(distance, []).append(element)
    return [stages[distance] for distance in sorted(stages)]


def _next(diagram: Diagram, element: Element) -> list[str]:
    flows = diagram.outgoing(element.id)
    if element.tag in SPLIT_BY_DEFAULT and len(flows) > 1:
        chosen = next((f for f in flows if f.id == element.default_flow), flows[0])
        return [chosen.target]
    return [f.target for f in flows]


def _step(stage: list[Element], diagram: Diagram, vocabulary: Vocabulary) -> Step | None:
    """Describe the elements at one distance: the user tasks if any, else the first other shown element."""
    tasks = [element for element in stage if element.tag == "userTask"]
    if tasks:
        limits = [limit for task in tasks if (limit := time_limit(diagram, task)) is not None]
        handlers = dict.fromkeys(_handler(task, vocabulary) for task in tasks)
        return Step(tuple(task.name or task.id for task in tasks), "、".join(handlers),
                    max(limits, key=lambda limit: limit.working_days or 0, default=None))
    element = stage[0]
    kind = {"startEvent": "start", "endEvent": "end"}.get(element.tag, "system")
    handler = {"start": element.lane or "", "end": ""}.get(kind, SYSTEM)
    return Step((element.name or element.id,), handler, kind=kind)


def _handler(task: Element, vocabulary: Vocabulary) -> str:
    role = vocabulary.role_of(task)
    return ROLES.get(role, role) if role else (task.lane or task.candidate_groups or "")


def time_limit(diagram: Diagram, task: Element) -> Limit | None:
    """Return the shortest limit a timer attached to `task` sets, in words (e.g. 3个工作日), or None."""
    limits = [_limit(element) for element in diagram.elements.values()
              if element.attached_to == task.id and element.timer]
    limits = [limit for limit in limits if limit is not None]
    return min(limits, key=lambda limit: limit.working_days or 0, default=None)


def _limit(timer: Element) -> Limit | None:
    text = (timer.timer or "").strip().upper()
    if (days := WHOLE_DAYS.match(text)) is not None:
        if timer.properties.get("calendar") == "workdays":
            return Limit(f"{int(days.group(1))}个工作日", int(days.group(1)))
        return Limit(f"{int(days.group(1))}日")
    if (hours := WHOLE_HOURS.match(text)) is not None:
        return Limit(f"{int(hours.group(1))}小时")
    return None  # a date or an expression: no fixed limit to state


def required_materials() -> tuple[Material, ...]:
    """Return every material the rules may ask for: those always required, then each situation's additions."""
    always = materials.required_materials({})
    found = [Material(label, hint) for _kind, label, hint in always]
    for situation, answers in MATERIAL_SITUATIONS.items():
        found += [Material(label, hint, situation) for kind, label, hint in materials.required_materials(answers)
                  if (kind, label, hint) not in always]
    return tuple(found)
