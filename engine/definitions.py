"""Deploy BPMN and DMN files as versioned definitions, and keep the parsed specs of processes in memory."""

import hashlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition, TimerEventDefinition
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.decisions import DecisionInfo, is_dmn, read_decision
from engine.diagram import (
    Assignment,
    Diagram,
    Vocabulary,
    decision_refs,
    executable_process_ids,
    lint_report,
    read_diagram,
    unexecutable,
    vocabulary_gaps,
)
from engine.errors import DiagramRejected, NotFound
from engine.models import ProcessDefinitionModel
from engine.parser import EngineBpmnParser
from engine.timers import translate_timer
from engine.xmlsafe import parse_untrusted_xml

PROCESS_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")

# SpiffWorkflow's structural errors in the words of a policy author, by a phrase of its English message. A `True`
# marks an error lint already explains for the same element (a sub-process, a gateway missing a condition).
STRUCTURE_ERRORS = (
    ("No start event found", "流程缺少开始事件", False),
    ("Multiple outgoing flows are not supported", "有多条出口连线；要分支，请在它之后加一个网关", False),
    ("When looking for a task spec", "连线指向的元素 {ref} 不存在", True),
    ("Invalid Script Task", "脚本任务没有填写脚本", False),
    ("Time Specification", "定时器没有填写时间（时长、日期或周期）", True),
    ("Conditional event definition with missing condition", "条件事件没有填写条件", False),
    ("Non-default exclusive outgoing sequence flow without condition", "网关的非默认出口没有条件", True),
    ("dataInputAssociation", "数据输入引用的数据对象不存在", False),
    ("dataOutputAssociation", "数据输出引用的数据对象不存在", False),
    ("multiinstance task must specify", "多实例任务没有填写实例数或输入集合", False),
    ("loopMaximum or loopCondition", "循环任务没有填写最大次数或循环条件", False),
    ("messageRef", "消息事件引用的消息不存在", True),
    ("unexpected keyword argument 'node'", "事件引用的消息、信号、错误或升级定义不存在", True),
    ("There is no support implemented", "引擎不支持这种元素", True),
    ("calledElement", "调用活动没有指定被调用的流程", True),
    ("was not found", "调用活动指定的流程不存在", True),
    ("SubWorkflow", "子流程应当恰好有一个开始事件和至少一个结束事件", True),
    ("Duplicate process ID", "流程 ID 重复", False),
    ("No DMN Diagram available", "业务规则任务指定的决策不存在", True),
)


@dataclass(frozen=True)
class ParsedDefinition:
    """A definition ready to run: Spiff's spec (timers translated) and the engine's view of the diagram."""

    spec: BpmnProcessSpec
    subprocess_specs: dict
    diagram: Diagram
    # Lint's warnings when the file was checked for deployment (a stored version is loaded without lint).
    warnings: list[str] = field(default_factory=list)


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


def _structure_problem(exc: ValidationException, diagram: Diagram, problems: list[str]) -> str | None:
    """Return SpiffWorkflow's structural error in Chinese, naming its element; None when lint already said it."""
    message = str(exc)
    element_id = getattr(exc, "id", "") or ""
    element = diagram.elements.get(element_id)
    flow = next((f for f in diagram.flows if f.id == element_id), None)
    if element is not None:
        label = element.label
    elif flow is not None:
        label = f"连线 {flow.label}"
    elif element_id and element_id != diagram.process_id:
        label = f"({element_id})"
    else:
        label = f"流程「{diagram.name}」"
    said, covered = next(((text, covered) for phrase, text, covered in STRUCTURE_ERRORS if phrase in message),
                         ("流程图结构有误，引擎无法解析", False))
    ref = re.search(r"\(([^()]*)\)\W*$", message)
    said = said.format(ref=ref.group(1) if ref else "")
    # One message per element: lint already named this element or a flow out of it (a flow's problem is its
    # gateway's), or an element the engine cannot execute explains an error that names none.
    named = {label, *(f"连线 {f.label}" for f in diagram.outgoing(element_id))}
    if flow is not None and flow.source in diagram.elements:
        named.add(diagram.elements[flow.source].label)
    if covered and any(p.startswith(tuple(named)) for p in problems):
        return None
    if (element is not None and unexecutable(element)) or (
            covered and element is None and flow is None and any(map(unexecutable, diagram.elements.values()))):
        return None
    return f"{label}：{said}"


def parse(xml: bytes, vocabulary: Vocabulary | None, decisions: Mapping[str, bytes] | None = None) -> ParsedDefinition:
    """Parse one BPMN file holding one executable process; raise DiagramRejected listing every problem.

    With a vocabulary the file is linted as for deployment; without one (`None`) it is only parsed, as a stored
    version is loaded: what was deployed runs as deployed, whatever the product's code names today.
    `decisions` maps each DMN decision key a business rule task may name to that decision's XML.
    """
    decisions = decisions or {}
    root, process_id = _process_root(xml)
    diagram = read_diagram(root, process_id)
    report = lint_report(diagram, vocabulary, decisions) if vocabulary is not None else None
    problems = list(report.problems) if report else []
    parser = EngineBpmnParser()
    try:
        for key in sorted(decision_refs(diagram) & set(decisions)):
            parser.add_dmn_xml(parse_untrusted_xml(decisions[key]), filename=f"{key}.dmn")
        parser.add_bpmn_xml(etree.ElementTree(root), filename=f"{process_id}.bpmn")
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        problems.append(_structure_problem(exc, diagram, problems) or "")
    problems = list(dict.fromkeys(p for p in problems if p))
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
    return ParsedDefinition(spec, subprocess_specs, diagram, list(report.warnings) if report else [])


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
        audit.write(session, deployed_by, "deployed", detail={
            "definition": definition.id, "key": key, "kind": kind, "version": definition.version, "active": active})
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
        """Return the parsed form of a stored process; its XML is read and parsed at most once per process.

        A stored version is not linted again: it loads as it was deployed, so a form key, operator or role renamed
        in code since does not stop its running cases from loading (`gaps` lists what it names that is gone).
        """
        found = self._parsed.get(sha256)
        if found is None:
            definition = session.get(ProcessDefinitionModel, definition_id)
            decisions = {key: session.get(ProcessDefinitionModel, ident).xml
                         for key, ident in (definition.decisions or {}).items()}
            found = parse(definition.xml, None, decisions)
            with self._lock:
                self._parsed[sha256] = found
        return found

    def warnings(self, session: Session, definition: ProcessDefinitionModel) -> list[str]:
        """Return lint's warnings about a stored process version (e.g. a gateway whose conditions may all fail)."""
        parsed = self.parsed(session, definition.id, definition.sha256)
        return lint_report(parsed.diagram, self.vocabulary_for(session), definition.decisions or {}).warnings

    def gaps(self, session: Session, definition: ProcessDefinitionModel) -> list[str]:
        """Return what a stored process version names that today's vocabulary lacks (roles, forms, operators, …)."""
        parsed = self.parsed(session, definition.id, definition.sha256)
        return vocabulary_gaps(parsed.diagram, self.vocabulary_for(session))
