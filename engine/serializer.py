"""Serialize workflows without their spec: the spec is stored once per definition version, not per instance."""

import json
from datetime import date
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs import BpmnProcessSpec

STATE_FORMAT = "stripped-1"


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Leave the spec out of the dict; restoring takes the spec from the caller's cache."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec: BpmnProcessSpec, subprocess_specs: dict) -> BpmnWorkflow:
        dct.pop("spec", None)
        dct.pop("subprocess_specs", None)
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], workflow=workflow, key_class=UUID)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class StateSerializer:
    """Turn a workflow into JSON text and back, given its (cached) spec."""

    def __init__(self):
        registry = BpmnWorkflowSerializer.configure(DEFAULT_CONFIG)
        # Task data may hold dates (birth dates, deadlines); Spiff's registry knows datetime but not date.
        registry.register(date, lambda v: {"value": v.isoformat()}, lambda d: date.fromisoformat(d["value"]))
        self._converter = SpecFreeWorkflowConverter(BpmnWorkflow, registry)
        self._serializer = BpmnWorkflowSerializer(registry)
        self.version = f"{self._serializer.VERSION}+{STATE_FORMAT}"

    def dumps(self, workflow: BpmnWorkflow) -> str:
        """Serialize the task tree and data of a workflow."""
        registry = self._serializer.registry
        registry._encoder_mode = True
        try:
            return json.dumps(self._converter.to_dict(workflow), cls=self._serializer._encoder_cls,
                              separators=(",", ":"), ensure_ascii=False)
        finally:
            registry._encoder_mode = False

    def loads(self, text: str, spec: BpmnProcessSpec, subprocess_specs: dict) -> BpmnWorkflow:
        """Restore a workflow from `dumps` output onto its spec."""
        return self._converter.from_dict(json.loads(text), spec, subprocess_specs)
