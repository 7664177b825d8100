"""A parallel join that is correct inside loops.

SpiffWorkflow 3.2's parallel join looks at *every* task of the join's spec in the tree, including those of earlier
passes through a loop. In a verify → correct → verify-again cycle that goes wrong twice over: a branch that finished
first on the earlier pass counts as already arrived on the next pass (the join fires early, once per branch), and
the earlier pass's results are merged over the new ones (through nested dicts shared between tasks, even into the
branch tasks' own data). This subclass only considers the join tasks of the current pass — those descending from
the previous firing of the same join — and copies data before merging it.
"""

import copy

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, full_tag
from SpiffWorkflow.bpmn.parser.task_parsers import GatewayParser
from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState


class LoopSafeParallelGateway(ParallelGateway):
    """A parallel gateway whose join only counts and merges the branches of the current pass."""

    def _current_pass(self, my_task):
        previous = my_task.parent.find_ancestor(self.name) if my_task.parent is not None else None
        return [t for t in my_task.workflow.get_tasks(spec_name=self.name)
                if previous is None or t.is_descendant_of(previous)]

    def _check_threshold_unstructured(self, my_task):
        waiting = set(self.inputs)
        for task in self._current_pass(my_task):
            if my_task.is_descendant_of(task):
                continue
            if task.parent is not None and task.parent.state == TaskState.COMPLETED:
                waiting.discard(task.parent.task_spec)
        return not waiting

    def _run_hook(self, my_task):
        my_task.data = copy.deepcopy(my_task.data)
        arrived = [t for t in self._current_pass(my_task) if t is not my_task and t.state == TaskState.CANCELLED]
        for task in sorted(arrived, key=lambda t: t.last_state_change):
            DeepMerge.merge(my_task.data, copy.deepcopy(task.parent.data))
        my_task.data = DeepMerge.merge(my_task.data, copy.deepcopy(my_task.parent.data))
        return True


class EngineBpmnParser(BpmnParser):
    """The plain BPMN parser (extensions are read by engine.diagram) with the loop-safe parallel join."""

    OVERRIDE_PARSER_CLASSES = {full_tag("parallelGateway"): (GatewayParser, LoopSafeParallelGateway)}
