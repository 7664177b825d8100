"""A real sandbox for diagram scripts, gateway conditions and timer expressions (RestrictedPython).

SpiffWorkflow's default script engine is bare exec/eval with full builtins; diagrams are untrusted input, so every
expression is compiled by RestrictedPython (no underscore names or attributes, guarded item and attribute access)
and runs with a small whitelist of builtins plus the helpers the engine hands in. Every evaluation also runs within a
time and memory budget: in-process when its cost is bounded by its size and the task data, otherwise in a worker
process (see `engine.budget`).
"""

import ast
import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, IOPERATOR_TO_STR
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine import isolation
from engine.budget import DEFAULT_BUDGET, Budget, is_bounded, named
from engine.errors import BudgetExceeded, SandboxViolation

# Names that must never appear in a diagram expression, even though RestrictedPython would only fail them at run time.
FORBIDDEN_NAMES = frozenset(
    {"open", "eval", "exec", "compile", "globals", "locals", "vars", "getattr", "setattr", "delattr", "input",
     "breakpoint", "memoryview", "type", "object", "help", "exit", "quit", "dir", "id", "hash"}
)

_ALLOWED_BUILTINS = {
    name: value for name, value in safe_builtins.items()
    if name not in {"setattr", "delattr", "__build_class__", "_getattr_", "id", "hash"}
}
_ALLOWED_BUILTINS.update(
    {name: getattr(__import__("builtins"), name) for name in (
        "min", "max", "sum", "any", "all", "sorted", "list", "dict", "set", "tuple", "enumerate", "zip", "reversed",
    )}
)

_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod,
}


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    if op not in _INPLACE:
        raise SandboxViolation(f"不支持的运算：{op}")
    return _INPLACE[op](x, y)


def _guarded_getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _guarded_getiter(obj: Any) -> Any:
    return iter(obj)


def _guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    try:
        return safer_getattr(obj, name, *default)
    except NotImplementedError as exc:  # RestrictedPython's word for str.format and the like
        raise SandboxViolation(f"不允许使用 {type(obj).__name__}.{name}") from exc


def _apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


_GUARDS = {
    "__builtins__": _ALLOWED_BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": _guarded_getitem,
    "_getiter_": _guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_apply_": _apply,
    "_print_": PrintCollector,  # print() output is collected and dropped
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
}


def check_source(source: str, mode: str) -> list[str]:
    """Return the problems of `source` (mode 'eval' or 'exec') without running it; empty when it may run."""
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        return [f"语法错误：{exc.msg}"]
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            problems.append("不允许 import")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            problems.append(f"不允许使用 {node.id}")
    compiled = compile_restricted_eval(source) if mode == "eval" else compile_restricted_exec(source)
    problems.extend(runtime_refusals(tree, compiled.errors))
    return sorted(set(problems))


def runtime_refusals(tree: ast.AST, errors: list[str]) -> list[str]:
    """Say in Chinese what the guards above refuse only at run time, then RestrictedPython's other refusals.

    `_guarded_getattr` (RestrictedPython's `safer_getattr`) refuses attributes starting with "_", the frame, code and
    traceback attributes of INSPECT_ATTRIBUTES, and `format`/`format_map` (a format string reaches any attribute,
    e.g. '{x.__globals__}'); `_write_` lets no attribute be set or deleted; `_inplacevar` knows only the operators
    of `_INPLACE`. RestrictedPython's own (English) messages about the attributes named here are left out.
    """
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            name = node.attr
            if name.startswith("_") or name.endswith("__roles__") or name in INSPECT_ATTRIBUTES:
                found.append((name, f"不允许访问属性 .{name}（以下划线开头或指向解释器内部）"))
            elif name in {"format", "format_map"}:
                found.append((name, f"不允许使用 .{name}（格式字符串可读取任意属性），请用 + 拼接字符串"))
            elif not isinstance(node.ctx, ast.Load):
                found.append((name, f"不允许给属性 .{name} 赋值或删除属性，请改用字典的键"))
        elif isinstance(node, ast.AugAssign) and IOPERATOR_TO_STR.get(type(node.op)) not in _INPLACE:
            symbol = IOPERATOR_TO_STR.get(type(node.op), "")
            found.append(("", f"不支持的运算：{symbol}，只能用 {' '.join(_INPLACE)}"))
    named = {f'"{name}"' for name, _ in found if name}
    others = [f"不允许的写法：{error}" for error in errors if not any(name in error for name in named)]
    return [message for _, message in found] + others


