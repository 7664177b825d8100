"""Errors the engine raises to its callers, each with a message fit to show a user or return as JSON."""


class EngineError(Exception):
    """Base class of the engine's errors."""


class DiagramRejected(EngineError):
    """A diagram failed parsing or lint; `problems` lists every problem found, by element."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("流程图未通过检查：\n" + "\n".join(f"- {p}" for p in problems))


class NotFound(EngineError):
    """The definition, instance or task asked for does not exist."""


class TaskConflict(EngineError):
    """The task is no longer waiting for this action (already done, cancelled or claimed by someone else)."""


class MigrationBlocked(TaskConflict):
    """The case cannot move to the target version; `problems` says why, one reason each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("；".join(problems))


class SandboxViolation(EngineError):
    """A diagram expression tried something the sandbox forbids."""


class BudgetExceeded(SandboxViolation):
    """A diagram expression, or one advance of a case, used more time, memory or steps than it is allowed.

    The message is Chinese and names the element, fit for an incident, a validation report or a dry-run path.
    """
