"""Deploy BPMN files as versioned definitions, and keep their parsed specs in memory."""

import hashlib
import re
import threading
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.diagram import Diagram, Vocabulary, executable_process_ids, lint, read_diagram
from engine.errors import DiagramRejected, NotFound
from engine.gateways import EngineBpmnParser
from engine.models import ProcessDefinitionModel
from engine.timers import translate_timer
from engine.xmlsafe import parse_untrusted_xml

PROCESS_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class ParsedDefinition:
    """A definition ready to run: Spiff's spec (timers translated) and the engine's view of the diagram."""

    spec: BpmnProcessSpec
    subprocess_specs: dict
    diagram: Diagram


def parse(xml: bytes, vocabulary: Vocabulary) -> ParsedDefinition:
    """Parse and lint one BPMN file holding one executable process; raise DiagramRejected listing every problem."""
    root = parse_untrusted_xml(xml)
    process_ids = executable_process_ids(root)
    if len(process_ids) != 1:
        raise DiagramRejected([f'文件应当恰好包含一个可执行流程（isExecutable="true"），实际为 {len(process_ids)} 个'])
    if not process_ids[0] or not PROCESS_ID.match(process_ids[0]):
        given = process_ids[0] or ""
        raise DiagramRejected([f"流程 ID「{given}」无效：应以字母开头，只含字母、数字、下划线、连字符或点"])
    diagram = read_diagram(root, process_ids[0])
    problems = lint(diagram, vocabulary)
    parser = EngineBpmnParser()
    try:
        parser.add_bpmn_xml(etree.ElementTree(root), filename=f"{diagram.process_id}.bpmn")
        spec = parser.get_spec(diagram.process_id)
        subprocess_specs = parser.get_subprocess_specs(diagram.process_id)
    except ValidationException as exc:
        problems.append(f"BPMN 结构错误：{exc}")
    if problems:
        raise DiagramRejected(problems)
    for task_spec in spec.task_specs.values():
        event_definition = getattr(task_spec, "event_definition", None)
        if isinstance(event_definition, TimerEventDefinition):
            element = diagram.elements[task_spec.bpmn_id]
            event_definition.expression = translate_timer(
                element.timer or "", workdays=element.properties.get("calendar") == "workdays"
            )
    return ParsedDefinition(spec, subprocess_specs, diagram)


class DefinitionStore:
    """Deploys definitions and hands out their parsed form, parsing each version once per process."""

    def __init__(self, vocabulary: Vocabulary):
        self.vocabulary = vocabulary
        # Keyed by content hash: ids can be reused (a restored or recreated database), content cannot lie.
        self._parsed: dict[str, ParsedDefinition] = {}
        self._lock = threading.Lock()

    def deploy(self, session: Session, xml: bytes, deployed_by: str) -> tuple[ProcessDefinitionModel, bool]:
        """Store `xml` as the next version of its process; identical content returns the existing one, unchanged."""
        parsed = parse(xml, self.vocabulary)
        key = parsed.diagram.process_id
        digest = hashlib.sha256(xml).hexdigest()
        existing = session.scalar(select(ProcessDefinitionModel).where(
            ProcessDefinitionModel.key == key, ProcessDefinitionModel.sha256 == digest))
        if existing is not None:
            return existing, False
        latest = session.scalar(
            select(func.max(ProcessDefinitionModel.version)).where(ProcessDefinitionModel.key == key))
        definition = ProcessDefinitionModel(
            key=key, name=parsed.diagram.name, version=(latest or 0) + 1, sha256=digest, xml=xml, active=True,
            deployed_by=deployed_by,
        )
        session.add(definition)
        session.flush()
        with self._lock:
            self._parsed[digest] = parsed
        return definition, True

    def latest_active(self, session: Session, key: str) -> ProcessDefinitionModel:
        """Return the definition new cases of `key` start on: the newest active version."""
        definition = session.scalar(
            select(ProcessDefinitionModel)
            .where(ProcessDefinitionModel.key == key, ProcessDefinitionModel.active.is_(True))
            .order_by(ProcessDefinitionModel.version.desc())
            .limit(1)
        )
        if definition is None:
            raise NotFound(f"没有可用的流程定义：{key}")
        return definition

    def parsed(self, session: Session, definition_id: int, sha256: str) -> ParsedDefinition:
        """Return the parsed form of a stored definition; its XML is read and parsed at most once per process."""
        found = self._parsed.get(sha256)
        if found is None:
            xml = session.scalar(select(ProcessDefinitionModel.xml).where(ProcessDefinitionModel.id == definition_id))
            found = parse(xml, self.vocabulary)
            with self._lock:
                self._parsed[sha256] = found
        return found
