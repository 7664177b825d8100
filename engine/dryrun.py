"""Drive sample cases through every path of a parsed definition, in memory, before it is activated.

Nothing is stored and no operator is called: service tasks are simply completed, user tasks are completed once per
decision their form offers, and each start variant (the data a submission sets, e.g. whether both places are the
same village) starts its own cases. A path forks at every user task; a decision already taken at a task on the same
path is not taken again (when all were, the task takes its first decision without forking), so correction loops end
after a round, and a path that takes the same decision at the same task more than MAX_ROUNDS times is a real loop.
Timers do not fire.

Each path ends one way: completed (an end event), error (a failure, said in Chinese), budget (a diagram expression
used more time, memory or steps than allowed), deadline (the whole run's wall-clock deadline passed while it ran),
loop, or waiting (no task to do: a timer). The whole run stops at its deadline, even inside a step that never
returns (engine.watchdog), and the report says how far it got.
"""

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, NamedTuple

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState

from engine.budget import DEFAULT_BUDGET, Budget, find_budget_error, run_engine_steps
from engine.definitions import ParsedDefinition
from engine.diagram import Element
from engine.errors import EngineError
from engine.sandbox import SandboxScriptEngine
from engine.serializer import StateSerializer
from engine.watchdog import Deadline, DeadlineReached

MAX_PATHS = 200
MAX_STEPS = 80
# How many times one path may take the same decision at the same task before it counts as a loop.
MAX_ROUNDS = 3
# The whole run's wall-clock deadline, in seconds, unless the caller gives another.
DEADLINE_SECONDS = 20.0
# Beyond a step's own time budget, how long a step running at the deadline may take before it is interrupted.
GRACE_MARGIN_SECONDS = 0.5

COMPLETED, ERROR, BUDGET, DEADLINE, LOOP, WAITING = "completed", "error", "budget", "deadline", "loop", "waiting"
OUTCOMES = {COMPLETED: "正常结束", ERROR: "出错", BUDGET: "超出预算", DEADLINE: "模拟超时", LOOP: "循环",
            WAITING: "等待中"}

# SpiffWorkflow's English for an exclusive gateway none of whose conditions holds, when it has no default flow.
_NO_CONDITION = "No conditions satisfied"
_KINDS = {"scriptTask": "脚本", "exclusiveGateway": "网关", "inclusiveGateway": "网关", "parallelGateway": "网关",
          "eventBasedGateway": "网关", "serviceTask": "服务任务", "userTask": "任务", "businessRuleTask": "决策",
          "boundaryEvent": "定时器", "intermediateCatchEvent": "定时器"}
# What Python's own errors mean to a diagram's author (their messages are English).
_PYTHON_ERRORS: dict[type[BaseException], str] = {
    NameError: "使用了未定义的数据", KeyError: "缺少数据", IndexError: "下标超出范围", ZeroDivisionError: "除数为零",
    TypeError: "数据类型不符", ValueError: "取值无效", AttributeError: "数据没有该属性",
    RecursionError: "递归过深", MemoryError: "内存不足",
}


class Unreached(NamedTuple):
    """An element no path reached: its id and its label for people."""

    id: str
    label: str


@dataclass
class DryRunPath:
    """One sample case: the steps it went through and how it ended (see OUTCOMES)."""

    start: str
    steps: list[str] = field(default_factory=list)
    outcome: str = COMPLETED
    end: str = ""

    @property
    def outcome_label(self) -> str:
        """Return the outcome in words."""
        return OUTCOMES.get(self.outcome, self.outcome)


