"""What a BPMN file says beyond the flow itself: roles, forms, operators, properties, timers, conditions.

The engine reads these from the XML, in both the `camunda:` dialect that Camunda Modeler writes and the
`spiffworkflow:` dialect of spiff-arena's modeler, so that nothing a policy author set in the properties panel is
silently dropped. `lint_report` reports every problem of a diagram at once, by element name, and the warnings that
do not block deployment; it checks what the engine's runtime would refuse or fail on, not only what parses.
"""

import ast
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from lxml import etree

from engine.dataflow import decision_outputs, undefined_names
from engine.forms import FormDefinition, form_problems, read_form
from engine.gateways import may_all_be_false
from engine.sandbox import check_source
from engine.timers import TimerTextError, timer_problems, translate_timer

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "camunda": CAMUNDA, "spiffworkflow": SPIFF}
# Prefixes to name other tools' settings by (anything else is named by its namespace URI).
KNOWN_PREFIXES = {
    CAMUNDA: "camunda", SPIFF: "spiffworkflow", "http://camunda.org/schema/zeebe/1.0": "zeebe",
    "http://activiti.org/bpmn": "activiti", "http://flowable.org/bpmn": "flowable",
    "http://camunda.org/schema/modeler/1.0": "modeler",
}
# Attributes of no tool's settings: XML Schema and XML itself.
NEUTRAL_NAMESPACES = {"http://www.w3.org/2001/XMLSchema-instance", "http://www.w3.org/XML/1998/namespace"}

FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "userTask", "manualTask", "task", "serviceTask", "sendTask", "receiveTask",
    "scriptTask", "businessRuleTask", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
    "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "subProcess", "callActivity",
    "complexGateway", "transaction", "adHocSubProcess",
}
CONTAINER_TAGS = frozenset({"subProcess", "transaction", "adHocSubProcess"})
# What the engine cannot execute yet, each named once: it has no sub-processes and no messages or signals.
UNEXECUTABLE_TAGS = {
    "subProcess": "子流程", "transaction": "事务子流程", "adHocSubProcess": "自由子流程", "callActivity": "调用活动",
    "eventBasedGateway": "事件网关", "complexGateway": "复杂网关", "receiveTask": "接收任务（等待消息）",
    "sendTask": "发送任务（消息无人接收，短信请用服务任务 sms.send）",
}
CATCH_TAGS = {"startEvent": "开始事件", "intermediateCatchEvent": "中间捕获事件", "boundaryEvent": "边界事件"}
UNEXECUTABLE_EVENTS = {
    "messageEventDefinition": "消息", "signalEventDefinition": "信号", "conditionalEventDefinition": "条件",
    "errorEventDefinition": "错误", "escalationEventDefinition": "升级", "compensateEventDefinition": "补偿",
    "cancelEventDefinition": "取消",
}
# Catch events the engine can deliver to (Runtime.send_message): a message to a boundary event of a waiting task.
DELIVERABLE_EVENTS = frozenset({("messageEventDefinition", "boundaryEvent")})
MANUAL_TAGS = frozenset({"task", "manualTask"})
# Element properties the engine itself reads on a service task, besides its operator's parameters.
ENGINE_PROPERTIES = frozenset({"status"})
SPLIT_GATEWAYS = {"exclusiveGateway", "inclusiveGateway"}
UNDERSTOOD_CAMUNDA_ATTRS = {
    "candidateGroups", "formKey", "type", "topic", "asyncBefore", "asyncAfter", "exclusive", "decisionRef",
    "historyTimeToLive",
}
UNDERSTOOD_EXTENSIONS = {
    f"{{{CAMUNDA}}}properties", f"{{{CAMUNDA}}}formData", f"{{{SPIFF}}}properties",
    f"{{{SPIFF}}}serviceTaskOperator",
    f"{{{SPIFF}}}candidateGroups", f"{{{SPIFF}}}formKey", f"{{{SPIFF}}}calledDecisionId",
}


