"""The case engine: start instances, complete user tasks, perform service tasks, fire timers.

Every advance happens in the caller's transaction, under a row lock on the instance, and leaves the instance row,
its human-task rows, its outbox rows and its audit lines consistent with each other. The caller commits, except
around service tasks (`Runtime.perform`), whose claim must be durable before the operator runs.
"""

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, Protocol
from uuid import UUID, uuid4

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.util.diff import migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, contains_eager

from engine import audit
from engine.budget import DEFAULT_BUDGET, Budget, find_budget_error, named, run_engine_steps
from engine.calendar import WorkCalendar, load_calendar
from engine.db import utcnow
from engine.definitions import DefinitionStore, ParsedDefinition
from engine.diagram import Assignment, Diagram, Vocabulary
from engine.errors import MigrationBlocked, NotFound, TaskConflict
from engine.models import AuditEventModel, HumanTaskModel, OutboxModel, ProcessDefinitionModel, ProcessInstanceModel
from engine.sandbox import SandboxScriptEngine
from engine.serializer import StateSerializer
from engine.timers import WORKDAYS_HELPER

CALENDAR_TTL_SECONDS = 60
# Steps an administrator may move a stuck case back to.
MOVABLE_TAGS = frozenset({"userTask", "serviceTask", "scriptTask", "businessRuleTask", "task", "manualTask"})
REACHED = TaskState.WAITING | TaskState.READY | TaskState.STARTED | TaskState.COMPLETED | TaskState.ERROR
OUTBOX_SESSION_KEY = "engine.outbox"
INACTIVE_MESSAGES = {"suspended": "该案件已被管理员暂停，暂不能办理", "cancelled": "该案件已被撤销",
                     "completed": "该案件已办结", "error": "该案件流程出错，等待管理员处理"}


class ServiceTaskRefused(Exception):  # noqa: N818 - a refusal, not an error of ours
    """Raised by an operator when retrying cannot help (the request itself is wrong): an incident at once."""


@dataclass(frozen=True)
class ServiceCall:
    """What an operator receives when the engine performs a service task."""

    session: Session
    instance_id: int
    process_key: str
    business_key: str | None
    element_id: str
    element_name: str
    params: Mapping[str, str]
    data: Mapping[str, Any]
    # The same for every attempt at this service task (outbox row and task): a provider that honours it, or our own
    # record of what was sent under it, turns a repeated attempt into no repeated effect.
    idempotency_key: str = ""
    # Commit what the operator wrote so far (e.g. "about to send, under this key") before it acts outside the
    # database, so a crash after the outside effect leaves a trace the next attempt finds. The case's row lock is
    # released; the engine takes it again, and re-checks the claim, before it records the outcome.
    checkpoint: Callable[[], None] = lambda: None


Operator = Callable[[ServiceCall], Mapping[str, Any] | None]


class Hooks(Protocol):
    """What the engine asks of the application that embeds it."""

    def jurisdiction(self, session: Session, instance: ProcessInstanceModel, field_name: str) -> str | None:
        """Return the division code held by the case field `field_name`."""

    def status_changed(self, session: Session, instance: ProcessInstanceModel, status: str) -> None:
        """Record a new citizen-facing status milestone."""

    def task_completed(
        self, session: Session, instance: ProcessInstanceModel, task: HumanTaskModel, result: Mapping[str, Any],
        actor: str,
    ) -> None:
        """Record a completed user task in the application's own tables."""


@dataclass(frozen=True)
class RetryPolicy:
    """Service-task retries: exponential backoff, then an incident."""

    max_attempts: int = 5
    base_seconds: float = 30.0
    factor: float = 4.0
    # How long a performer's claim holds a row: longer than any attempt may run (a worker's hard time limit is
    # below it), so a claim that outlives it belongs to a performer that died, and the sweeper hands the row over
    # again. Short, because that is how long a case waits after a worker is killed mid-task; it can be short
    # because service tasks (an SMS, a slip) take seconds. The price: an attempt may never run longer.
    lease_seconds: float = 45.0
    # How long a copy handed to the queue is awaited before the sweeper hands over another: a broker that lost it,
    # or a worker that died holding it prefetched. A copy still waiting in a long queue is then sent twice; the
    # second finds the row claimed or done and is skipped (a cheap UPDATE), so a backlog costs no repeated work.
    requeue_seconds: float = 60.0

    def delay(self, attempts: int) -> timedelta:
        """Return the wait before attempt number `attempts + 1`."""
        return timedelta(seconds=self.base_seconds * self.factor ** (attempts - 1))

    @property
    def lease(self) -> timedelta:
        """Return how long a claim holds a row."""
        return timedelta(seconds=self.lease_seconds)

    @property
    def requeue_after(self) -> timedelta:
        """Return how long a queued copy is awaited."""
        return timedelta(seconds=self.requeue_seconds)


@dataclass(frozen=True)
class Outcome:
    """What happened to one outbox row: done, retry (after `retry_in`), incident or skipped."""

    status: str
    retry_in: timedelta | None = None
    error: str | None = None


def enlisted_outbox(session: Session) -> list[int]:
    """Take the ids of the outbox rows written in this session's transaction (to dispatch after commit)."""
    return session.info.pop(OUTBOX_SESSION_KEY, [])


@dataclass
class _Step:
    instance: ProcessInstanceModel
    workflow: BpmnWorkflow
    parsed: ParsedDefinition
    states_before: dict[UUID, int] = field(default_factory=dict)


