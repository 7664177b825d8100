"""The BPMN parser the engine uses: a parallel join that is correct inside loops, business rule tasks bound to
deployed DMN decisions (`camunda:decisionRef`, or spiff-arena's `calledDecisionId`), and timer events whose due time
is computed in O(1) and bounded (`engine.timers`).

The parallel join:

SpiffWorkflow 3.2's parallel join looks at *every* task of the join's spec in the tree, including those of earlier
passes through a loop. In a verify → correct → verify-again cycle that goes wrong twice over: a branch that finished
first on the earlier pass counts as already arrived on the next pass (the join fires early, once per branch), and
the earlier pass's results are merged over the new ones (through nested dicts shared between tasks, even into the
branch tasks' own data). This subclass only considers the join tasks of the current pass — those descending from
the previous firing of the same join — and copies data before merging it.
"""

import copy

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    BoundaryEventParser,
    IntermediateCatchEventParser,
    StartEventParser,
)
from SpiffWorkflow.bpmn.parser.task_parsers import GatewayParser
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, IntermediateCatchEvent, ParallelGateway, StartEvent
from SpiffWorkflow.bpmn.specs.mixins import BpmnSpecMixin
from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser
from SpiffWorkflow.dmn.specs import BusinessRuleTaskMixin
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from engine.diagram import CAMUNDA, NS
from engine.timers import bounded


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


class BusinessRuleTask(BusinessRuleTaskMixin, BpmnSpecMixin):
    """Evaluates a DMN decision table (cells run in the engine's sandbox) and merges its outputs into task data."""


class DecisionTaskParser(TaskParser):
    """Bind a business rule task to the decision it names, in the Camunda or the spiff-arena way."""

    def create_task(self):
        """Create the task with the decision's engine (the decision must have been added to the parser)."""
        engine = self.process_parser.parser.get_engine(self.get_decision_ref(self.node), self.node)
        return BusinessRuleTask(self.spec, self.bpmn_id, dmnEngine=engine, **self.bpmn_attributes)

    @staticmethod
    def get_decision_ref(node) -> str | None:
        """Return the decision id a businessRuleTask element names (BpmnDmnParser asks for dependencies)."""
        ref = node.get(f"{{{CAMUNDA}}}decisionRef")
        if ref:
            return ref
        called = node.xpath("./bpmn:extensionElements/spiffworkflow:calledDecisionId", namespaces=NS)
        return (called[0].text or "").strip() if called else None


class _BoundedTimers:
    """Make the timer definitions an event parser produces the engine's bounded ones."""

    def parse_timer_event(self, event):
        """Parse as SpiffWorkflow does, then swap in the bounded timer of the same kind."""
        return bounded(super().parse_timer_event(event))


class TimerStartEventParser(_BoundedTimers, StartEventParser):
    """Start events, with bounded timers."""


class TimerCatchEventParser(_BoundedTimers, IntermediateCatchEventParser):
    """Intermediate catch events, with bounded timers."""


class TimerBoundaryEventParser(_BoundedTimers, BoundaryEventParser):
    """Boundary events, with bounded timers."""


class EngineBpmnParser(BpmnDmnParser):
    """The plain BPMN parser (extensions are read by engine.diagram), loop-safe joins, DMN business rule tasks,
    bounded timers."""

    OVERRIDE_PARSER_CLASSES = {
        full_tag("parallelGateway"): (GatewayParser, LoopSafeParallelGateway),
        full_tag("businessRuleTask"): (DecisionTaskParser, BusinessRuleTask),
        full_tag("startEvent"): (TimerStartEventParser, StartEvent),
        full_tag("intermediateCatchEvent"): (TimerCatchEventParser, IntermediateCatchEvent),
        full_tag("boundaryEvent"): (TimerBoundaryEventParser, BoundaryEvent),
    }