@dataclass(frozen=True)
class Element:
    """One flow node with the settings the engine uses."""

    id: str
    tag: str
    name: str
    lane: str | None = None
    candidate_groups: str | None = None
    form_key: str | None = None
    # The form declared inline (camunda:formData), None when the task names a form key only.
    form: FormDefinition | None = None
    operator: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    attached_to: str | None = None
    timer: str | None = None
    script: str | None = None
    default_flow: str | None = None
    decision_ref: str | None = None
    unsupported: tuple[str, ...] = ()
    # The local names of its event definitions (e.g. "messageEventDefinition").
    events: tuple[str, ...] = ()
    # The sub-process it sits in, if any.
    inside: str | None = None

    @property
    def label(self) -> str:
        """Name the element for a human: its name and id."""
        return f"「{self.name}」({self.id})" if self.name else f"({self.id})"


@dataclass(frozen=True)
class Flow:
    """A sequence flow and its condition."""

    id: str
    name: str
    source: str
    target: str
    condition: str | None

    @property
    def label(self) -> str:
        """Name the flow for a human: its name and id."""
        return f"「{self.name}」({self.id})" if self.name else f"({self.id})"


@dataclass(frozen=True)
class Diagram:
    """The executable process of one BPMN file, as the engine sees it."""

    process_id: str
    name: str
    elements: Mapping[str, Element]
    flows: tuple[Flow, ...]
    # The process's own camunda:/spiffworkflow: properties (what the product reads off a whole diagram).
    properties: Mapping[str, str] = field(default_factory=dict)

    def outgoing(self, element_id: str) -> list[Flow]:
        """Return the flows leaving an element."""
        return [f for f in self.flows if f.source == element_id]


@dataclass(frozen=True)
class Assignment:
    """An assignment rule kept as data: a lane or group name of a diagram → a staff role and a jurisdiction field."""

    role: str
    jurisdiction_field: str | None = None


@dataclass(frozen=True)
class Parameter:
    """One setting a service task gives its operator; `allowed` lists the values it may take (None: any text).

    `user_task` says the value names a user task of the same diagram (by element id).
    """

    required: bool = False
    allowed: Collection[str] | None = None
    user_task: bool = False


@dataclass(frozen=True)
class OperatorSchema:
    """What an operator reads from its service task's properties, and the keys of the result it returns.

    The result lands in `results[<task id>]`; an operator that returns nothing has no `returns`.
    """

    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    returns: Collection[str] = ()


@dataclass(frozen=True)
class Vocabulary:
    """What diagrams may name: roles (key → label), form keys, operators and jurisdiction fields.

    `forms` may map each form key to the decisions its form offers, and `operators` each operator to its
    `OperatorSchema`; then lint also checks operator parameters and which gateway conditions cover every decision.
    `start_data` are the task-data names every case starts with, `helpers` the functions expressions may call.
    `assignments` are the policy administrator's rules, consulted before the built-in role names.
    """

    roles: Mapping[str, str]
    forms: Collection[str]
    operators: Collection[str]
    jurisdiction_fields: Collection[str]
    assignments: Mapping[str, Assignment] = field(default_factory=dict)
    start_data: Collection[str] = ()
    helpers: Collection[str] = ()

    def _rule(self, element: Element) -> Assignment | None:
        given = (element.candidate_groups or element.lane or "").strip()
        return self.assignments.get(given)

    def role_of(self, element: Element) -> str | None:
        """Resolve a user task's role: an assignment rule first, then candidateGroups, else the lane (key or label)."""
        rule = self._rule(element)
        if rule is not None:
            return rule.role
        given = (element.candidate_groups or element.lane or "").strip()
        if given in self.roles:
            return given
        return next((key for key, label in self.roles.items() if label == given), None)

    def jurisdiction_of(self, element: Element) -> str | None:
        """Return the case field routing a user task: its own `jurisdiction` property, else its rule's field."""
        rule = self._rule(element)
        return element.properties.get("jurisdiction") or (rule.jurisdiction_field if rule else None)


def _local(tag: str) -> str:
    return etree.QName(tag).localname


def _properties(node: etree._Element) -> dict[str, str]:
    props = {}
    for prop in node.xpath("./bpmn:extensionElements/camunda:properties/camunda:property", namespaces=NS):
        props[prop.get("name", "")] = prop.get("value", "")
    for prop in node.xpath("./bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", namespaces=NS):
        props[prop.get("name", "")] = prop.get("value", "")
    return props


def _operator(node: etree._Element, unsupported: list[str]) -> str | None:
    if node.get(f"{{{CAMUNDA}}}type") == "external":
        return node.get(f"{{{CAMUNDA}}}topic")
    spiff = node.xpath("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", namespaces=NS)
    return spiff[0].get("id") if spiff else None


