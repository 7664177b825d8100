"""Drive sample cases through every path of a parsed definition, in memory, before it is activated.

Nothing is stored and no operator is called: service tasks are simply completed, user tasks are completed once per
decision their form offers, and each start variant (the data a submission sets, e.g. whether both places are the
same village) starts its own cases. A path forks at every user task; a decision already taken at a task on the same
path is not taken again (when all were, the task takes its first decision without forking), so correction loops end
after a round. Timers do not fire.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.definitions import ParsedDefinition
from engine.diagram import Element
from engine.sandbox import SandboxScriptEngine
from engine.serializer import StateSerializer

MAX_PATHS = 200
MAX_STEPS = 80


@dataclass
class DryRunPath:
    """One sample case: the steps it went through and how it ended (completed, error, loop or waiting)."""

    start: str
    steps: list[str] = field(default_factory=list)
    outcome: str = "completed"
    end: str = ""


@dataclass
class DryRunReport:
    """Every path driven, and the elements no path reached."""

    paths: list[DryRunPath]
    unreached: list[Element]
    truncated: bool

    @property
    def ok(self) -> bool:
        """Return whether every path ended at an end event."""
        return not self.truncated and all(p.outcome == "completed" for p in self.paths)


@dataclass
class _Branch:
    state: str
    path: DryRunPath
    taken: frozenset[tuple[str, str]]


Decisions = Callable[[Element], Sequence[tuple[str, str]]]


class _Explorer:
    def __init__(self, parsed: ParsedDefinition, script_engine: SandboxScriptEngine, decisions: Decisions):
        self.parsed, self.script_engine, self.decisions = parsed, script_engine, decisions
        self.serializer = StateSerializer()
        self.reached: set[str] = set()

    def load(self, state: str) -> BpmnWorkflow:
        workflow = self.serializer.loads(state, self.parsed.spec, self.parsed.subprocess_specs)
        workflow.script_engine = self.script_engine
        return workflow

    def settle(self, workflow: BpmnWorkflow, path: DryRunPath) -> None:
        """Run engine steps, completing service tasks as if they succeeded, until people must act."""
        workflow.do_engine_steps()
        for _ in range(MAX_STEPS):
            started = [t for t in workflow.tasks.values() if t.state == TaskState.STARTED]
            if not started:
                break
            for task in started:
                path.steps.append(f"系统：{self.label(task)}")
                task.complete()
            workflow.do_engine_steps()
        self.note(workflow)

    def advance(self, workflow: BpmnWorkflow, path: DryRunPath, finished: list[DryRunPath], task=None) -> bool:
        """Run `task` (if given) and settle; a failure ends the path as an error. Return whether it went on."""
        try:
            if task is not None:
                task.run()
            self.settle(workflow, path)
        except Exception as exc:  # noqa: BLE001 - a diagram's failure is what the dry run reports
            path.outcome, path.end = "error", f"出错：{exc}"
            finished.append(path)
            return False
        return True

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
            starts: Mapping[str, Mapping[str, Any]], max_paths: int = MAX_PATHS) -> DryRunReport:
    """Drive sample cases through `parsed` from each start variant (label → start data); see the module doc."""
    explorer = _Explorer(parsed, script_engine, decisions)
    finished: list[DryRunPath] = []
    pending: list[_Branch] = []
    for label, data in starts.items():
        path = DryRunPath(start=label)
        workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=script_engine)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        if explorer.advance(workflow, path, finished):
            pending.append(_Branch(explorer.serializer.dumps(workflow), path, frozenset()))
    truncated = False
    while pending:
        if len(finished) + len(pending) > max_paths:
            truncated = True
            break
        branch = pending.pop(0)
        workflow = explorer.load(branch.state)
        if workflow.is_completed():
            branch.path.end = explorer.end_of(workflow)
            finished.append(branch.path)
            continue
        ready = sorted((t for t in workflow.tasks.values() if t.state == TaskState.READY and t.task_spec.manual),
                       key=lambda t: t.task_spec.bpmn_id or "")
        if not ready:
            branch.path.outcome, branch.path.end = "waiting", "停在等待中（没有待办任务，可能在等定时器）"
            finished.append(branch.path)
            continue
        task = ready[0]
        element = parsed.diagram.elements[task.task_spec.bpmn_id]
        offered = list(decisions(element))
        choices = [(key, text) for key, text in offered if (element.id, key) not in branch.taken] or offered[:1]
        if not choices or len(branch.path.steps) >= MAX_STEPS:
            branch.path.outcome, branch.path.end = "loop", f"在 {element.label} 处循环，已截断"
            finished.append(branch.path)
            continue
        for key, text in choices:
            path = DryRunPath(branch.path.start, [*branch.path.steps, f"{element.name or element.id}：{text}"])
            fork = explorer.load(branch.state)
            chosen = fork.get_task_from_id(task.id)
            chosen.data["results"] = {**chosen.data.get("results", {}),
                                      element.id: {"decision": key, "reason": "试运行"}}
            if explorer.advance(fork, path, finished, chosen):
                pending.append(_Branch(explorer.serializer.dumps(fork), path, branch.taken | {(element.id, key)}))
    unreached = [el for el in parsed.diagram.elements.values() if el.id not in explorer.reached]
    return DryRunReport(finished, unreached, truncated)
