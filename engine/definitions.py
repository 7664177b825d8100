"""Deploy BPMN and DMN files as versioned definitions, and keep the parsed specs of processes in memory."""

import hashlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition, TimerEventDefinition
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.decisions import DecisionInfo, is_dmn, read_decision
from engine.diagram import Assignment, Diagram, Vocabulary, decision_refs, executable_process_ids, lint, read_diagram
from engine.errors import DiagramRejected, NotFound
from engine.models import ProcessDefinitionModel
from engine.parser import EngineBpmnParser
from engine.timers import translate_timer
from engine.xmlsafe import parse_untrusted_xml

PROCESS_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class ParsedDefinition:
    """A definition ready to run: Spiff's spec (timers translated) and the engine's view of the diagram."""

    spec: BpmnProcessSpec
    subprocess_specs: dict
    diagram: Diagram


def _process_root(xml: bytes) -> tuple[etree._Element, str]:
    root = parse_untrusted_xml(xml)
    if is_dmn(root):
        raise DiagramRejected(["这是决策表（DMN）文件，不是流程图"])
    process_ids = executable_process_ids(root)
    if len(process_ids) != 1:
        raise DiagramRejected([f'文件应当恰好包含一个可执行流程（isExecutable="true"），实际为 {len(process_ids)} 个'])
    if not process_ids[0] or not PROCESS_ID.match(process_ids[0]):
        given = process_ids[0] or ""
        raise DiagramRejected([f"流程 ID「{given}」无效：应以字母开头，只含字母、数字、下划线、连字符或点"])
    return root, process_ids[0]


def parse(xml: bytes, vocabulary: Vocabulary, decisions: Mapping[str, bytes] | None = None) -> ParsedDefinition:
    """Parse and lint one BPMN file holding one executable process; raise DiagramRejected listing every problem.

    `decisions` maps each DMN decision key a business rule task may name to that decision's XML.
    """
    decisions = decisions or {}
    root, process_id = _process_root(xml)
    diagram = read_diagram(root, process_id)
    problems = lint(diagram, vocabulary, decisions)
    parser = EngineBpmnParser()
    try:
        for key in sorted(decision_refs(diagram) & set(decisions)):
            parser.add_dmn_xml(parse_untrusted_xml(decisions[key]), filename=f"{key}.dmn")
        parser.add_bpmn_xml(etree.ElementTree(root), filename=f"{process_id}.bpmn")
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        problems.append(f"BPMN 结构错误：{exc}")
    if problems:
        raise DiagramRejected(problems)
    for task_spec in spec.task_specs.values():
        event_definition = getattr(task_spec, "event_definition", None)
        if isinstance(event_definition, TimerEventDefinition):
            element = diagram.elements[task_spec.bpmn_id]
            workdays = element.properties.get("calendar") == "workdays"
            event_definition.expression = translate_timer(element.timer or "", workdays=workdays)
            if workdays:
                # The working-day helper returns the deadline, not a duration: Spiff would add a duration to its own
                # clock, a few microseconds later than ours, and cases started the same day would not share it.
                task_spec.event_definition = TimeDateEventDefinition(
                    event_definition.name, event_definition.expression, description=event_definition.description)
    return ParsedDefinition(spec, subprocess_specs, diagram)


def parse_decision(xml: bytes) -> DecisionInfo:
    """Parse and lint one DMN file holding one decision table; raise DiagramRejected listing every problem."""
    root = parse_untrusted_xml(xml)
    if not is_dmn(root):
        raise DiagramRejected(["不是决策表（DMN）文件"])
    info, problems = read_decision(root)
    if info is not None and not problems:
        parser = EngineBpmnParser()
        try:
            parser.add_dmn_xml(root, filename=f"{info.id}.dmn")
            parser.get_engine(info.id, root)
        except (ValidationException, KeyError, IndexError) as exc:
            problems.append(f"决策表结构错误：{exc}")
    if info is not None and info.id and not PROCESS_ID.match(info.id):
        problems.append(f"决策 ID「{info.id}」无效：应以字母开头，只含字母、数字、下划线、连字符或点")
    if problems:
        raise DiagramRejected(problems)
    return info


