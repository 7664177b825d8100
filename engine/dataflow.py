"""Which task-data names a diagram's expressions read that no path to them defines.

A condition or script that reads a name nothing has set fails the case at run time (NameError): a problem. One
reading `results['<task id>']` of a task that has not run fails it with KeyError unless guarded (`'x' in results
and …`), which this analysis does not follow: a warning.

Task data comes from the start of the case (what a submission sets), from user tasks and service tasks (their form
result or operator result lands in `results[<task id>]`), from script assignments and from business rule tasks
(their decision's outputs). This is a forward analysis over the sequence flows: a name counts as defined where some
path from a start event sets it; helpers and builtins are defined everywhere.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.sandbox import _ALLOWED_BUILTINS, FORBIDDEN_NAMES
from engine.timers import WORKDAYS_HELPER, TimerTextError, translate_timer
from engine.xmlsafe import parse_untrusted_xml

if TYPE_CHECKING:
    from engine.diagram import Diagram, Element

RESULTS = "results"
# Stands for "any name": after a business rule task whose decision outputs are not known here.
ANY = "*"
RESULT_TAGS = frozenset({"userTask", "task", "manualTask", "serviceTask"})
SIMPLE_STATEMENTS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Delete, ast.Return, ast.Pass)


@dataclass(frozen=True)
class Findings:
    """Reads that fail for sure (problems) and reads that fail unless guarded (warnings)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __add__(self, other: Findings) -> Findings:
        return Findings(self.problems + other.problems, self.warnings + other.warnings)

    def named(self, prefix: str) -> Findings:
        """Return the findings with `prefix` (the element or flow and what is read) in front of each."""
        return Findings([prefix + p for p in self.problems], [prefix + w for w in self.warnings])


@dataclass(frozen=True)
class Defined:
    """What some path has put in the task data: top-level names, and the task ids under `results`."""

    names: frozenset[str] = frozenset()
    results: frozenset[str] = frozenset()

    def __or__(self, other: Defined) -> Defined:
        return Defined(self.names | other.names, self.results | other.results)


def decision_outputs(xml: bytes) -> list[str]:
    """Return the task-data names a DMN decision writes (its outputs' names; `a.b` writes `a`)."""
    root = parse_untrusted_xml(xml)
    names = root.xpath("//*[local-name()='decisionTable']/*[local-name()='output']/@name")
    return [str(name).split(".")[0] for name in names if str(name).strip()]


def _local_names(tree: ast.AST) -> set[str]:
    """Return the names an expression binds for itself: comprehension targets, lambda and function arguments."""
    local = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            local |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.arg):
            local.add(node.arg)
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            local.add(node.target.id)
    return local


def _reads(tree: ast.AST) -> tuple[list[str], list[str]]:
    """Return the names an expression or statement reads, and the constant keys it reads from `results`."""
    local = _local_names(tree)
    names, keys = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in local and isinstance(node.ctx, ast.Load):
            names.append(node.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)  # `count += 1` reads count first
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name)
              and node.value.id == RESULTS and isinstance(node.slice, ast.Constant)
              and isinstance(node.slice.value, str)):
            keys.append(node.slice.value)
    return names, keys