class Runtime:
    """The engine's one entry point for the application (definitions, instances, tasks, outbox, timers)."""

    def __init__(
        self, vocabulary: Vocabulary, operators: Mapping[str, Operator], hooks: Hooks,
        helpers: Mapping[str, Callable[..., Any]] | None = None,
        retry_policy: RetryPolicy | Callable[[], RetryPolicy] | None = None,
        assignments: Callable[[Session], Mapping[str, Assignment]] | None = None,
        budget: Budget | Callable[[], Budget] = DEFAULT_BUDGET,
    ):
        """Build the engine; `budget` (or a function returning the configured one) bounds diagram code, and
        `retry_policy` (or such a function) paces service-task attempts."""
        self.budget = budget
        self.vocabulary = vocabulary
        self.definitions = DefinitionStore(vocabulary, assignments)
        self.operators = operators
        self.hooks = hooks
        self.helpers = dict(helpers or {})
        self._retry_policy = retry_policy or RetryPolicy()
        self.serializer = StateSerializer()
        self._calendar_cache: tuple[float, WorkCalendar | None] = (0.0, None)

    # -- instances ---------------------------------------------------------------------------------------------

    def start(self, session: Session, key: str, data: Mapping[str, Any], business_key: str | None,
              actor: str) -> ProcessInstanceModel:
        """Start a case on the newest active version of process `key` and run it to its first wait."""
        definition = self.definitions.latest_active(session, key)
        parsed = self.definitions.parsed(session, definition.id, definition.sha256)
        workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=self.script_engine(session))
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        instance = ProcessInstanceModel(
            definition=definition, process_key=key, business_key=business_key, state="", status="running",
            incident=False, serializer_version=self.serializer.version, started_by=actor,
        )
        step = _Step(instance, workflow, parsed)
        # The instance row is inserted once, carrying its first state, when _advance adds it.
        self._advance(session, step, actor, self._engine_steps,
                      opening=("started", {"version": definition.version}))
        return instance

    def complete_task(self, session: Session, task_id: int, result: Mapping[str, Any], actor: str,
                      data: Mapping[str, Any] | None = None) -> ProcessInstanceModel:
        """Complete the READY user task of human-task row `task_id` with its form result and advance.

        The result is stored as `results[<element id>]`: a nested dict, so parallel branches never overwrite each
        other's results at a join.
        """
        row = session.get(HumanTaskModel, task_id)
        if row is None:
            raise NotFound("任务不存在")
        step = self._load(session, row.instance_id)
        session.refresh(row)
        if row.status == "completed":
            raise TaskConflict("该任务已经办理完毕，无需重复提交")
        if step.instance.status != "running":
            raise TaskConflict(INACTIVE_MESSAGES.get(step.instance.status, "该案件当前不可办理"))
        if row.status != "open":
            raise TaskConflict("该任务已取消，无法办理")
        if row.claimed_by and row.claimed_by != actor:
            raise TaskConflict("该任务已由其他工作人员认领")
        task = step.workflow.get_task_from_id(UUID(row.task_guid))
        if task.state != TaskState.READY:
            raise TaskConflict("该任务当前不可办理")
        task.data["results"] = {**task.data.get("results", {}), row.bpmn_id: dict(result)}
        task.data.update(data or {})
        with session.no_autoflush:  # written with the step's one flush
            row.status, row.completed_by, row.completed_at = "completed", actor, utcnow()
            self.hooks.task_completed(session, step.instance, row, result, actor)
            self._audit(session, step.instance, actor, "task_completed", row.bpmn_id, {"name": row.name, **result})

        def run(wf: BpmnWorkflow) -> None:
            task.run()
            self._engine_steps(wf)

        self._advance(session, step, actor, run)
        return step.instance

    # -- messages ----------------------------------------------------------------------------------------------

    def waiting_messages(self, session: Session, instance_id: int) -> set[str]:
        """Return the names of the messages a running case could catch now (a read without a lock)."""
        instance = session.get(ProcessInstanceModel, instance_id)
        if instance is None or instance.status != "running":
            return set()
        workflow, _parsed = self._read(session, instance_id)
        return {task.task_spec.event_definition.name for task in _message_catchers(workflow)}

    def send_message(self, session: Session, instance_id: int, name: str, payload: Mapping[str, Any],
                     actor: str) -> ProcessInstanceModel:
        """Deliver message `name` to one running case, under its row lock, and advance it.

        The first event waiting for it catches it, with `payload` as its data; a case not waiting for it (any more:
        a second click finds the first one's result) is a TaskConflict, and nothing changes.
        """
        step = self._load(session, instance_id)
        if step.instance.status != "running":
            raise TaskConflict(INACTIVE_MESSAGES.get(step.instance.status, "该案件当前不可办理"))
        catcher = next((t for t in _message_catchers(step.workflow) if t.task_spec.event_definition.name == name),
                       None)
        if catcher is None:
            raise TaskConflict(f"该案件当前不能接收「{name}」")
        self._audit(session, step.instance, actor, "message", catcher.task_spec.bpmn_id, {"name": name, **payload})

        def run(wf: BpmnWorkflow) -> None:
            wf.send_event(BpmnEvent(catcher.task_spec.event_definition, payload=dict(payload)))
            self._engine_steps(wf)

        self._advance(session, step, actor, run)
        return step.instance

    # -- service tasks -----------------------------------------------------------------------------------------

    def perform(self, session: Session, outbox_id: int) -> Outcome:
        """Perform one pending service task, if due and held by no other performer, and advance its case.

        Unlike the other entry points this one commits, and at up to three points: its claim (the attempt is counted
        before the operator runs, so an attempt whose performer dies is used up all the same), what the operator
        makes durable before it acts outside (`ServiceCall.checkpoint`), and the outcome with the case's step.
        """
        claimed = self._claim(session, outbox_id)
        session.commit()
        if isinstance(claimed, Outcome):
            return claimed
        try:
            return self._perform_claimed(session, outbox_id, claimed)
        except BaseException:
            session.rollback()
            raise

    def _claim(self, session: Session, outbox_id: int) -> int | Outcome:
        """Count an attempt and lease the row to this performer; return the attempt number, or what happened instead.

        One conditional UPDATE: of two performers handed the same row, only one matches it (PostgreSQL re-checks
        the condition after the other's commit; SQLite lets one writer in at a time).
        """
        row = session.get(OutboxModel, outbox_id)
        if row is None:
            raise NotFound(f"服务任务 {outbox_id} 不存在")
        died = row.leased_until is not None  # a claim never released: its performer ended before it reported
        now = utcnow()
        free = or_(OutboxModel.leased_until.is_(None), OutboxModel.leased_until <= now)
        running = select(ProcessInstanceModel.id).where(ProcessInstanceModel.status == "running")
        attempt = session.scalar(
            update(OutboxModel)
            .where(OutboxModel.id == outbox_id, OutboxModel.status == "pending", OutboxModel.next_attempt_at <= now,
                   free, OutboxModel.instance_id.in_(running))
            .values(attempts=OutboxModel.attempts + 1, leased_until=now + self.retry_policy.lease, queued_at=None)
            .returning(OutboxModel.attempts).execution_options(synchronize_session=False))
        if attempt is None:
            # This was the queued copy (of a suspended case's row, say) and nobody holds the row: no copy is awaited
            # any more, so resuming the case, or the tick, hands it over again at once.
            session.execute(update(OutboxModel).where(OutboxModel.id == outbox_id, OutboxModel.status == "pending",
                                                      free).values(queued_at=None)
                            .execution_options(synchronize_session=False))
            return Outcome("skipped")
        if not died:
            return attempt
        instance, _ = self._lock(session, row.instance_id)
        session.refresh(row)
        error = f"第 {attempt - 1} 次执行未完成：执行进程在报告结果前终止"
        if attempt > self.retry_policy.max_attempts:  # every attempt was used up by performers that died
            row.attempts, row.leased_until = attempt - 1, None
            return self._give_up(session, instance, row, error)
        row.last_error = error
        self._audit(session, instance, "system", "service_failed", row.bpmn_id,
                    {"operator": row.operator, "attempt": attempt - 1, "error": error})
        return attempt

    def _claimed_step(self, session: Session, outbox_id: int, attempt: int) -> tuple[_Step, OutboxModel] | None:
        """Lock the row's case and return it with the row, unless the row is no longer this attempt's."""
        row = session.get(OutboxModel, outbox_id)
        step = self._load(session, row.instance_id)
        session.refresh(row)
        if row.status != "pending" or row.attempts != attempt:
            return None
        return step, row

    def _live_task(self, session: Session, outbox_id: int, attempt: int,
                   started: bool) -> tuple[_Step, OutboxModel, Any] | None:
        """Return the step, row and task of a claim still to be carried out; otherwise commit why not, and None."""
        claimed = self._claimed_step(session, outbox_id, attempt)
        if claimed is not None:
            step, row = claimed
            task = step.workflow.get_task_from_id(UUID(row.task_guid))
            if step.instance.status == "running" and task.state == TaskState.STARTED:
                return step, row, task
            if task.state != TaskState.STARTED:
                row.status = "cancelled"
            if not started:
                row.attempts = attempt - 1  # the operator never ran: nothing was attempted
            row.leased_until = None
        session.commit()
        return None

    def _perform_claimed(self, session: Session, outbox_id: int, attempt: int) -> Outcome:
        live = self._live_task(session, outbox_id, attempt, started=False)
        if live is None:
            return Outcome("skipped")
        step, row, task = live
        element = step.parsed.diagram.elements[row.bpmn_id]
        checkpoints: list[bool] = []

        def checkpoint() -> None:
            session.commit()
            checkpoints.append(True)

        call = ServiceCall(session, step.instance.id, step.instance.process_key, step.instance.business_key,
                           element.id, element.name, dict(row.params), dict(task.data),
                           idempotency_key=f"outbox-{row.id}-{row.task_guid}", checkpoint=checkpoint)
        try:
            result = self.operators[row.operator](call)
        except Exception as exc:  # noqa: BLE001 - any operator failure is recorded, retried and surfaced
            session.rollback()  # what the operator wrote since its last checkpoint
            return self._report_failure(session, outbox_id, attempt, exc)
        if checkpoints:  # the case's lock was let go: take it again and make sure the row is still ours
            live = self._live_task(session, outbox_id, attempt, started=True)
            if live is None:
                return Outcome("skipped")
            step, row, task = live
        if result is not None:
            task.data["results"] = {**task.data.get("results", {}), row.bpmn_id: dict(result)}
        row.status, row.done_at, row.last_error, row.leased_until = "done", utcnow(), None, None
        self._audit(session, step.instance, "system", "service_done", row.bpmn_id,
                    {"operator": row.operator, "attempt": row.attempts})

        def run(wf: BpmnWorkflow) -> None:
            task.complete()
            self._engine_steps(wf)

        self._advance(session, step, "system", run)
        session.commit()
        return Outcome("done")

    def _report_failure(self, session: Session, outbox_id: int, attempt: int, exc: Exception) -> Outcome:
        claimed = self._claimed_step(session, outbox_id, attempt)
        outcome = Outcome("skipped") if claimed is None else self._service_failed(session, claimed[0].instance,
                                                                                   claimed[1], exc)
        session.commit()
        return outcome

    def _service_failed(self, session: Session, instance: ProcessInstanceModel, row: OutboxModel,
                        exc: Exception) -> Outcome:
        error = f"{type(exc).__name__}: {exc}"
        row.last_error, row.leased_until = error, None
        if row.attempts >= self.retry_policy.max_attempts or isinstance(exc, ServiceTaskRefused):
            return self._give_up(session, instance, row, error)
        delay = self.retry_policy.delay(row.attempts)
        row.next_attempt_at = utcnow() + delay
        self._audit(session, instance, "system", "service_failed", row.bpmn_id,
                    {"operator": row.operator, "attempt": row.attempts, "error": error})
        return Outcome("retry", retry_in=delay, error=error)

    def _give_up(self, session: Session, instance: ProcessInstanceModel, row: OutboxModel, error: str) -> Outcome:
        """Make the row an incident on its case, after its last attempt."""
        row.status, row.last_error = "incident", error
        instance.incident = True
        self._audit(session, instance, "system", "incident", row.bpmn_id,
                    {"operator": row.operator, "attempts": row.attempts, "error": error})
        return Outcome("incident", error=error)

    def retry_incident(self, session: Session, outbox_id: int, actor: str) -> None:
        """Send a service task that became an incident back to the outbox, by hand."""
        row = session.get(OutboxModel, outbox_id)
        if row is None or row.status != "incident":
            raise TaskConflict("该服务任务不处于故障状态，无需重试")
        instance, _ = self._lock(session, row.instance_id)
        row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
        row.queued_at = row.leased_until = None
        session.flush()
        instance.incident = session.scalar(
            select(OutboxModel.id).where(OutboxModel.instance_id == instance.id, OutboxModel.status == "incident")
        ) is not None
        self._audit(session, instance, actor, "incident_retried", row.bpmn_id, {"operator": row.operator})
        session.info.setdefault(OUTBOX_SESSION_KEY, []).append(row.id)

    def due_outbox(self, session: Session) -> list[int]:
        """Return the pending service tasks whose next attempt is due, held by no performer and in no queue."""
        now = utcnow()
        return list(session.scalars(
            select(OutboxModel.id)
            .join(ProcessInstanceModel, ProcessInstanceModel.id == OutboxModel.instance_id)
            .where(OutboxModel.status == "pending", OutboxModel.next_attempt_at <= now, *self._handed_over(now),
                   ProcessInstanceModel.status == "running")  # a suspended case's calls wait for its resumption
            .order_by(OutboxModel.id)
        ))

    def mark_queued(self, session: Session, ids: Iterable[int]) -> list[int]:
        """Note that rows are being handed to a queue; return those that may be: pending, in no queue, held by none.

        A row already queued is left out, so repeated dispatch (a tick during an outage) makes one copy, not many.
        """
        ids = list(ids)
        if not ids:
            return []
        now = utcnow()
        return list(session.scalars(
            update(OutboxModel)
            .where(OutboxModel.id.in_(ids), OutboxModel.status == "pending", *self._handed_over(now))
            .values(queued_at=now).returning(OutboxModel.id).execution_options(synchronize_session=False)))

    def unmark_queued(self, session: Session, ids: Iterable[int]) -> None:
        """Note that rows marked queued never reached the queue, so the sweeper hands them over again."""
        ids = list(ids)
        if ids:
            session.execute(update(OutboxModel).where(OutboxModel.id.in_(ids), OutboxModel.status == "pending")
                            .values(queued_at=None).execution_options(synchronize_session=False))

    def _handed_over(self, now: datetime) -> tuple:
        """Conditions of a row that no performer holds and no queued copy is still awaited for."""
        return (or_(OutboxModel.leased_until.is_(None), OutboxModel.leased_until <= now),
                or_(OutboxModel.queued_at.is_(None), OutboxModel.queued_at <= now - self.retry_policy.requeue_after))

    # -- timers ------------------------------------------------------------------------------------------------

    def due_timers(self, session: Session) -> list[int]:
        """Return the running instances with a timer due now."""
        return list(session.scalars(
            select(ProcessInstanceModel.id).where(
                ProcessInstanceModel.status == "running", ProcessInstanceModel.next_timer_at <= utcnow()
            ).order_by(ProcessInstanceModel.next_timer_at)
        ))

    def fire_timers(self, session: Session, instance_id: int) -> bool:
        """Fire the due timers of one instance and advance it; False when nothing was due any more."""
        step = self._load(session, instance_id)
        due = step.instance.next_timer_at
        if step.instance.status != "running" or due is None or due > utcnow():
            return False

        def run(wf: BpmnWorkflow) -> None:
            wf.refresh_timers()
            self._engine_steps(wf)

        self._advance(session, step, "timer", run)
        return True

    # -- administration ----------------------------------------------------------------------------------------

    def suspend(self, session: Session, instance_id: int, actor: str, reason: str) -> ProcessInstanceModel:
        """Stop a running case from advancing: its tasks cannot be completed, its timers and service calls wait."""
        instance, _ = self._lock(session, instance_id)
        if instance.status != "running":
            raise TaskConflict("只有运行中的案件可以暂停")
        instance.status = "suspended"
        self._audit(session, instance, actor, "suspended", None, {"reason": reason})
        return instance

    def resume(self, session: Session, instance_id: int, actor: str) -> ProcessInstanceModel:
        """Let a suspended case advance again; the service calls it held back are dispatched after commit."""
        instance, _ = self._lock(session, instance_id)
        if instance.status != "suspended":
            raise TaskConflict("该案件未处于暂停状态")
        instance.status = "running"
        self._audit(session, instance, actor, "resumed", None, {})
        pending = session.scalars(select(OutboxModel.id).where(
            OutboxModel.instance_id == instance.id, OutboxModel.status == "pending"))
        session.info.setdefault(OUTBOX_SESSION_KEY, []).extend(pending)
        return instance

    def cancel(self, session: Session, instance_id: int, actor: str, reason: str) -> ProcessInstanceModel:
        """End a case for good: its open tasks and pending service calls are cancelled; the reason is audited."""
        instance, _ = self._lock(session, instance_id)
        if instance.status in {"completed", "cancelled"}:
            raise TaskConflict("该案件已经结束，无法撤销")
        instance.status, instance.ended_at, instance.next_timer_at = "cancelled", utcnow(), None
        for model, live in ((HumanTaskModel, "open"), (OutboxModel, "pending")):
            session.execute(update(model).where(model.instance_id == instance.id, model.status == live)
                            .values(status="cancelled"))
        self._audit(session, instance, actor, "cancelled", None, {"reason": reason})
        return instance

    def reached_steps(self, session: Session, instance_id: int) -> list[str]:
        """Return the element ids a stuck token may be moved back to: the user and service tasks already done."""
        instance, sha256 = self._lock(session, instance_id)
        parsed = self.definitions.parsed(session, instance.definition_id, sha256)
        workflow = self.serializer.loads(instance.state, parsed.spec, parsed.subprocess_specs)
        return sorted({t.task_spec.bpmn_id for t in _tasks(workflow, TaskState.COMPLETED)
                       if (el := parsed.diagram.elements.get(t.task_spec.bpmn_id or "")) is not None
                       and el.tag in MOVABLE_TAGS})

    def move_token(self, session: Session, instance_id: int, element_id: str, actor: str,
                   reason: str) -> ProcessInstanceModel:
        """Move a stuck case back to a step it has done (its later steps are undone), and advance from there."""
        step = self._load(session, instance_id)
        if step.instance.status not in {"running", "error"}:
            raise TaskConflict("只有运行中或出错的案件可以移动流程位置")
        element = step.parsed.diagram.elements.get(element_id)
        done = [t for t in _tasks(step.workflow, TaskState.COMPLETED) if t.task_spec.bpmn_id == element_id]
        if element is None or element.tag not in MOVABLE_TAGS or not done:
            raise TaskConflict("只能移回该案件已经办理过的任务")
        target = max(done, key=lambda t: t.last_state_change)
        # The step keeps its task id when reset: its finished rows stay as history under a fresh id.
        for model in (HumanTaskModel, OutboxModel):
            for row in session.scalars(select(model).where(model.task_guid == str(target.id))):
                row.task_guid = str(uuid4())
        step.instance.status, step.instance.incident = "running", False
        self._audit(session, step.instance, actor, "token_moved", element_id,
                    {"name": element.name, "reason": reason})

        def run(wf: BpmnWorkflow) -> None:
            wf.reset_from_task_id(target.id)
            self._engine_steps(wf)

        self._advance(session, step, actor, run)
        return step.instance

    def migration_blockers(self, session: Session, instance_id: int, target: ProcessDefinitionModel) -> list[str]:
        """Say why a case cannot move to `target` (empty when it can): each waiting step must exist there alike."""
        instance = session.get(ProcessInstanceModel, instance_id)
        if instance is None:
            raise NotFound(f"流程实例 {instance_id} 不存在")
        return self._blockers(session, instance, target)

    def _blockers(self, session: Session, instance: ProcessInstanceModel, target: ProcessDefinitionModel,
                  workflow: BpmnWorkflow | None = None) -> list[str]:
        if target.key != instance.process_key or target.kind != "bpmn":
            return [f"目标版本属于另一流程 {target.key}"]
        if target.id == instance.definition_id:
            return ["已在目标版本上"]
        if instance.status not in {"running", "suspended"}:
            return [f"案件状态为 {instance.status}，只迁移运行中或暂停的案件"]
        source = self.definitions.parsed(session, instance.definition_id, instance.definition.sha256)
        goal = self.definitions.parsed(session, target.id, target.sha256)
        if workflow is None:
            workflow = self.serializer.loads(instance.state, source.spec, source.subprocess_specs)
        dropped = {event.id for event in _dropped_events(workflow, goal.spec.task_specs)}
        problems = [f"已办理的步骤 {el.label} 在 v{target.version} 中已删除" for task in _tasks(workflow, REACHED)
                    if task.task_spec.name not in goal.spec.task_specs and task.id not in dropped
                    and (el := source.diagram.elements.get(task.task_spec.bpmn_id or "")) is not None]
        for task in _tasks(workflow, TaskState.READY | TaskState.STARTED | TaskState.WAITING):
            old = source.diagram.elements.get(task.task_spec.bpmn_id or "")
            if old is None or task.id in dropped:
                continue
            new = goal.diagram.elements.get(old.id)
            if new is None:
                problems.append(f"当前步骤 {old.label} 在 v{target.version} 中不存在")
            elif new.tag != old.tag:
                problems.append(f"当前步骤 {old.label} 在 v{target.version} 中类型不同（{old.tag} → {new.tag}）")
        return sorted(set(problems))

    def migrate(self, session: Session, instance_id: int, target: ProcessDefinitionModel,
                actor: str) -> AuditEventModel:
        """Move a case onto another version of its process; the audit line keeps what is needed to revert it."""
        step = self._load(session, instance_id)
        instance = step.instance
        problems = self._blockers(session, instance, target, step.workflow)
        if problems:
            raise MigrationBlocked(problems)
        source = session.get(ProcessDefinitionModel, instance.definition_id)
        before = instance.state
        goal = self.definitions.parsed(session, target.id, target.sha256)
        _forget_missing(step.workflow, goal.spec.task_specs)
        # Steps correspond by element id (Spiff's own spec diff cannot convert this engine's task specs).
        alignment = {task: goal.spec.task_specs.get(task.task_spec.name) for task in step.workflow.tasks.values()}
        migrate_workflow(SimpleNamespace(alignment=alignment), step.workflow, goal.spec)
        _attach_added_boundary_events(step.workflow)
        step.workflow.subprocess_specs = goal.subprocess_specs
        instance.definition_id, instance.definition = target.id, target
        step.parsed = goal
        status = instance.status
        instance.status = "running"  # run the migrated tree to its next wait even when suspended, then restore

        def run(wf: BpmnWorkflow) -> None:
            self._engine_steps(wf)

        self._advance(session, step, actor, run)
        if instance.status == "running":
            instance.status = status
        self._refresh_open_tasks(session, instance, goal.diagram)
        event = audit.write(session, actor, "migrated", instance=instance, detail={
            "from_definition": source.id, "from_version": source.version, "to_definition": target.id,
            "to_version": target.version, "state_before": before})
        session.flush()
        return event

    def revert_migration(self, session: Session, event_id: int, actor: str) -> ProcessInstanceModel:
        """Put a migrated case back on its earlier version, while nothing has happened to it since."""
        event = session.get(AuditEventModel, event_id)
        if event is None or event.kind != "migrated" or event.instance_id is None:
            raise NotFound("迁移记录不存在")
        step = self._load(session, event.instance_id)
        instance = step.instance
        later = session.scalar(select(AuditEventModel.id).where(
            AuditEventModel.instance_id == instance.id, AuditEventModel.id > event.id).limit(1))
        if later is not None or instance.definition_id != event.detail["to_definition"]:
            raise TaskConflict("迁移之后案件已有新的办理记录，不能撤回迁移")
        source = session.get(ProcessDefinitionModel, event.detail["from_definition"])
        step.parsed = self.definitions.parsed(session, source.id, source.sha256)
        step.workflow = self.serializer.loads(event.detail["state_before"], step.parsed.spec,
                                              step.parsed.subprocess_specs)
        instance.definition_id, instance.definition = source.id, source
        self._advance(session, step, actor, lambda wf: None)
        self._refresh_open_tasks(session, instance, step.parsed.diagram)
        self._audit(session, instance, actor, "migration_reverted", None,
                    {"event": event.id, "from_version": event.detail["to_version"],
                     "to_version": event.detail["from_version"]})
        return instance

    def _refresh_open_tasks(self, session: Session, instance: ProcessInstanceModel, diagram: Diagram) -> None:
        """Give a migrated case's open task rows the names, forms and roles of the version it is on now."""
        vocabulary = self.definitions.vocabulary_for(session)
        for row in session.scalars(select(HumanTaskModel).where(
                HumanTaskModel.instance_id == instance.id, HumanTaskModel.status == "open")):
            element = diagram.elements.get(row.bpmn_id)
            if element is not None:
                row.name, row.form_key = element.name or element.id, element.form_key
                row.role = vocabulary.role_of(element) or row.role

    # -- reading -----------------------------------------------------------------------------------------------

    def element_states(self, session: Session, instance_id: int) -> dict[str, str]:
        """Return the state to show for each element reached: completed, active (waiting) or failed.

        A read without a lock, for the case page's diagram; inboxes never need it.
        """
        workflow, parsed = self._read(session, instance_id)
        states: dict[str, str] = {}
        shown = {TaskState.COMPLETED: "completed", TaskState.READY: "active", TaskState.STARTED: "active",
                 TaskState.ERROR: "failed"}
        for task in sorted(workflow.tasks.values(), key=lambda t: t.last_state_change):
            bpmn_id = task.task_spec.bpmn_id
            if bpmn_id in parsed.diagram.elements and task.state in shown:
                states[bpmn_id] = shown[task.state]
        failed = session.scalars(select(OutboxModel.bpmn_id).where(
            OutboxModel.instance_id == instance_id, OutboxModel.status == "incident"))
        states.update(dict.fromkeys(failed, "failed"))
        return states

    def data(self, session: Session, instance_id: int) -> dict:
        """Return the workflow data as the newest completed step left it (a read without a lock, for admins)."""
        workflow, _parsed = self._read(session, instance_id)
        done = [t for t in workflow.tasks.values() if t.state == TaskState.COMPLETED]
        latest = max(done, key=lambda t: t.last_state_change, default=None)
        return dict(latest.data) if latest is not None else dict(workflow.data)

    # -- internals ---------------------------------------------------------------------------------------------

    def _read(self, session: Session, instance_id: int) -> tuple[BpmnWorkflow, ParsedDefinition]:
        """Load an instance's workflow without locking its row."""
        row = session.execute(
            select(ProcessInstanceModel, ProcessDefinitionModel.sha256)
            .join(ProcessDefinitionModel, ProcessDefinitionModel.id == ProcessInstanceModel.definition_id)
            .where(ProcessInstanceModel.id == instance_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"流程实例 {instance_id} 不存在")
        instance, sha256 = row
        parsed = self.definitions.parsed(session, instance.definition_id, sha256)
        return self.serializer.loads(instance.state, parsed.spec, parsed.subprocess_specs), parsed

    def _calendar(self, session: Session) -> WorkCalendar:
        """Return the work calendar, re-read from the holiday table at most once a minute."""
        loaded_at, calendar = self._calendar_cache
        if calendar is None or time.monotonic() - loaded_at > CALENDAR_TTL_SECONDS:
            calendar = load_calendar(session)
            self._calendar_cache = (time.monotonic(), calendar)
        return calendar

    @property
    def retry_policy(self) -> RetryPolicy:
        """Return the retry policy in force now (the configured one, when configuration is a function)."""
        return self._retry_policy() if callable(self._retry_policy) else self._retry_policy

    def current_budget(self) -> Budget:
        """Return the budget diagram code runs within now (the configured one, when configuration is a function)."""
        return self.budget() if callable(self.budget) else self.budget

    def script_engine(self, session: Session) -> SandboxScriptEngine:
        """Return the sandboxed script engine with the product's helpers and the working-day timer helper."""
        def workday_deadline(days: int) -> str:
            # The exact end of the Nth working day: every case started that day shares it to the microsecond.
            return self._calendar(session).deadline(utcnow(), days).isoformat()

        return SandboxScriptEngine({**self.helpers, WORKDAYS_HELPER: workday_deadline}, self.current_budget())

    def _engine_steps(self, workflow: BpmnWorkflow) -> None:
        """Run the engine's own steps (gateways, scripts, events) until people or timers must act, within budget."""
        run_engine_steps(workflow, self.current_budget())

    def _lock(self, session: Session, instance_id: int) -> tuple[ProcessInstanceModel, str]:
        """Lock the instance row (SELECT … FOR UPDATE) and return it with its definition's content hash.

        The definition row comes in the same statement and stays attached to the instance: the hooks and forms that
        run during the step read `instance.definition` without another round trip.
        """
        instance = session.scalars(
            select(ProcessInstanceModel)
            .join(ProcessInstanceModel.definition).options(contains_eager(ProcessInstanceModel.definition))
            .where(ProcessInstanceModel.id == instance_id)
            .with_for_update(of=ProcessInstanceModel).execution_options(populate_existing=True)
        ).one_or_none()
        if instance is None:
            raise NotFound(f"流程实例 {instance_id} 不存在")
        return instance, instance.definition.sha256

    def _load(self, session: Session, instance_id: int) -> _Step:
        instance, sha256 = self._lock(session, instance_id)
        parsed = self.definitions.parsed(session, instance.definition_id, sha256)
        workflow = self.serializer.loads(instance.state, parsed.spec, parsed.subprocess_specs)
        workflow.script_engine = self.script_engine(session)
        return _Step(instance, workflow, parsed, {t.id: t.state for t in _tasks(workflow, REACHED)})

    def _advance(self, session: Session, step: _Step, actor: str, run: Callable[[BpmnWorkflow], None],
                 opening: tuple[str, dict] | None = None) -> None:
        instance, workflow, diagram = step.instance, step.workflow, step.parsed.diagram
        error = None
        try:
            run(workflow)
        except SQLAlchemyError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the diagram's own logic fails the instance visibly
            error = exc
        # No autoflush: the hooks' lookups below must not write half-done rows; the caller's commit writes the step.
        with session.no_autoflush:
            instance.state = self.serializer.dumps(workflow)
            instance.serializer_version = self.serializer.version
            instance.next_timer_at = _next_timer(workflow)
            session.add(instance)
            if opening is not None:
                self._audit(session, instance, actor, opening[0], None, opening[1])
            if error is not None:
                self._fail(session, instance, diagram, error)
            elif workflow.is_completed() and instance.status == "running":
                instance.status, instance.ended_at, instance.next_timer_at = "completed", utcnow(), None
                self._audit(session, instance, actor, "completed", None, {})
            changed = [t for t in _tasks(workflow, REACHED) if step.states_before.get(t.id) != t.state]
            self._note_milestones_and_timers(session, instance, diagram, changed, step.states_before)
            self._sync_human_tasks(session, instance, workflow, diagram, step.states_before)
            self._queue_service_tasks(session, instance, workflow, diagram, step.states_before)

    def _fail(self, session: Session, instance: ProcessInstanceModel, diagram: Diagram, exc: Exception) -> None:
        budget = find_budget_error(exc)
        task_spec = getattr(exc, "task_spec", None) or getattr(budget, "task_spec", None)
        element = diagram.elements.get(getattr(task_spec, "bpmn_id", None) or "")
        cause = getattr(exc, "__context__", None) or getattr(exc, "__cause__", None)
        detail = f"（{type(cause).__name__}: {cause}）" if cause else ""
        message = f"{element.label if element else '流程'} 执行出错：{exc}{detail}"
        if budget is not None:  # its own Chinese text names the element; Spiff's English wrapper would bury it
            message = str(named(budget, task_spec)) if task_spec is not None else f"流程{budget}"
        instance.status, instance.incident = "error", True
        self._audit(session, instance, "system", "error", element.id if element else None, {"error": message})

    def _note_milestones_and_timers(self, session: Session, instance: ProcessInstanceModel, diagram: Diagram,
                                    changed: list, states_before: dict[UUID, int]) -> None:
        milestone = None
        for task in sorted(changed, key=lambda t: t.last_state_change):
            element = diagram.elements.get(task.task_spec.bpmn_id or "")
            if element is None:
                continue
            if element.timer is not None and task.state == TaskState.COMPLETED:
                self._audit(session, instance, "timer", "timer_fired", element.id, {"name": element.name})
            if "status" in element.properties and task.id not in states_before:
                milestone = element.properties["status"]
        if milestone and milestone != instance.milestone:
            instance.milestone = milestone
            self.hooks.status_changed(session, instance, milestone)

    def _sync_human_tasks(self, session: Session, instance: ProcessInstanceModel, workflow: BpmnWorkflow,
                          diagram: Diagram, states_before: dict[UUID, int]) -> None:
        """Insert rows for user tasks that became READY; cancel rows of tasks that left READY without completing."""
        _cancel_rows(session, HumanTaskModel, "open", _cancelled_since(workflow, states_before, TaskState.READY))
        for task in _tasks(workflow, TaskState.READY):
            if not task.task_spec.manual:
                continue
            if states_before.get(task.id) == TaskState.READY:
                continue
            element = diagram.elements[task.task_spec.bpmn_id]
            vocabulary = self.definitions.vocabulary_for(session)
            field_name = vocabulary.jurisdiction_of(element)
            session.add(HumanTaskModel(
                instance=instance, process_key=instance.process_key, business_key=instance.business_key,
                task_guid=str(task.id), bpmn_id=element.id, name=element.name or element.id,
                form_key=element.form_key, role=vocabulary.role_of(element) or "", due_at=_due(task),
                division_code=self.hooks.jurisdiction(session, instance, field_name) if field_name else None,
            ))

    def _queue_service_tasks(self, session: Session, instance: ProcessInstanceModel, workflow: BpmnWorkflow,
                             diagram: Diagram, states_before: dict[UUID, int]) -> None:
        """Write an outbox row for each service task that started; cancel those whose task was cancelled."""
        _cancel_rows(session, OutboxModel, "pending", _cancelled_since(workflow, states_before, TaskState.STARTED))
        rows = [
            OutboxModel(instance=instance, task_guid=str(task.id), bpmn_id=element.id,
                        operator=element.operator, params=dict(element.properties), next_attempt_at=utcnow())
            for task in _tasks(workflow, TaskState.STARTED)
            if states_before.get(task.id) != TaskState.STARTED
            and (element := diagram.elements.get(task.task_spec.bpmn_id or "")) is not None
            and element.tag == "serviceTask"
        ]
        session.add_all(rows)
        if rows:
            session.flush()
        session.info.setdefault(OUTBOX_SESSION_KEY, []).extend(row.id for row in rows)

    @staticmethod
    def _audit(session: Session, instance: ProcessInstanceModel, actor: str, kind: str, element: str | None,
               detail: Mapping[str, Any]) -> None:
        audit.write(session, actor, kind, instance=instance, element=element, detail=detail)


def _tasks(workflow: BpmnWorkflow, states: int) -> list:
    """Return the top-level tasks in any of `states` (a dict scan: Spiff's tree iterator costs far more)."""
    return [task for task in workflow.tasks.values() if task.state & states]


def _dropped_events(workflow: BpmnWorkflow, goal_specs: Mapping[str, Any]) -> list:
    """Return the boundary events a case waits for that a migration target no longer has, on steps it keeps.

    They do not block the migration: the step goes on, and the event (a reminder, a withdrawal) is no longer awaited.
    """
    return [task for task in _tasks(workflow, TaskState.WAITING)
            if task.task_spec.name not in goal_specs and task.parent is not None
            and isinstance(task.parent.task_spec, BoundaryEventSplit) and task.parent.task_spec.name in goal_specs]


def _forget_missing(workflow: BpmnWorkflow, goal_specs: Mapping[str, Any]) -> None:
    """Remove from a case about to migrate the tasks the target has no spec for and that hold nothing done.

    They are the waiting events the target dropped (see _dropped_events), and cancelled or predicted tasks (e.g. an
    event that was cancelled when its step completed); a tree holding a spec the target lacks could not be loaded.
    """
    doomed = [*_dropped_events(workflow, goal_specs),
              *(task for task in workflow.tasks.values()
                if task.task_spec.name not in goal_specs and not task.state & REACHED)]
    for task in doomed:
        if task.id in workflow.tasks:  # not gone already with an ancestor
            workflow._remove_task(task.id)  # noqa: SLF001 - Spiff has no public way to forget a task


def _attach_added_boundary_events(workflow: BpmnWorkflow) -> None:
    """Make a migrated case's waiting steps wait for the boundary events the new version added to them, too.

    Spiff's migration keeps a step's boundary split as it was reached, so an event added to the step (e.g. a
    message that may interrupt it) would only be attached the next time the step is reached.
    """
    for split in _tasks(workflow, TaskState.COMPLETED):
        if not isinstance(split.task_spec, BoundaryEventSplit):
            continue
        if not any(child.state & (TaskState.READY | TaskState.STARTED) for child in split.children):
            continue  # the step is no longer waiting
        present = {child.task_spec for child in split.children}
        for spec in split.task_spec.outputs:
            if spec not in present:
                # As when the step is reached: predicted with its path, then waiting (Spiff has no public way).
                event = split._add_child(spec, TaskState.MAYBE)  # noqa: SLF001
                spec._predict(event)  # noqa: SLF001
                spec._update(event)  # noqa: SLF001


def _message_catchers(workflow: BpmnWorkflow) -> list:
    """Return the waiting events that catch a message."""
    return [task for task in _tasks(workflow, TaskState.WAITING)
            if isinstance(getattr(task.task_spec, "event_definition", None), MessageEventDefinition)]


def _cancelled_since(workflow: BpmnWorkflow, states_before: dict[UUID, int], state: int) -> list[str]:
    """Return the ids of the tasks that were in `state` before the step and are cancelled (or gone) now."""
    return [str(task_id) for task_id, before in states_before.items()
            if before == state and getattr(workflow.tasks.get(task_id), "state", TaskState.CANCELLED)
            == TaskState.CANCELLED]


def _cancel_rows(session: Session, model: type[HumanTaskModel | OutboxModel], live_status: str,
                 guids: list[str]) -> None:
    if guids:
        session.execute(update(model).where(model.task_guid.in_(guids), model.status == live_status)
                        .values(status="cancelled"))


def _timer_value(task) -> datetime | None:
    value = task._get_internal_data("event_value")
    if isinstance(value, dict):  # cycle timers keep their next firing under "next"
        value = value.get("next")
    return TimerEventDefinition.get_datetime(value) if isinstance(value, str) else None


def _due(task) -> datetime | None:
    """Return the deadline of a user task: the earliest waiting timer attached to it."""
    parent = task.parent
    if parent is None or not isinstance(parent.task_spec, BoundaryEventSplit):
        return None
    deadlines = [
        value for sibling in parent.children
        if sibling.state == TaskState.WAITING
        and isinstance(getattr(sibling.task_spec, "event_definition", None), TimerEventDefinition)
        and (value := _timer_value(sibling)) is not None
    ]
    return min(deadlines, default=None)


def _next_timer(workflow: BpmnWorkflow) -> datetime | None:
    values = [
        value for task in _tasks(workflow, TaskState.WAITING)
        if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition)
        and (value := _timer_value(task)) is not None
    ]
    return min(values, default=None)
