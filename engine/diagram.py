"""What a BPMN file says beyond the flow itself: roles, forms, operators, properties, timers, conditions.

The engine reads these from the XML, in both the `camunda:` dialect that Camunda Modeler writes and the
`spiffworkflow:` dialect of spiff-arena's modeler, so that nothing a policy author set in the properties panel is
silently dropped. `lint` reports every problem of a diagram at once, by element name.
"""

import ast
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from lxml import etree

from engine.sandbox import check_source
from engine.timers import TimerTextError, translate_timer

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "camunda": CAMUNDA, "spiffworkflow": SPIFF}

FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "userTask", "manualTask", "task", "serviceTask", "sendTask", "receiveTask",
    "scriptTask", "businessRuleTask", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
    "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "subProcess", "callActivity",
}
SPLIT_GATEWAYS = {"exclusiveGateway", "inclusiveGateway"}
UNDERSTOOD_CAMUNDA_ATTRS = {
    "candidateGroups", "formKey", "type", "topic", "asyncBefore", "asyncAfter", "exclusive", "decisionRef",
    "historyTimeToLive",
}
UNDERSTOOD_EXTENSIONS = {
    f"{{{CAMUNDA}}}properties", f"{{{SPIFF}}}properties", f"{{{SPIFF}}}serviceTaskOperator",
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
    operator: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    attached_to: str | None = None
    timer: str | None = None
    script: str | None = None
    default_flow: str | None = None
    decision_ref: str | None = None
    unsupported: tuple[str, ...] = ()

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
class Vocabulary:
    """What diagrams may name: roles (key → label), form keys, operators and jurisdiction fields.

    `assignments` are the policy administrator's rules, consulted before the built-in role names.
    """

    roles: Mapping[str, str]
    forms: Collection[str]
    operators: Collection[str]
    jurisdiction_fields: Collection[str]
    assignments: Mapping[str, Assignment] = field(default_factory=dict)

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


def _unsupported(node: etree._Element) -> list[str]:
    found = []
    for attr in node.attrib:
        qname = etree.QName(attr)
        if qname.namespace == CAMUNDA and qname.localname not in UNDERSTOOD_CAMUNDA_ATTRS:
            found.append(f"camunda:{qname.localname}")
    for ext in node.xpath("./bpmn:extensionElements/*", namespaces=NS):
        if ext.tag not in UNDERSTOOD_EXTENSIONS:
            prefix = {CAMUNDA: "camunda", SPIFF: "spiffworkflow"}.get(etree.QName(ext).namespace, "?")
            found.append(f"{prefix}:{_local(ext.tag)}")
    return found


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
            operator=_operator(node, unsupported) if tag == "serviceTask" else None,
            properties=properties, attached_to=node.get("attachedToRef"), timer=_timer_text(node),
            script=(script[0].text or "") if script else None, default_flow=node.get("default"),
            decision_ref=(node.get(f"{{{CAMUNDA}}}decisionRef") or _spiff_text(node, "calledDecisionId"))
            if tag == "businessRuleTask" else None,
            unsupported=tuple(unsupported),
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


def _lint_user_task(el: Element, vocabulary: Vocabulary) -> list[str]:
    problems = []
    if vocabulary.role_of(el) is None:
        given = el.candidate_groups or el.lane or "（未指定）"
        problems.append(f"{el.label}：未知角色 {given}，可用角色：{', '.join(vocabulary.roles)}")
    if not el.form_key:
        problems.append(f"{el.label}：用户任务缺少表单（camunda:formKey）")
    elif el.form_key not in vocabulary.forms:
        problems.append(f"{el.label}：未知表单 {el.form_key}，可用表单：{', '.join(vocabulary.forms)}")
    field_name = vocabulary.jurisdiction_of(el)
    if field_name and field_name not in vocabulary.jurisdiction_fields:
        known = ", ".join(vocabulary.jurisdiction_fields)
        problems.append(f"{el.label}：未知辖区字段 {field_name}，可用：{known}")
    return problems


def _lint_service_task(el: Element, vocabulary: Vocabulary) -> list[str]:
    if not el.operator:
        return [f"{el.label}：服务任务缺少操作（camunda:type=external 与 camunda:topic）"]
    if el.operator not in vocabulary.operators:
        return [f"{el.label}：未知操作 {el.operator}，可用操作：{', '.join(vocabulary.operators)}"]
    return []


def _lint_script_task(el: Element, _vocabulary: Vocabulary) -> list[str]:
    return [f"{el.label}：脚本 {p}" for p in check_source(el.script or "", "exec")]


def _lint_unsupported_tag(el: Element, _vocabulary: Vocabulary) -> list[str]:
    return [f"{el.label}：暂不支持的元素类型 {el.tag}"]


_LINT_BY_TAG = {
    "userTask": _lint_user_task,
    "serviceTask": _lint_service_task,
    "scriptTask": _lint_script_task,
    **dict.fromkeys(("subProcess", "callActivity", "eventBasedGateway"), _lint_unsupported_tag),
}


def _lint_timer(el: Element) -> list[str]:
    try:
        expression = translate_timer(el.timer or "", workdays=el.properties.get("calendar") == "workdays")
    except TimerTextError as exc:
        return [f"{el.label}：{exc}"]
    return [f"{el.label}：定时器 {p}" for p in check_source(expression, "eval")]


def decision_refs(diagram: Diagram) -> set[str]:
    """Return the decisions the diagram's business rule tasks name."""
    return {el.decision_ref for el in diagram.elements.values() if el.decision_ref}


def lint(diagram: Diagram, vocabulary: Vocabulary, decisions: Collection[str] = ()) -> list[str]:
    """Return every problem of the diagram, each naming its element; an empty list means it may be deployed.

    `decisions` are the keys of the deployed, active DMN decisions a business rule task may name.
    """
    problems = []
    for el in diagram.elements.values():
        if el.tag == "businessRuleTask" and not el.decision_ref:
            problems.append(f"{el.label}：业务规则任务缺少决策（camunda:decisionRef）")
        elif el.decision_ref and el.decision_ref not in decisions:
            problems.append(f"{el.label}：决策 {el.decision_ref} 尚未部署或未启用，请先部署其 DMN 文件")
        problems.extend(f"{el.label}：不支持的设置 {item}" for item in el.unsupported)
        if el.tag in _LINT_BY_TAG:
            problems.extend(_LINT_BY_TAG[el.tag](el, vocabulary))
        if el.tag in SPLIT_GATEWAYS:
            outgoing = diagram.outgoing(el.id)
            if len(outgoing) > 1 and not el.default_flow and any(f.condition is None for f in outgoing):
                problems.append(f"{el.label}：网关既没有默认流，也没有为每条出口写条件")
        if el.timer is not None:
            problems.extend(_lint_timer(el))
    for flow in diagram.flows:
        if flow.condition is not None:
            label = f"「{flow.name}」({flow.id})" if flow.name else f"({flow.id})"
            problems.extend(f"连线 {label}：条件 {p}" for p in check_source(flow.condition, "eval"))
    return problems