@dataclass
class DryRunReport:
    """Every path driven, the elements no path reached, and whether the run stopped early (path cap, deadline)."""

    paths: list[DryRunPath]
    unreached: list[Unreached]
    truncated: bool
    timed_out: bool = False
    seconds: float = DEADLINE_SECONDS
    unfinished: int = 0

    @property
    def ok(self) -> bool:
        """Return whether the run went everywhere and every path ended at an end event."""
        return not self.truncated and not self.timed_out and all(p.outcome == COMPLETED for p in self.paths)

    @property
    def stopped(self) -> str:
        """Return why the run stopped before going everywhere, in words; empty when it did not."""
        done = sum(p.outcome != DEADLINE for p in self.paths)
        if self.timed_out:
            left = f"，另有 {self.unfinished} 条未走完" if self.unfinished else ""
            return f"模拟超时（{self.seconds:g} 秒），已完成 {done} 条路径{left}"
        if self.truncated:
            return f"路径超过 {MAX_PATHS} 条，已截断：已完成 {done} 条路径"
        return ""

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain JSON data (for storing it)."""
        return {"paths": [asdict(p) for p in self.paths], "unreached": [list(u) for u in self.unreached],
                "truncated": self.truncated, "timed_out": self.timed_out, "seconds": self.seconds,
                "unfinished": self.unfinished}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DryRunReport":
        """Return the report `to_json` gave."""
        return cls([DryRunPath(**p) for p in data["paths"]], [Unreached(*u) for u in data["unreached"]],
                   data["truncated"], data["timed_out"], data["seconds"], data["unfinished"])


@dataclass
class _Branch:
    state: str
    path: DryRunPath
    taken: dict[tuple[str, str], int]


Decisions = Callable[[Element], Sequence[tuple[str, str]]]
# The result a user task records when the dry run takes one of its decisions (element, decision value).
SampleResult = Callable[[Element, str], Mapping[str, Any]]


def _plain_result(_element: Element, decision: str) -> dict[str, Any]:
    return {"decision": decision, "reason": "试运行"}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Yield `exc` and every exception it was raised from or while handling, outermost first."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


def _named(error: BaseException) -> str:
    """Return the name a NameError or KeyError is about (quoted in Python's English message), else ""."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    if isinstance(error, NameError):
        found = re.search(r"'(\w+)'", str(error))
        return found.group(1) if found else ""
    return ""


class _Explorer:
    def __init__(self, parsed: ParsedDefinition, script_engine: SandboxScriptEngine, deadline: Deadline,
                 budget: Budget):
        self.parsed, self.script_engine, self.deadline, self.budget = parsed, script_engine, deadline, budget
        self.serializer = StateSerializer()
        self.reached: set[str] = set()
        self.finished: list[DryRunPath] = []

    def load(self, state: str) -> BpmnWorkflow:
        workflow = self.serializer.loads(state, self.parsed.spec, self.parsed.subprocess_specs)
        workflow.script_engine = self.script_engine
        return workflow

    def settle(self, workflow: BpmnWorkflow, path: DryRunPath) -> None:
        """Run engine steps, completing service tasks as if they succeeded, until people must act.

        Each run of engine steps has the budget a case's advance has, so a loop of scripts and gateways that never
        reaches a person ends its path as a budget hit.
        """
        run_engine_steps(workflow, self.budget)
        for _ in range(MAX_STEPS):
            started = [t for t in workflow.tasks.values() if t.state == TaskState.STARTED]
            if not started:
                break
            for task in started:
                path.steps.append(f"系统：{self.label(task)}")
                task.complete()
            run_engine_steps(workflow, self.budget)
        self.note(workflow)

    def advance(self, path: DryRunPath, step: Callable[[], BpmnWorkflow]) -> BpmnWorkflow | None:
        """Run `step` (start a case, or complete a task) and settle; return the workflow, or None when it failed.

        DeadlineReached is not caught here: it ends the whole run (see explore).
        """
        try:
            with self.deadline.step():
                workflow = step()
                self.settle(workflow, path)
        except DeadlineReached:
            self.end(path, DEADLINE, "模拟超时，此路径未走完")
            raise
        except Exception as exc:  # noqa: BLE001 - a diagram's failure is what the dry run reports
            self.end(path, *self.describe(exc))
            return None
        return workflow

    def begin(self, data: Mapping[str, Any]) -> BpmnWorkflow:
        """Return a new case of the definition, its start data set."""
        workflow = BpmnWorkflow(self.parsed.spec, self.parsed.subprocess_specs, script_engine=self.script_engine)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        return workflow

    def end(self, path: DryRunPath, outcome: str, end: str) -> None:
        path.outcome, path.end = outcome, end
        self.finished.append(path)

    def describe(self, exc: Exception) -> tuple[str, str]:
        """Return the outcome and the Chinese words for a failure, naming the element where it happened."""
        chain = list(_chain(exc))
        element = self.element_of(chain)
        name = (element.name or element.id) if element else ""
        where = f"{_KINDS.get(element.tag, '步骤')}「{name}」" if element else "流程"
        budget = find_budget_error(exc)
        if budget is not None:
            return BUDGET, str(budget) or f"{where}超出预算"
        if any(isinstance(e, WorkflowException) and str(e).startswith(_NO_CONDITION) for e in chain):
            return ERROR, f"{where}的条件都不成立，且没有默认流"
        return ERROR, f"{where}出错：{self.cause_of(chain)}"

    def element_of(self, chain: list[BaseException]) -> Element | None:
        for error in chain:
            task = getattr(error, "task", None)
            spec = task.task_spec if task is not None else getattr(error, "task_spec", None)
            element = self.parsed.diagram.elements.get(getattr(spec, "bpmn_id", None) or "")
            if element is not None:
                return element
        return None

    @staticmethod
    def cause_of(chain: list[BaseException]) -> str:
        """Return the innermost cause in Chinese: the engine's own message, or the meaning of a Python error."""
        for error in reversed(chain):
            if isinstance(error, EngineError):
                return str(error)
            for kind, meaning in _PYTHON_ERRORS.items():
                if isinstance(error, kind):
                    return f"{meaning} {_named(error)}".strip()
        return f"运行出错（{type(chain[-1]).__name__}）"

    def note(self, workflow: BpmnWorkflow) -> None:
        self.reached.update(t.task_spec.bpmn_id for t in workflow.tasks.values()
                            if t.state == TaskState.COMPLETED and t.task_spec.bpmn_id)

    def label(self, task) -> str:
        element = self.parsed.diagram.elements.get(task.task_spec.bpmn_id or "")
        return element.name or element.id if element else task.task_spec.name

    def end_of(self, workflow: BpmnWorkflow) -> str:
        ends = [t for t in workflow.tasks.values() if t.state == TaskState.COMPLETED
                and (el := self.parsed.diagram.elements.get(t.task_spec.bpmn_id or "")) is not None
                and el.tag == "endEvent"]
        return self.label(max(ends, key=lambda t: t.last_state_change)) if ends else "结束"


def explore(parsed: ParsedDefinition, script_engine: SandboxScriptEngine, decisions: Decisions,
            starts: Mapping[str, Mapping[str, Any]], max_paths: int = MAX_PATHS,
            seconds: float = DEADLINE_SECONDS, budget: Budget = DEFAULT_BUDGET,
            results: SampleResult = _plain_result) -> DryRunReport:
    """Drive sample cases through `parsed` from each start variant (label → start data); see the module doc.

    Runs in the calling thread and touches no database; it returns within about `seconds` (plus, for a step under
    way at the deadline, the time its budget lets it run). Each run of engine steps has `budget`'s steps and time,
    as an advance of a case has.
    """
    # A step past the deadline may first finish within its own budget; only one the budget did not stop is cut.
    grace = budget.advance_ms / 1000 + GRACE_MARGIN_SECONDS if budget.enabled else 0.0
    with Deadline(seconds, grace) as deadline:
        explorer = _Explorer(parsed, script_engine, deadline, budget)
        pending: list[_Branch] = []
        truncated = timed_out = False
        try:
            for label, data in starts.items():
                path = DryRunPath(start=label)
                workflow = explorer.advance(path, partial(explorer.begin, data))
                if workflow is not None:
                    pending.append(_Branch(explorer.serializer.dumps(workflow), path, {}))
            truncated = _walk(explorer, decisions, pending, max_paths, results)
        except DeadlineReached:
            timed_out = True
    finished = explorer.finished
    unreached = [Unreached(el.id, el.label) for el in parsed.diagram.elements.values() if el.id not in explorer.reached]
    return DryRunReport(finished, unreached, truncated, timed_out, seconds, len(pending))


def _completed(workflow: BpmnWorkflow, task) -> BpmnWorkflow:
    task.run()
    return workflow


def _walk(explorer: _Explorer, decisions: Decisions, pending: list[_Branch], max_paths: int,
          results: SampleResult = _plain_result) -> bool:
    """Take the pending branches one by one, forking at each user task; return whether the path cap cut it short."""
    parsed, finished = explorer.parsed, explorer.finished
    while pending:
        if explorer.deadline.expired():
            raise DeadlineReached
        if len(finished) + len(pending) > max_paths:
            return True
        branch = pending.pop(0)
        workflow = explorer.load(branch.state)
        if workflow.is_completed():
            branch.path.end = explorer.end_of(workflow)
            finished.append(branch.path)
            continue
        ready = sorted((t for t in workflow.tasks.values() if t.state == TaskState.READY and t.task_spec.manual),
                       key=lambda t: t.task_spec.bpmn_id or "")
        if not ready:
            explorer.end(branch.path, WAITING, "停在等待中（没有待办任务，可能在等定时器）")
            continue
        task = ready[0]
        element = parsed.diagram.elements[task.task_spec.bpmn_id]
        name = element.name or element.id
        offered = list(decisions(element))
        if not offered:
            explorer.end(branch.path, ERROR, f"任务「{name}」没有可选的办理结果（表单未提供），案件会停在这里")
            continue
        fresh = [(key, text) for key, text in offered if (element.id, key) not in branch.taken]
        choices = fresh or offered[:1]
        if not fresh and branch.taken[(element.id, offered[0][0])] >= MAX_ROUNDS:
            explorer.end(branch.path, LOOP,
                         f"在「{name}」处循环：「{offered[0][1]}」已重复 {MAX_ROUNDS} 次，已截断")
            continue
        if len(branch.path.steps) >= MAX_STEPS:
            explorer.end(branch.path, LOOP, f"经过 {MAX_STEPS} 步仍未结束，在「{name}」处截断")
            continue
        for key, text in choices:
            path = DryRunPath(branch.path.start, [*branch.path.steps, f"{name}：{text}"])
            fork = explorer.load(branch.state)
            chosen = fork.get_task_from_id(task.id)
            chosen.data["results"] = {**chosen.data.get("results", {}),
                                      element.id: dict(results(element, key))}
            taken = {**branch.taken, (element.id, key): branch.taken.get((element.id, key), 0) + 1}
            if explorer.advance(path, partial(_completed, fork, chosen)) is not None:
                pending.append(_Branch(explorer.serializer.dumps(fork), path, taken))
    return False
