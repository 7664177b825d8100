"""Budgets for what a diagram makes the server do: time and memory per expression, steps and time per advance.

Diagrams are untrusted, and RestrictedPython only limits *what* code may touch, not how long it runs or how much
memory it takes: `while True: pass` or `'a' * 8 * 2**30` would hang or kill the web process.

Mechanism, and why:
- Each expression is classified once, statically, from its AST (`is_bounded`, cached like the compiled code). An
  expression whose cost is bounded by its own size and the size of the task data it reads (names, constants,
  comparisons, `and`/`or`, subscripts, `+` and `-`, a few cheap builtins, non-mutating methods, the engine's
  helpers, and a single-`for` comprehension whose element and filter read only its own item, such as
  `any(r['decision'] == 'mismatch' for r in results.values())`: linear in the data it walks) runs in-process exactly
  as before: ordinary gateway conditions cost nothing extra.
- Everything else (loops, other comprehensions, lambdas, `*`, `**`, `%`, widths in f-strings, `ljust`, `replace`, …)
  runs in a pre-started worker process (`engine.isolation`): a fresh interpreter, not a fork of the web process
  (which holds database connections, threads and secrets), with `RLIMIT_AS` for memory and a wall-clock deadline
  enforced by the parent, which kills and replaces a worker that overruns. A process is the only reliable way to
  stop pure-Python or C-level work (a big-int power, a huge string) without the code's cooperation; signals and
  tracing hooks run only between bytecodes, only in the main thread, and cannot cap memory. What a worker returns
  is checked to be plain data no larger, once stored, than the memory budget.
- Engine steps (`run_engine_steps`) are counted and timed per advance, so a loop of gateways and scripts that never
  reaches a person or a timer becomes an incident instead of a request that never returns.

`Budget(enabled=False)` turns every check off; it exists for the benchmark that measures what the budgets cost.
"""

import ast
import time
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, TypeVar

from SpiffWorkflow.bpmn.specs.defaults import ExclusiveGateway, InclusiveGateway
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptEngineTask
from SpiffWorkflow.dmn.specs import BusinessRuleTaskMixin

from engine.errors import BudgetExceeded

_Moment = TypeVar("_Moment", bound=date)


@dataclass(frozen=True)
class Budget:
    """What one expression and one advance of a case may use."""

    expression_ms: int = 100
    expression_mb: int = 64
    advance_steps: int = 1000
    advance_ms: int = 2000
    enabled: bool = True


DEFAULT_BUDGET = Budget()
# No timer may be due further ahead than this, nor a working-day deadline be counted beyond it.
MAX_TIMER_YEARS = 10


def horizon(moment: _Moment) -> _Moment:
    """Return the same day and time MAX_TIMER_YEARS calendar years after `moment` (a date or a datetime)."""
    try:
        return moment.replace(year=moment.year + MAX_TIMER_YEARS)
    except ValueError:  # 29 February: 1 March, as adding the months' lengths does
        return moment.replace(year=moment.year + MAX_TIMER_YEARS, month=3, day=1)

# Builtins whose cost is linear in (or independent of) the size of their arguments.
CHEAP_BUILTINS = frozenset({
    "len", "str", "int", "float", "bool", "abs", "min", "max", "any", "all", "sorted", "list", "dict", "set",
    "tuple", "enumerate", "zip", "reversed", "isinstance",
})
# Methods that neither mutate their object nor build anything bigger than it.
CHEAP_METHODS = frozenset({
    "get", "keys", "values", "items", "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith",
    "split", "rsplit", "splitlines", "join", "count", "index", "find", "rfind", "isdigit", "isdecimal",
    "isnumeric", "isalpha", "isalnum", "isspace", "title", "capitalize", "casefold", "partition", "rpartition",
    "isoformat", "date", "copy",
})
_CHEAP_OPERATORS = (ast.Add, ast.Sub, ast.Div)
_PLAIN_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Store, ast.Del, ast.Compare, ast.cmpop, ast.BoolOp,
    ast.boolop, ast.UnaryOp, ast.unaryop, ast.IfExp, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.Starred,
    ast.Subscript, ast.Slice, ast.Attribute, ast.keyword, ast.JoinedStr,
)


def _item_only(node: ast.AST, item: str) -> bool:
    """Whether `node`, inside a comprehension over `item`, costs at most the size of that item."""
    if isinstance(node, ast.Name):
        return node.id == item
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, _CHEAP_OPERATORS)
    return isinstance(node, (*_PLAIN_NODES, ast.operator)) and not isinstance(node, ast.JoinedStr)


class _Bounded(ast.NodeVisitor):
    """Decide whether an expression's cost is bounded by its size and the size of the data it reads."""

    def __init__(self, helpers: frozenset[str]):
        self.helpers = helpers
        self.bounded = True

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _PLAIN_NODES):
            self.bounded = False
            return
        super().generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if not isinstance(node.op, _CHEAP_OPERATORS):
            self.bounded = False
            return
        self.visit(node.left)
        self.visit(node.right)

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._comprehension(node, [node.elt])

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self._comprehension(node, [node.elt])

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def _comprehension(self, node: ast.GeneratorExp | ast.ListComp | ast.SetComp | ast.DictComp,
                       parts: list[ast.expr]) -> None:
        """Let one pass over data through when each item's work is bounded by the item alone.

        The element and filters may read only the loop variable, without calls or nested comprehensions: anything
        else could repeat a cost as large as the data once per item (`[str(results) for r in results]`).
        """
        (clause, *more) = node.generators
        if more or clause.is_async or not isinstance(clause.target, ast.Name):
            self.bounded = False
            return
        self.visit(clause.iter)
        if not all(_item_only(inner, clause.target.id) for part in [*parts, *clause.ifs] for inner in ast.walk(part)):
            self.bounded = False

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        if node.format_spec is not None:  # a width or precision can ask for any amount of padding
            self.bounded = False
            return
        self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            cheap = func.id in CHEAP_BUILTINS or func.id in self.helpers
            if func.id == "sum" and len(node.args) == 1 and not node.keywords:
                cheap = True  # sum(xs, start) of lists or strings is quadratic; plain sum only adds numbers
        elif isinstance(func, ast.Attribute):
            cheap = func.attr in CHEAP_METHODS
            self.visit(func.value)
        else:
            cheap = False
        if not cheap:
            self.bounded = False
            return
        for arg in [*node.args, *node.keywords]:
            self.visit(arg)


