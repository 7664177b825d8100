"""Process administration: review an uploaded diagram (report, diff, dry run), activate and retire versions.

An upload that passes every check is stored inactive, as a version to review; new cases start on the newest active
version of a process, so activating it is what puts it in service, and retiring the newer one goes back.
"""

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.definitions import ParsedDefinition
from engine.diagram import Diagram, Element
from engine.dryrun import DryRunReport, explore
from engine.errors import DiagramRejected, EngineError, NotFound
from engine.models import ProcessDefinitionModel
from processes.casework import offered_types
from processes.forms import FORMS
from processes.roles import ROLES
from processes.runtime import RUNTIME
from services import cases

STEP_TAGS = frozenset({"userTask", "serviceTask", "scriptTask", "businessRuleTask", "manualTask", "task"})
# Start data of the sample cases: what a submission sets (see casework.submit).
DRY_RUN_STARTS = {"户籍地与现居住地为同一村（居）": {"same_village": True},
                  "户籍地与现居住地不在同一村（居）": {"same_village": False}}


class RetireRefused(EngineError):
    """Retiring this version would leave a case type without a process."""


@dataclass
class Validation:
    """The outcome of checking an upload: the parsed definition, or every problem found."""

    problems: list[str]
    parsed: ParsedDefinition | None = None


@dataclass
class DefinitionDiff:
    """What a version changes against the one new cases start on now (empty lists when nothing changed)."""

    against: ProcessDefinitionModel | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Return whether no step or setting differs."""
        return not (self.added or self.removed or self.renamed or self.changed)


def validate(session: Session, xml: bytes) -> Validation:
    """Check a BPMN upload as deploying it would (safe XML, lint, structure) and list every problem."""
    try:
        return Validation([], RUNTIME.definitions.check(session, xml))
    except DiagramRejected as exc:
        return Validation(exc.problems)


def upload(session: Session, xml: bytes, actor: str) -> tuple[ProcessDefinitionModel, bool]:
    """Store a checked diagram as an inactive version to review (identical content returns the stored version)."""
    return RUNTIME.definitions.deploy(session, xml, actor, active=False)


def get_definition(session: Session, definition_id: int) -> ProcessDefinitionModel:
    """Return a stored process version."""
    definition = session.get(ProcessDefinitionModel, definition_id)
    if definition is None or definition.kind != "bpmn":
        raise NotFound("流程版本不存在")
    return definition


def parsed_of(session: Session, definition: ProcessDefinitionModel) -> ParsedDefinition:
    """Return the parsed form of a stored version."""
    return RUNTIME.definitions.parsed(session, definition.id, definition.sha256)


def current(session: Session, key: str) -> ProcessDefinitionModel | None:
    """Return the version new cases of `key` start on, if any."""
    try:
        return RUNTIME.definitions.latest_active(session, key)
    except NotFound:
        return None


def _settings(element: Element) -> dict[str, str]:
    vocabulary = RUNTIME.definitions.vocabulary
    role = vocabulary.role_of(element) if element.tag == "userTask" else None
    return {"角色": ROLES.get(role, role or "") if role else "", "表单": element.form_key or "",
            "操作": element.operator or "", "定时器": element.timer or "",
            "辖区": vocabulary.jurisdiction_of(element) or "" if element.tag == "userTask" else ""}


def _shown(element: Element) -> bool:
    return element.tag in STEP_TAGS or element.timer is not None


def diff(session: Session, new: Diagram, against: ProcessDefinitionModel | None) -> DefinitionDiff:
    """Compare a diagram's steps with those of `against`: added, removed, renamed; role, form, operator, timer."""
    result = DefinitionDiff(against)
    if against is None:
        result.added = [el.label for el in new.elements.values() if _shown(el)]
        return result
    old = parsed_of(session, against).diagram
    for el in new.elements.values():
        if _shown(el) and el.id not in old.elements:
            result.added.append(el.label)
    for el in old.elements.values():
        if not _shown(el):
            continue
        now = new.elements.get(el.id)
        if now is None:
            result.removed.append(el.label)
            continue
        if now.name != el.name:
            result.renamed.append(f"({el.id})：「{el.name}」→「{now.name}」")
        before, after = _settings(el), _settings(now)
        result.changed += [f"{now.label} {what}：{before[what] or '无'} → {after[what] or '无'}"
                           for what in before if before[what] != after[what]]
    for name in sorted(set(old.properties) | set(new.properties)):
        if old.properties.get(name) != new.properties.get(name):
            result.changed.append(f"流程属性 {name}：{old.properties.get(name) or '无'} → "
                                  f"{new.properties.get(name) or '无'}")
    return result


def _decisions(element: Element) -> list[tuple[str, str]]:
    form = FORMS.get(element.form_key or "")
    return list(form.decisions.items()) if form else []


def dry_run(session: Session, parsed: ParsedDefinition) -> DryRunReport:
    """Drive sample cases through every path of a version, in memory (nothing stored, no SMS, no slips)."""
    return explore(parsed, RUNTIME.script_engine(session), _decisions, DRY_RUN_STARTS)


def activate(session: Session, definition: ProcessDefinitionModel) -> None:
    """Put a version in service: when it is the newest active one, new cases start on it."""
    definition.active = True
    session.flush()


def retire(session: Session, definition: ProcessDefinitionModel) -> None:
    """Take a version out of service; cases running on it finish on it.

    Refused when a case type citizens can apply for now would no longer be offered: a type must first be taken
    over by another active process (or an older version of this one must stay active).
    """
    before = offered_types(session)
    definition.active = False
    session.flush()
    lost = sorted(set(before) - set(offered_types(session)))
    if lost:
        definition.active = True
        session.flush()
        names = "、".join(cases.CASE_TYPES[t] for t in lost)
        raise RetireRefused(f"停用后将无人受理：{names}。请先启用另一个声明这些类型（caseTypes）的流程版本")


def versions(session: Session, key: str) -> list[ProcessDefinitionModel]:
    """Return the stored versions of a process, newest first."""
    return list(session.scalars(select(ProcessDefinitionModel).where(
        ProcessDefinitionModel.key == key, ProcessDefinitionModel.kind == "bpmn")
        .order_by(ProcessDefinitionModel.version.desc())))


def find_version(session: Session, key: str, version: int) -> ProcessDefinitionModel:
    """Return version `version` of process `key`."""
    found = session.scalar(select(ProcessDefinitionModel).where(
        ProcessDefinitionModel.key == key, ProcessDefinitionModel.version == version,
        ProcessDefinitionModel.kind == "bpmn"))
    if found is None:
        raise NotFound(f"流程 {key} 没有版本 v{version}")
    return found
