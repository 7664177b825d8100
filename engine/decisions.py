"""DMN decision tables as deployable definitions: recognise, read and lint them.

Cells are Python expressions evaluated in the engine's sandbox (SpiffWorkflow's DMN engine evaluates them through
the workflow's script engine): an input entry is a unary test (`"二孩"`, `> 35`, `18 <= ? < 35`, or `-` for any),
an output entry an expression.
"""

from dataclasses import dataclass

from lxml import etree

from engine.sandbox import check_source

DMN_NAMESPACES = (
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
)


@dataclass(frozen=True)
class DecisionInfo:
    """The one decision of a DMN file."""

    id: str
    name: str


def is_dmn(root: etree._Element) -> bool:
    """Return whether a parsed document is a DMN definitions file."""
    name = etree.QName(root)
    return name.localname == "definitions" and name.namespace in DMN_NAMESPACES


def _unary_test_problems(text: str) -> list[str]:
    text = text.strip()
    if text in {"", "-"}:
        return []
    if "?" in text:
        return check_source(text.replace("?", "dmninput"), "eval")
    plain = check_source(text, "eval")
    # A comparison such as `> 35` only parses with the input in front of it, as the DMN engine evaluates it.
    return plain if not any(p.startswith("语法错误") for p in plain) else check_source(f"dmninput {text}", "eval")


def read_decision(root: etree._Element) -> tuple[DecisionInfo | None, list[str]]:
    """Return the file's decision and every problem found, each naming the decision and the cell."""
    ns = {"dmn": etree.QName(root).namespace}
    decisions = root.xpath("./dmn:decision", namespaces=ns)
    if len(decisions) != 1:
        return None, [f"决策表文件应当恰好包含一个决策（decision），实际为 {len(decisions)} 个"]
    node = decisions[0]
    info = DecisionInfo(node.get("id") or "", (node.get("name") or node.get("id") or "").strip())
    label = f"决策「{info.name}」({info.id})"
    problems = []
    if not info.id:
        problems.append("决策缺少 id")
    tables = node.xpath("./dmn:decisionTable", namespaces=ns)
    if len(tables) != 1:
        return info, [*problems, f"{label}：应当恰好包含一个决策表，实际为 {len(tables)} 个"]
    for expression in tables[0].xpath("./dmn:input/dmn:inputExpression/dmn:text", namespaces=ns):
        problems.extend(f"{label} 输入表达式：{p}" for p in check_source((expression.text or "").strip(), "eval"))
    for number, rule in enumerate(tables[0].xpath("./dmn:rule", namespaces=ns), start=1):
        for entry in rule.xpath("./dmn:inputEntry/dmn:text", namespaces=ns):
            problems.extend(f"{label} 第 {number} 条规则的条件：{p}" for p in _unary_test_problems(entry.text or ""))
        for entry in rule.xpath("./dmn:outputEntry/dmn:text", namespaces=ns):
            text = (entry.text or "").strip()
            if text:
                problems.extend(f"{label} 第 {number} 条规则的结果：{p}" for p in check_source(text, "eval"))
    return info, problems