def _spiff_parameters(node: etree._Element, unsupported: list[str]) -> dict[str, str]:
    """Read spiff-arena operator parameters; their values are Python literals, e.g. "'task_overdue'"."""
    params = {}
    path = "./bpmn:extensionElements/spiffworkflow:serviceTaskOperator/spiffworkflow:parameters/spiffworkflow:parameter"
    for param in node.xpath(path, namespaces=NS):
        name, value = param.get("id", ""), param.get("value", "")
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            unsupported.append(f"spiffworkflow:parameter {name}（参数值只能是常量，如 'task_overdue'）")
            continue
        params[name] = str(literal)
    for operator_node in node.xpath("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", namespaces=NS):
        if operator_node.get("resultVariable"):
            unsupported.append("spiffworkflow:serviceTaskOperator resultVariable（结果保存在 results[任务ID]）")
    return params


def _timer_text(node: etree._Element) -> str | None:
    for kind in ("timeDuration", "timeDate", "timeCycle"):
        found = node.xpath(f"./bpmn:timerEventDefinition/bpmn:{kind}", namespaces=NS)
        if found:
            return (found[0].text or "").strip()
    if node.xpath("./bpmn:timerEventDefinition", namespaces=NS):
        return ""
    return None


def _spiff_text(node: etree._Element, tag: str) -> str | None:
    found = node.xpath(f"./bpmn:extensionElements/spiffworkflow:{tag}", namespaces=NS)
    return (found[0].text or "").strip() if found else None


def _setting_name(tag: str) -> str:
    """Name a foreign attribute or element: by a known tool's prefix, else by its namespace URI."""
    qname = etree.QName(tag)
    prefix = KNOWN_PREFIXES.get(qname.namespace or "")
    return f"{prefix}:{qname.localname}" if prefix else f"{{{qname.namespace}}}{qname.localname}"


def _unsupported(node: etree._Element) -> list[str]:
    found = []
    for attr in node.attrib:
        namespace = etree.QName(attr).namespace
        if namespace is None or namespace in NEUTRAL_NAMESPACES:
            continue
        if namespace != CAMUNDA or etree.QName(attr).localname not in UNDERSTOOD_CAMUNDA_ATTRS:
            found.append(_setting_name(attr))
    for ext in node.xpath("./bpmn:extensionElements/*", namespaces=NS):
        if isinstance(ext.tag, str) and ext.tag not in UNDERSTOOD_EXTENSIONS:
            found.append(_setting_name(ext.tag))
    return found


def _events(node: etree._Element) -> tuple[str, ...]:
    return tuple(_local(child.tag) for child in node
                 if isinstance(child.tag, str) and _local(child.tag).endswith("EventDefinition"))


def _container(node: etree._Element) -> str | None:
    return next((parent.get("id") for parent in node.iterancestors()
                 if isinstance(parent.tag, str) and etree.QName(parent).namespace == BPMN
                 and _local(parent.tag) in CONTAINER_TAGS), None)


def read_diagram(root: etree._Element, process_id: str) -> Diagram:
    """Read the settings of every flow node of one process."""
    process = next(p for p in root.xpath("//bpmn:process", namespaces=NS) if p.get("id") == process_id)
    lanes = {ref.text.strip(): ref.getparent().get("name")
             for ref in process.xpath(".//bpmn:flowNodeRef", namespaces=NS) if ref.text}
    elements = {}
    for node in process.iter():
        if not isinstance(node.tag, str) or etree.QName(node).namespace != BPMN:
            continue
        if _local(node.tag) not in FLOW_NODE_TAGS:
            continue
        unsupported = _unsupported(node)
        tag = _local(node.tag)
        script = node.xpath("./bpmn:script", namespaces=NS)
        form_key = node.get(f"{{{CAMUNDA}}}formKey") or _spiff_text(node, "formKey")
        groups = node.get(f"{{{CAMUNDA}}}candidateGroups") or _spiff_text(node, "candidateGroups")
        properties = _properties(node)
        if tag == "serviceTask":
            properties = {**_spiff_parameters(node, unsupported), **properties}
        element = Element(
            id=node.get("id"), tag=tag, name=(node.get("name") or "").strip(), lane=lanes.get(node.get("id")),
            candidate_groups=groups, form_key=form_key,
            form=read_form(node) if tag in {"userTask", *MANUAL_TAGS} else None,
            operator=_operator(node, unsupported) if tag == "serviceTask" else None,
            properties=properties, attached_to=node.get("attachedToRef"), timer=_timer_text(node),
            script=(script[0].text or "") if script else None, default_flow=node.get("default"),
            decision_ref=(node.get(f"{{{CAMUNDA}}}decisionRef") or _spiff_text(node, "calledDecisionId"))
            if tag == "businessRuleTask" else None,
            unsupported=tuple(unsupported), events=_events(node), inside=_container(node),
        )
        elements[element.id] = element
    flows = tuple(
        Flow(id=f.get("id"), name=(f.get("name") or "").strip(), source=f.get("sourceRef"),
             target=f.get("targetRef"), condition=_condition(f))
        for f in process.xpath(".//bpmn:sequenceFlow", namespaces=NS)
    )
    return Diagram(process_id=process_id, name=(process.get("name") or process_id), elements=elements, flows=flows,
                   properties=_properties(process))