def _statements_bounded(body: list[ast.stmt], helpers: frozenset[str]) -> bool:
    """A script is bounded when each statement is, and none reads what an earlier one wrote.

    Reading back what was written could double a value once per line (`x = x + x` repeated).
    """
    written: set[str] = set()
    for statement in body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Assign):
            targets, values = statement.targets, [statement.value]
        elif isinstance(statement, ast.Expr):
            targets, values = [], [statement.value]
        elif isinstance(statement, ast.Delete):
            targets, values = statement.targets, []
        else:
            return False
        read = {n.id for node in values for n in ast.walk(node) if isinstance(n, ast.Name)}
        read |= {n.id for t in targets if not isinstance(t, ast.Name) for n in ast.walk(t) if isinstance(n, ast.Name)}
        if read & written or not all(_expression_bounded(node, helpers) for node in [*targets, *values]):
            return False
        written |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return True


def _expression_bounded(node: ast.AST, helpers: frozenset[str]) -> bool:
    checker = _Bounded(helpers)
    checker.visit(node)
    return checker.bounded


@lru_cache(maxsize=2048)
def is_bounded(source: str, mode: str, helpers: frozenset[str] = frozenset()) -> bool:
    """Return whether code `source` (mode 'eval' or 'exec') may run in-process: see the module doc.

    `helpers` are the names of the engine's helpers, which the engine trusts to be cheap.
    """
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return True  # compiling it fails anyway, with the sandbox's own message
    if isinstance(tree, ast.Module):
        return _statements_bounded(tree.body, helpers)
    return _expression_bounded(tree, helpers)


# -- naming the element ------------------------------------------------------------------------------------------


def element_label(task_spec: Any) -> str:
    """Name a task's element as lint does: 「name」(id), or (id) when it has no name."""
    ident = getattr(task_spec, "bpmn_id", None) or getattr(task_spec, "name", "?")
    name = getattr(task_spec, "bpmn_name", None)
    return f"「{name}」({ident})" if name else f"({ident})"


def element_kind(task_spec: Any) -> str:
    """Say what kind of element evaluates code: a script task, a gateway, a decision or a timer."""
    if isinstance(task_spec, ScriptEngineTask):
        return "脚本任务"
    if isinstance(task_spec, ExclusiveGateway | InclusiveGateway):
        return "网关"
    if isinstance(task_spec, BusinessRuleTaskMixin):
        return "业务规则任务"
    if isinstance(getattr(task_spec, "event_definition", None), TimerEventDefinition):
        return "定时器"
    return "环节"


def named(exc: BudgetExceeded, task_spec: Any) -> BudgetExceeded:
    """Return the budget error with its element named in front; it carries `task_spec` as Spiff's errors do."""
    if getattr(exc, "task_spec", None) is not None:
        return exc
    error = BudgetExceeded(f"{element_kind(task_spec)}{element_label(task_spec)} {exc}")
    error.task_spec = task_spec
    return error


def find_budget_error(exc: BaseException | None) -> BudgetExceeded | None:
    """Return the BudgetExceeded behind an error, however SpiffWorkflow wrapped it (its cause or context)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, BudgetExceeded):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


# -- steps per advance -------------------------------------------------------------------------------------------


class _StepCounter:
    def __init__(self, budget: Budget):
        self.budget = budget
        self.steps = 0
        self.deadline = time.monotonic() + budget.advance_ms / 1000

    def check_time(self, task: Any) -> None:
        if time.monotonic() > self.deadline:
            self._stop(task, f"运行超过 {_seconds(self.budget.advance_ms)} 秒")

    def completed(self, task: Any) -> None:
        self.steps += 1
        if self.steps >= self.budget.advance_steps:
            self._stop(task, f"执行了 {self.budget.advance_steps} 个步骤")
        self.check_time(task)

    @staticmethod
    def _stop(task: Any, what: str) -> None:
        error = BudgetExceeded(
            f"流程在一次推进中{what}仍未停在人工任务或定时器上，可能存在死循环：{element_label(task.task_spec)}")
        error.task_spec = task.task_spec
        raise error


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}"


def run_engine_steps(workflow: Any, budget: Budget = DEFAULT_BUDGET) -> None:
    """Run `workflow.do_engine_steps()` within the budget's steps and time; raise BudgetExceeded naming the element.

    The element named is the last one the workflow ran: on a loop, one of the loop's own elements.
    """
    if not budget.enabled:
        workflow.do_engine_steps()
        return
    counter = _StepCounter(budget)
    workflow.do_engine_steps(will_complete_task=counter.check_time, did_complete_task=counter.completed)


def message_time(budget: Budget) -> str:
    """The words for an expression that ran out of time."""
    return f"超出时间预算 {budget.expression_ms} 毫秒"


def message_memory(budget: Budget) -> str:
    """The words for an expression that ran out of memory."""
    return f"超出内存预算 {budget.expression_mb} MB"

