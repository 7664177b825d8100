"""Whether the conditions of a gateway without a default flow can all be false (the case would then fail there).

Only a few forms of proof are recognised, so a warning may be given for conditions that do cover every case: one
condition always true; a condition and its negation (`x` / `not x`, `a == b` / `a != b`, `a < b` / `a >= b`); or
comparisons of a form result's decision (`results['<task>']['decision'] == '…'`) naming every decision its form
offers. A warning does not block deployment; a default flow silences it.
"""

import ast
from collections.abc import Collection, Iterable, Mapping

COMPLEMENTS = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE,
               ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


def _disjuncts(tree: ast.expr) -> list[ast.expr]:
    if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.Or):
        return [d for value in tree.values for d in _disjuncts(value)]
    return [tree]


def _negation(tree: ast.expr) -> str | None:
    """Return the dump of the condition that is true exactly when `tree` is false, when it is plain to see."""
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.Not):
        return ast.dump(tree.operand)
    if isinstance(tree, ast.Compare) and len(tree.ops) == 1 and type(tree.ops[0]) in COMPLEMENTS:
        flipped = ast.Compare(tree.left, [COMPLEMENTS[type(tree.ops[0])]()], tree.comparators)
        return ast.dump(flipped)
    return ast.dump(ast.UnaryOp(ast.Not(), tree))


def _decision_of(tree: ast.expr) -> str | None:
    """Return <task> when `tree` is results['<task>']['decision']."""
    if (isinstance(tree, ast.Subscript) and isinstance(tree.slice, ast.Constant) and tree.slice.value == "decision"
            and isinstance(tree.value, ast.Subscript) and isinstance(tree.value.value, ast.Name)
            and tree.value.value.id == "results" and isinstance(tree.value.slice, ast.Constant)
            and isinstance(tree.value.slice.value, str)):
        return tree.value.slice.value
    return None


def _decisions_named(tree: ast.expr) -> tuple[str, set[str]] | None:
    """Return (task, decisions) when `tree` says the task's decision is one of the named constants."""
    if not (isinstance(tree, ast.Compare) and len(tree.ops) == 1):
        return None
    left, op, right = tree.left, tree.ops[0], tree.comparators[0]
    if isinstance(op, ast.Eq):
        for subject, value in ((left, right), (right, left)):
            task = _decision_of(subject)
            if task and isinstance(value, ast.Constant) and isinstance(value.value, str):
                return task, {value.value}
    if isinstance(op, ast.In) and _decision_of(left) and isinstance(right, ast.Tuple | ast.List | ast.Set):
        values = {e.value for e in right.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        return _decision_of(left) or "", values
    return None


def may_all_be_false(conditions: Iterable[str], decisions_of_task: Mapping[str, Collection[str]]) -> bool:
    """Return whether the conditions might all be false, unless one of the recognised proofs says otherwise.

    `decisions_of_task` maps a user task id to the decisions its form offers.
    """
    parts = []
    for source in conditions:
        try:
            parts += _disjuncts(ast.parse(source, mode="eval").body)
        except SyntaxError:
            return False  # reported as a problem already
    dumps = {ast.dump(p) for p in parts}
    if any(isinstance(p, ast.Constant) and p.value for p in parts):
        return False
    if any(_negation(p) in dumps for p in parts):
        return False
    covered: dict[str, set[str]] = {}
    for part in parts:
        named = _decisions_named(part)
        if named:
            covered.setdefault(named[0], set()).update(named[1])
    return not any(task in decisions_of_task and set(decisions_of_task[task]) <= values
                   for task, values in covered.items())