def _writes(statement: ast.stmt, defined: Defined) -> Defined:
    """Return what the task data holds after one top-level script statement."""
    names, results = set(defined.names), set(defined.results)
    local = _local_names(statement)
    for node in ast.walk(statement):
        if isinstance(node, ast.Name) and node.id not in local:
            if isinstance(node.ctx, ast.Store):
                names.add(node.id)
                if node.id == RESULTS:
                    results = set()
            elif isinstance(node.ctx, ast.Del):
                names.discard(node.id)
        elif (isinstance(node, ast.Subscript) and not isinstance(node.ctx, ast.Load)
              and isinstance(node.value, ast.Name) and node.value.id == RESULTS
              and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            if isinstance(node.ctx, ast.Store):
                results.add(node.slice.value)
            else:
                results.discard(node.slice.value)
    return Defined(frozenset(names), frozenset(results))


class _Analysis:
    """The names defined on entry to each element, and the problems of the expressions read there."""

    def __init__(self, diagram: Diagram, start_data: Collection[str], known: Collection[str],
                 outputs: Mapping[str, Collection[str]] | None, result_tasks: Collection[str]):
        self.diagram = diagram
        self.start_data = frozenset(start_data)
        self.known = frozenset(known)
        self.outputs = outputs
        self.result_tasks = frozenset(result_tasks)
        self.elements = {k: el for k, el in diagram.elements.items() if el.inside is None}
        self.flows = [f for f in diagram.flows if f.source in self.elements and f.target in self.elements]
        self.entry: dict[str, Defined] = {}
        self.exit: dict[str, Defined] = {}

    def run(self) -> None:
        """Propagate what is defined along the flows until nothing changes."""
        incoming: dict[str, list[str]] = {k: [] for k in self.elements}
        for flow in self.flows:
            incoming[flow.target].append(flow.source)
        changed = True
        while changed:
            changed = False
            for key, el in self.elements.items():
                entry = Defined(self.start_data) if el.tag == "startEvent" and not incoming[key] else Defined()
                for source in incoming[key]:
                    entry = entry | self.exit.get(source, Defined())
                if el.attached_to in self.elements:
                    # A boundary event fires while its task waits: the task's own result is not there yet.
                    entry = entry | self.entry.get(el.attached_to, Defined())
                exit_ = self._through(el, entry)
                if self.entry.get(key) != entry or self.exit.get(key) != exit_:
                    self.entry[key], self.exit[key] = entry, exit_
                    changed = True

    def _through(self, el: Element, entry: Defined) -> Defined:
        if el.tag in RESULT_TAGS and el.id in self.result_tasks:
            return Defined(entry.names | {RESULTS}, entry.results | {el.id})
        if el.tag == "scriptTask":
            defined = entry
            for statement in _statements(el.script):
                defined = _writes(statement, defined)
            return defined
        if el.tag == "businessRuleTask":
            outputs = (self.outputs or {}).get(el.decision_ref or "")
            return Defined(entry.names | (frozenset(outputs) if outputs is not None else {ANY}), entry.results)
        return entry

    def missing(self, tree: ast.AST, defined: Defined) -> Findings:
        """Return what one expression or statement reads that is not defined, in Chinese."""
        if ANY in defined.names:
            return Findings()
        names, keys = _reads(tree)
        available = defined.names | self.known
        # Forbidden and underscore names are refused by the sandbox check already.
        problems = [f"使用了变量 {name}，但到达这里的任何路径都没有设置它（{_offer(defined.names)}）"
                    for name in dict.fromkeys(names)
                    if name not in available and name not in FORBIDDEN_NAMES and not name.startswith("_")]
        warnings = []
        if RESULTS in defined.names:
            warnings = [f"读取 results['{key}']，但任务 {key} 不在到达这里的任何路径上，届时案件将出错停止"
                        f"（已有结果的任务：{'、'.join(sorted(defined.results)) or '无'}）"
                        for key in dict.fromkeys(keys) if key not in defined.results]
        return Findings(problems, warnings)

    def script_findings(self, el: Element) -> Findings:
        """Return what a script reads before anything defines it, statement by statement."""
        defined, found = self.entry.get(el.id, Defined()), Findings()
        for statement in _statements(el.script):
            if isinstance(statement, SIMPLE_STATEMENTS):
                found = found + self.missing(statement, defined)
                defined = _writes(statement, defined)
            else:  # a loop or branch may read what its own body or target sets
                defined = _writes(statement, defined)
                found = found + self.missing(statement, defined)
        return found


def _statements(script: str | None) -> list[ast.stmt]:
    try:
        tree = ast.parse(script or "", mode="exec")
    except SyntaxError:
        return []  # reported by the sandbox check
    return tree.body


def _expression(source: str | None) -> ast.AST | None:
    try:
        return ast.parse(source or "", mode="eval")
    except SyntaxError:
        return None  # reported by the sandbox check


def _offer(names: Iterable[str]) -> str:
    shown = sorted(n for n in names if n != ANY)
    return f"可用：{', '.join(shown)}" if shown else "此处还没有任何数据"


def undefined_names(diagram: Diagram, start_data: Collection[str], helpers: Collection[str],
                    outputs: Mapping[str, Collection[str]] | None, result_tasks: Collection[str]) -> Findings:
    """Return a problem for each name a condition, script or timer reads that no path to it defines.

    `start_data` are the names every case starts with, `helpers` the functions the engine hands in (builtins are
    added here), `outputs` the output names of each decision a business rule task may name (None: unknown), and
    `result_tasks` the elements whose completion writes `results[<their id>]`.
    """
    analysis = _Analysis(diagram, start_data, {*_ALLOWED_BUILTINS, *helpers, WORKDAYS_HELPER}, outputs,
                         result_tasks)
    analysis.run()
    found = Findings()
    for el in analysis.elements.values():
        if el.tag == "scriptTask":
            found = found + analysis.script_findings(el).named(f"{el.label}：脚本")
        if el.timer:
            found = found + _timer_findings(analysis, el).named(f"{el.label}：定时器")
    for flow in analysis.flows:
        tree = _expression(flow.condition) if flow.condition is not None else None
        if tree is not None:
            found = found + analysis.missing(tree, analysis.exit.get(flow.source, Defined())).named(
                f"连线 {flow.label}：条件")
    return found


def _timer_findings(analysis: _Analysis, el: Element) -> Findings:
    try:
        expression = translate_timer(el.timer or "", workdays=el.properties.get("calendar") == "workdays")
    except TimerTextError:
        return Findings()  # reported by the timer check
    tree = _expression(expression)
    return analysis.missing(tree, analysis.entry.get(el.id, Defined())) if tree is not None else Findings()