def _condition(flow: etree._Element) -> str | None:
    found = flow.xpath("./bpmn:conditionExpression", namespaces=NS)
    return (found[0].text or "").strip() if found else None


def executable_process_ids(root: etree._Element) -> list[str | None]:
    """Return the ids of the executable processes of a BPMN document (None for a process without an id)."""
    return [p.get("id") for p in root.xpath("//bpmn:process[@isExecutable='true']", namespaces=NS)]


def _lint_user_task(el: Element, vocabulary: Vocabulary, _diagram: Diagram) -> list[str]:
    problems = []
    if vocabulary.role_of(el) is None:
        given = el.candidate_groups or el.lane or "（未指定）"
        problems.append(f"{el.label}：未知角色 {given}，可用角色：{', '.join(vocabulary.roles)}")
    if el.form is not None:
        problems.extend(f"{el.label}：表单{p}" for p in form_problems(el.form))
    elif not el.form_key:
        problems.append(f"{el.label}：用户任务缺少表单（camunda:formData 表单字段，或 camunda:formKey）")
    elif el.form_key not in vocabulary.forms:
        problems.append(f"{el.label}：未知表单 {el.form_key}，可用表单：{', '.join(vocabulary.forms)}")
    field_name = vocabulary.jurisdiction_of(el)
    if field_name and field_name not in vocabulary.jurisdiction_fields:
        known = ", ".join(vocabulary.jurisdiction_fields)
        problems.append(f"{el.label}：未知辖区字段 {field_name}，可用：{known}")
    return problems


def _lint_manual_task(el: Element, vocabulary: Vocabulary, diagram: Diagram) -> list[str]:
    if not el.form_key and el.form is None and not (el.candidate_groups or el.lane):
        return [f"{el.label}：普通任务（{el.tag}）没有表单也没有角色，引擎无法执行（无人能办理）；"
                "请改为用户任务并设置表单（camunda:formKey）与角色"]
    return _lint_user_task(el, vocabulary, diagram)


def _schema(el: Element, vocabulary: Vocabulary) -> OperatorSchema | None:
    operators = vocabulary.operators
    found = operators.get(el.operator or "") if isinstance(operators, Mapping) else None
    return found if isinstance(found, OperatorSchema) else None


def _lint_service_task(el: Element, vocabulary: Vocabulary, diagram: Diagram) -> list[str]:
    if not el.operator:
        return [f"{el.label}：服务任务缺少操作（camunda:type=external 与 camunda:topic）"]
    if el.operator not in vocabulary.operators:
        return [f"{el.label}：未知操作 {el.operator}，可用操作：{', '.join(vocabulary.operators)}"]
    schema = _schema(el, vocabulary)
    if schema is None:
        return []
    problems = []
    for name, parameter in schema.parameters.items():
        value = el.properties.get(name)
        if value is None:
            if parameter.required:
                problems.append(f"{el.label}：操作 {el.operator} 缺少参数 {name}")
        elif parameter.allowed is not None and value not in parameter.allowed:
            problems.append(f"{el.label}：操作 {el.operator} 的参数 {name} 不能为 {value}，"
                            f"可用：{', '.join(parameter.allowed)}")
        elif parameter.user_task and getattr(diagram.elements.get(value), "tag", None) != "userTask":
            problems.append(f"{el.label}：操作 {el.operator} 的参数 {name}={value} 应为本流程中用户任务的 ID")
    for name in el.properties:
        if name not in schema.parameters and name not in ENGINE_PROPERTIES:
            known = ", ".join([*schema.parameters, *sorted(ENGINE_PROPERTIES)])
            problems.append(f"{el.label}：操作 {el.operator} 没有参数 {name}，可用：{known}")
    return problems