class DefinitionStore:
    """Deploys definitions and hands out their parsed form, parsing each version once per process."""

    def __init__(self, vocabulary: Vocabulary,
                 assignments: Callable[[Session], Mapping[str, Assignment]] | None = None):
        self.vocabulary = vocabulary
        # The product's assignment rules, read when a diagram is checked (they may name lanes the roles do not).
        self.assignments = assignments
        # Keyed by content hash: ids can be reused (a restored or recreated database), content cannot lie.
        self._parsed: dict[str, ParsedDefinition] = {}
        self._lock = threading.Lock()

    def check(self, session: Session, xml: bytes) -> ParsedDefinition:
        """Parse and lint a BPMN process as deploying it would, without storing it; raise DiagramRejected."""
        _, process_id = _process_root(xml)
        bound = {d.key: d for d in self._active_decisions(session)}
        return parse(xml, self.vocabulary_for(session), {key: d.xml for key, d in bound.items()})

    def vocabulary_for(self, session: Session) -> Vocabulary:
        """Return the vocabulary with the current assignment rules (lane or group name → role and jurisdiction)."""
        if self.assignments is None:
            return self.vocabulary
        return replace(self.vocabulary, assignments=self.assignments(session))

    def deploy(self, session: Session, xml: bytes, deployed_by: str,
               active: bool = True) -> tuple[ProcessDefinitionModel, bool]:
        """Store a BPMN or DMN file as the next version of its key; identical content returns the existing version.

        `active=False` stores a version for review: new cases do not start on it until it is activated.

        A process is bound to the newest active versions of the decisions it names: its content hash covers
        theirs, so deploying it again after a decision changed makes a new version that uses the new decision,
        while cases already running keep the decision they started with.
        """
        if is_dmn(parse_untrusted_xml(xml)):
            info = parse_decision(xml)
            return self._store(session, "dmn", info.id, info.name, xml, hashlib.sha256(xml).hexdigest(), {},
                               deployed_by, None, active)
        _, process_id = _process_root(xml)
        bound = {d.key: d for d in self._active_decisions(session)}
        parsed = parse(xml, self.vocabulary_for(session), {key: d.xml for key, d in bound.items()})
        used = {key: bound[key] for key in sorted(decision_refs(parsed.diagram))}
        digest = hashlib.sha256(xml + "".join(d.sha256 for d in used.values()).encode()).hexdigest()
        return self._store(session, "bpmn", process_id, parsed.diagram.name, xml, digest,
                           {key: d.id for key, d in used.items()}, deployed_by, parsed, active)

    def _store(self, session: Session, kind: str, key: str, name: str, xml: bytes, digest: str,
               decisions: dict[str, int], deployed_by: str,
               parsed: ParsedDefinition | None, active: bool) -> tuple[ProcessDefinitionModel, bool]:
        existing = session.scalar(select(ProcessDefinitionModel).where(
            ProcessDefinitionModel.key == key, ProcessDefinitionModel.sha256 == digest))
        if existing is not None:
            return existing, False
        if session.scalar(select(ProcessDefinitionModel.kind).where(ProcessDefinitionModel.key == key).limit(1)) \
                not in {None, kind}:
            raise DiagramRejected([f"标识 {key} 已被另一类定义使用（流程与决策表的 ID 不能相同）"])
        latest = session.scalar(
            select(func.max(ProcessDefinitionModel.version)).where(ProcessDefinitionModel.key == key))
        definition = ProcessDefinitionModel(
            key=key, kind=kind, name=name, version=(latest or 0) + 1, sha256=digest, xml=xml, active=active,
            decisions=decisions, deployed_by=deployed_by,
        )
        session.add(definition)
        session.flush()
        if parsed is not None:
            with self._lock:
                self._parsed[digest] = parsed
        return definition, True

    def _active_decisions(self, session: Session) -> list[ProcessDefinitionModel]:
        """Return the newest active version of every deployed decision."""
        rows = session.scalars(
            select(ProcessDefinitionModel).where(ProcessDefinitionModel.kind == "dmn",
                                                 ProcessDefinitionModel.active.is_(True))
            .order_by(ProcessDefinitionModel.key, ProcessDefinitionModel.version)
        ).all()
        return list({row.key: row for row in rows}.values())

    def latest_active(self, session: Session, key: str) -> ProcessDefinitionModel:
        """Return the definition new cases of `key` start on: the newest active version."""
        definition = session.scalar(
            select(ProcessDefinitionModel)
            .where(ProcessDefinitionModel.key == key, ProcessDefinitionModel.kind == "bpmn",
                   ProcessDefinitionModel.active.is_(True))
            .order_by(ProcessDefinitionModel.version.desc())
            .limit(1)
        )
        if definition is None:
            raise NotFound(f"没有可用的流程定义：{key}")
        return definition

    def parsed(self, session: Session, definition_id: int, sha256: str) -> ParsedDefinition:
        """Return the parsed form of a stored process; its XML is read and parsed at most once per process."""
        found = self._parsed.get(sha256)
        if found is None:
            definition = session.get(ProcessDefinitionModel, definition_id)
            decisions = {key: session.get(ProcessDefinitionModel, ident).xml
                         for key, ident in (definition.decisions or {}).items()}
            found = parse(definition.xml, self.vocabulary_for(session), decisions)
            with self._lock:
                self._parsed[sha256] = found
        return found