@lru_cache(maxsize=1024)
def _compile(source: str, mode: str) -> Any:
    problems = check_source(source, mode)
    if problems:
        raise SandboxViolation("；".join(problems))
    compiled = compile_restricted_eval(source) if mode == "eval" else compile_restricted_exec(source)
    return compiled.code


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluate and execute diagram code against task data, with only whitelisted helpers visible, within a budget."""

    def __init__(self, helpers: Mapping[str, Callable[..., Any]], budget: Budget = DEFAULT_BUDGET):
        super().__init__(dict(helpers))
        self.budget = budget
        self._helper_names = frozenset(self.globals)
        if budget.enabled:
            isolation.pool(budget.expression_mb)  # started now, so that the first costly expression need not wait

    def _check_clashes(self, context: Mapping[str, Any]) -> None:
        clashes = set(self.globals).intersection(context)
        if clashes:
            raise SandboxViolation(f"任务数据与内置函数同名：{', '.join(sorted(clashes))}")

    def _namespace(self, context: Mapping[str, Any], external_context: Mapping[str, Any] | None) -> dict[str, Any]:
        self._check_clashes(context)
        # Guards last: task data can never replace them (RestrictedPython already refuses underscore names in code).
        return {**context, **(external_context or {}), **self.globals, **_GUARDS}

    def _isolated(self, source: str, mode: str, context: Mapping[str, Any]) -> bool:
        """Compile (refusing forbidden code here) and say whether the code must run in a worker process."""
        _compile(source, mode)
        self._check_clashes(context)
        return self.budget.enabled and not is_bounded(source, mode, self._helper_names)

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None):
        """Evaluate a condition or timer expression."""
        if self._isolated(expression, "eval", context):
            return isolation.pool(self.budget.expression_mb).run(
                "eval", expression, context, external_context, self.globals, self.budget)
        return self.evaluate_here(expression, context, external_context)

    def execute(self, script: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None):
        """Run a script task; top-level assignments and deletions become task data."""
        if self._isolated(script, "exec", context):
            data = isolation.pool(self.budget.expression_mb).run(
                "exec", script, context, external_context, self.globals, self.budget)
            context.clear()
            context.update(data)
            return True
        return self.execute_here(script, context, external_context)

    def evaluate_here(self, expression: str, context: dict[str, Any],
                      external_context: Mapping[str, Any] | None = None) -> Any:
        """Evaluate in this process, without a budget (bounded code, or inside a worker)."""
        return eval(_compile(expression, "eval"), self._namespace(context, external_context))  # noqa: S307

    def execute_here(self, script: str, context: dict[str, Any],
                     external_context: Mapping[str, Any] | None = None) -> bool:
        """Run a script in this process, without a budget (bounded code, or inside a worker)."""
        namespace = self._namespace(context, external_context)
        exec(_compile(script, "exec"), namespace)  # noqa: S102
        reserved = set(_GUARDS) | set(self.globals) | set(external_context or {})
        context.clear()
        context.update({k: v for k, v in namespace.items() if k not in reserved and not callable(v)})
        return True

    def call_service(self, context, **kwargs):  # noqa: ARG002
        raise SandboxViolation("服务任务由引擎的发件箱执行，不能在脚本中调用")


class SandboxScriptEngine(PythonScriptEngine):
    """A script engine whose errors keep the original exception, and whose budget errors name the element."""

    def __init__(self, helpers: Mapping[str, Callable[..., Any]], budget: Budget = DEFAULT_BUDGET):
        super().__init__(environment=SandboxEnvironment(helpers, budget))

    def evaluate(self, task, expression, external_context=None):
        """Evaluate for `task`; a budget error names the task's element (Spiff would bury it in English)."""
        try:
            return super().evaluate(task, expression, external_context)
        except Exception as exc:
            _raise_named(exc, task)
            raise

    def execute(self, task, script, external_context=None):
        """Run a script for `task`; a budget error names the task's element."""
        try:
            return super().execute(task, script, external_context)
        except Exception as exc:
            _raise_named(exc, task)
            raise


def _raise_named(exc: Exception, task: Any) -> None:
    """Re-raise a budget error behind `exc` (Spiff wraps every error) with the task's element named."""
    cause = exc.__cause__ or exc.__context__
    budget = exc if isinstance(exc, BudgetExceeded) else cause if isinstance(cause, BudgetExceeded) else None
    if budget is not None:
        raise named(budget, task.task_spec) from budget