def _lint_script_task(el: Element, _vocabulary: Vocabulary, _diagram: Diagram) -> list[str]:
    return [f"{el.label}：脚本 {p}" for p in check_source(el.script or "", "exec")]


def unexecutable(el: Element) -> str | None:
    """Return why the engine cannot execute an element (a sub-process, a message or signal event, …), if so."""
    if el.tag in UNEXECUTABLE_TAGS:
        return f"{el.label}：暂不支持的元素类型 {el.tag}（{UNEXECUTABLE_TAGS[el.tag]}），引擎无法执行"
    kinds = [UNEXECUTABLE_EVENTS[e] for e in el.events if e in UNEXECUTABLE_EVENTS
             and (e, el.tag) not in DELIVERABLE_EVENTS]
    if kinds and el.tag in CATCH_TAGS:
        what = "、".join(kinds) + CATCH_TAGS[el.tag]
        return f"{el.label}：暂不支持的元素类型 {what}（{el.tag}），引擎无法执行：没有可送达的消息、信号或错误"
    return None


_LINT_BY_TAG = {
    "userTask": _lint_user_task,
    "serviceTask": _lint_service_task,
    "scriptTask": _lint_script_task,
    **dict.fromkeys(MANUAL_TAGS, _lint_manual_task),
}
# The checks that depend on the product's code (roles, forms, operators) rather than on the diagram alone.
VOCABULARY_TAGS = frozenset({"userTask", "serviceTask", *MANUAL_TAGS})


def _lint_timer(el: Element) -> list[str]:
    try:
        expression = translate_timer(el.timer or "", workdays=el.properties.get("calendar") == "workdays")
    except TimerTextError as exc:
        return [f"{el.label}：{exc}"]
    problems = check_source(expression, "eval")
    problems = problems or timer_problems(el.timer or "", workdays=el.properties.get("calendar") == "workdays")
    return [f"{el.label}：定时器 {p}" for p in problems]


def decision_refs(diagram: Diagram) -> set[str]:
    """Return the decisions the diagram's business rule tasks name."""
    return {el.decision_ref for el in diagram.elements.values() if el.decision_ref}


@dataclass(frozen=True)
class LintReport:
    """What lint found: problems block deployment, warnings are shown with it."""

    problems: list[str]
    warnings: list[str]


def _checked_elements(diagram: Diagram) -> list[Element]:
    """Return the elements lint looks at: an element inside a sub-process is covered by the sub-process's problem."""
    return [el for el in diagram.elements.values() if el.inside is None]


def _lint_element(el: Element, diagram: Diagram, vocabulary: Vocabulary, decisions: Collection[str]) -> list[str]:
    refused = unexecutable(el)
    if refused:
        return [refused]
    problems = []
    if el.tag == "businessRuleTask" and not el.decision_ref:
        problems.append(f"{el.label}：业务规则任务缺少决策（camunda:decisionRef）")
    elif el.decision_ref and el.decision_ref not in decisions:
        problems.append(f"{el.label}：决策 {el.decision_ref} 尚未部署或未启用，请先部署其 DMN 文件")
    problems.extend(f"{el.label}：不支持的设置 {item}" for item in el.unsupported)
    if el.tag in _LINT_BY_TAG:
        problems.extend(_LINT_BY_TAG[el.tag](el, vocabulary, diagram))
    if el.tag in SPLIT_GATEWAYS:
        outgoing = diagram.outgoing(el.id)
        if len(outgoing) > 1 and not el.default_flow and any(f.condition is None for f in outgoing):
            problems.append(f"{el.label}：网关既没有默认流，也没有为每条出口写条件")
        if el.default_flow and el.default_flow not in {f.id for f in outgoing}:
            problems.append(f"{el.label}：默认流 {el.default_flow} 不是该网关的出口连线")
    if el.timer is not None:
        problems.extend(_lint_timer(el))
    return problems


