"""A real sandbox for diagram scripts, gateway conditions and timer expressions (RestrictedPython).

SpiffWorkflow's default script engine is bare exec/eval with full builtins; diagrams are untrusted input, so every
expression is compiled by RestrictedPython (no underscore names or attributes, guarded item and attribute access)
and runs with a small whitelist of builtins plus the helpers the engine hands in.
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
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.errors import SandboxViolation

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
    problems.extend(f"不允许的写法：{error}" for error in compiled.errors)
    return sorted(set(problems))


@lru_cache(maxsize=1024)
def _compile(source: str, mode: str) -> Any:
    problems = check_source(source, mode)
    if problems:
        raise SandboxViolation("；".join(problems))
    compiled = compile_restricted_eval(source) if mode == "eval" else compile_restricted_exec(source)
    return compiled.code


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluate and execute diagram code against task data, with only whitelisted helpers visible."""

    def __init__(self, helpers: Mapping[str, Callable[..., Any]]):
        super().__init__(dict(helpers))

    def _namespace(self, context: Mapping[str, Any], external_context: Mapping[str, Any] | None) -> dict[str, Any]:
        clashes = set(self.globals).intersection(context)
        if clashes:
            raise SandboxViolation(f"任务数据与内置函数同名：{', '.join(sorted(clashes))}")
        # Guards last: task data can never replace them (RestrictedPython already refuses underscore names in code).
        return {**context, **(external_context or {}), **self.globals, **_GUARDS}

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None):
        """Evaluate a condition or timer expression."""
        return eval(_compile(expression, "eval"), self._namespace(context, external_context))  # noqa: S307

    def execute(self, script: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None):
        """Run a script task; top-level assignments and deletions become task data."""
        namespace = self._namespace(context, external_context)
        exec(_compile(script, "exec"), namespace)  # noqa: S102
        reserved = set(_GUARDS) | set(self.globals) | set(external_context or {})
        context.clear()
        context.update({k: v for k, v in namespace.items() if k not in reserved and not callable(v)})
        return True

    def call_service(self, context, **kwargs):  # noqa: ARG002
        raise SandboxViolation("服务任务由引擎的发件箱执行，不能在脚本中调用")


class SandboxScriptEngine(PythonScriptEngine):
    """A script engine whose errors keep the original exception instead of Spiff's NameError mask."""

    def __init__(self, helpers: Mapping[str, Callable[..., Any]]):
        super().__init__(environment=SandboxEnvironment(helpers))