def _lint_flow(flow: Flow, diagram: Diagram) -> list[str]:
    ends = (("起点", flow.source), ("终点", flow.target))
    return [f"连线 {flow.label}：{which} {ref or '（未填写）'} 不是本流程中的元素"
            for which, ref in ends if ref not in diagram.elements]


def _result_tasks(diagram: Diagram, vocabulary: Vocabulary) -> list[str]:
    """Return the elements whose completion writes `results[<their id>]`: user tasks and returning operators."""
    found = []
    for el in diagram.elements.values():
        schema = _schema(el, vocabulary) if el.tag == "serviceTask" else None
        if el.tag in {"userTask", *MANUAL_TAGS} or (el.tag == "serviceTask" and (schema is None or schema.returns)):
            found.append(el.id)
    return found


def _decision_outputs(decisions: Collection[str]) -> dict[str, list[str]] | None:
    if not isinstance(decisions, Mapping):
        return None
    return {key: decision_outputs(xml) for key, xml in decisions.items() if isinstance(xml, bytes)}


def gateway_warnings(diagram: Diagram, vocabulary: Vocabulary) -> list[str]:
    """Warn of each split gateway without a default flow whose conditions may all be false."""
    forms = vocabulary.forms if isinstance(vocabulary.forms, Mapping) else {}
    offered = {el.id: forms[el.form_key] for el in diagram.elements.values()
               if el.form is None and el.form_key in forms and isinstance(forms[el.form_key], Collection)}
    offered |= {el.id: tuple(value for value, _ in decision.choices) for el in diagram.elements.values()
                if el.form is not None and (decision := el.form.field("decision")) is not None}
    warnings = []
    for el in _checked_elements(diagram):
        outgoing = diagram.outgoing(el.id)
        if el.tag not in SPLIT_GATEWAYS or el.default_flow or not outgoing:
            continue
        if any(f.condition is None for f in outgoing) and len(outgoing) > 1:
            continue  # refused as a problem
        conditions = [f.condition for f in outgoing if f.condition is not None]
        if conditions and may_all_be_false(conditions, offered):
            warnings.append(f"{el.label}：网关没有默认流，若所有条件都不成立，案件将在此出错停止；"
                            "建议把其中一条出口设为默认流")
    return warnings


def lint_report(diagram: Diagram, vocabulary: Vocabulary, decisions: Collection[str] = ()) -> LintReport:
    """Return every problem of the diagram, each naming its element, and every warning; no problem: deployable.

    `decisions` are the keys of the deployed, active DMN decisions a business rule task may name (a mapping of key
    to DMN XML also lets lint know which names a decision writes).
    """
    problems = []
    for el in _checked_elements(diagram):
        problems.extend(_lint_element(el, diagram, vocabulary, decisions))
    for flow in diagram.flows:
        problems.extend(_lint_flow(flow, diagram))
        if flow.condition is not None and flow.source in diagram.elements \
                and diagram.elements[flow.source].inside is None:
            problems.extend(f"连线 {flow.label}：条件 {p}" for p in check_source(flow.condition, "eval"))
    reads = undefined_names(diagram, vocabulary.start_data, vocabulary.helpers, _decision_outputs(decisions),
                            _result_tasks(diagram, vocabulary))
    warnings = gateway_warnings(diagram, vocabulary) + reads.warnings
    return LintReport(list(dict.fromkeys(problems + reads.problems)), list(dict.fromkeys(warnings)))


def lint(diagram: Diagram, vocabulary: Vocabulary, decisions: Collection[str] = ()) -> list[str]:
    """Return every problem of the diagram, each naming its element; an empty list means it may be deployed."""
    return lint_report(diagram, vocabulary, decisions).problems


def vocabulary_gaps(diagram: Diagram, vocabulary: Vocabulary) -> list[str]:
    """Return what a diagram names that the vocabulary no longer has: roles, forms, operators and their values.

    Re-runs the checks of deployment that depend on the product's code, for stored versions after it changed.
    """
    problems = [p for el in _checked_elements(diagram) if el.tag in VOCABULARY_TAGS
                for p in _LINT_BY_TAG[el.tag](el, vocabulary, diagram)]
    return list(dict.fromkeys(problems))
