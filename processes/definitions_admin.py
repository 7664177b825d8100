"""Process administration: review an uploaded diagram (report, diff, dry run), activate and retire versions.

An upload that passes every check is stored inactive, as a version to review; new cases start on the newest active
version of a process, so activating it is what puts it in service, and retiring the newer one goes back.
"""

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import dryrun_reports
from engine.budget import Budget
from engine.definitions import ParsedDefinition
from engine.diagram import Diagram, Element
from engine.dryrun import DEADLINE_SECONDS, DryRunReport, explore
from engine.errors import DiagramRejected, EngineError, NotFound
from engine.forms import FIELD_TYPES, sample_values
from engine.models import ProcessDefinitionModel
from engine.sandbox import SandboxScriptEngine
from processes.casework import offered_types
from processes.forms import decision_field, form_of, offered_decisions
from processes.roles import ROLES
from processes.runtime import RUNTIME
from services import audit, cases
from services.db import db

STEP_TAGS = frozenset({"userTask", "serviceTask", "scriptTask", "businessRuleTask", "manualTask", "task"})
# Start data of the sample cases: what a submission sets (see casework.submit).
DRY_RUN_STARTS = {"户籍地与现居住地为同一村（居）": {"same_village": True},
                  "户籍地与现居住地不在同一村（居）": {"same_village": False}}
# A running dry run older than its deadline plus this is taken for dead (see engine.dryrun_reports).
DRY_RUN_MARGIN = timedelta(seconds=15)

log = logging.getLogger(__name__)


class RetireRefused(EngineError):
    """Retiring this version would leave a case type without a process."""


@dataclass
class Validation:
    """The outcome of checking an upload: the parsed definition, or every problem found."""

    problems: list[str]
    parsed: ParsedDefinition | None = None


@dataclass
class DefinitionDiff:
    """What a version changes against the one new cases start on now (empty lists when nothing changed)."""

    against: ProcessDefinitionModel | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Return whether no step or setting differs."""
        return not (self.added or self.removed or self.renamed or self.changed)


def validate(session: Session, xml: bytes) -> Validation:
    """Check a BPMN upload as deploying it would (safe XML, lint, structure) and list every problem."""
    try:
        return Validation([], RUNTIME.definitions.check(session, xml))
    except DiagramRejected as exc:
        return Validation(exc.problems)


def upload(session: Session, xml: bytes, actor: str) -> tuple[ProcessDefinitionModel, bool]:
    """Store a checked diagram as an inactive version to review (identical content returns the stored version)."""
    return RUNTIME.definitions.deploy(session, xml, actor, active=False)


def get_definition(session: Session, definition_id: int) -> ProcessDefinitionModel:
    """Return a stored process version."""
    definition = session.get(ProcessDefinitionModel, definition_id)
    if definition is None or definition.kind != "bpmn":
        raise NotFound("流程版本不存在")
    return definition


def parsed_of(session: Session, definition: ProcessDefinitionModel) -> ParsedDefinition:
    """Return the parsed form of a stored version."""
    return RUNTIME.definitions.parsed(session, definition.id, definition.sha256)


def current(session: Session, key: str) -> ProcessDefinitionModel | None:
    """Return the version new cases of `key` start on, if any."""
    try:
        return RUNTIME.definitions.latest_active(session, key)
    except NotFound:
        return None


def _settings(element: Element) -> dict[str, str]:
    vocabulary = RUNTIME.definitions.vocabulary
    role = vocabulary.role_of(element) if element.tag == "userTask" else None
    return {"角色": ROLES.get(role, role or "") if role else "", "表单": _form_text(element),
            "操作": element.operator or "", "定时器": element.timer or "",
            "辖区": vocabulary.jurisdiction_of(element) or "" if element.tag == "userTask" else ""}


def _shown(element: Element) -> bool:
    return element.tag in STEP_TAGS or element.timer is not None


def diff(session: Session, new: Diagram, against: ProcessDefinitionModel | None) -> DefinitionDiff:
    """Compare a diagram's steps with those of `against`: added, removed, renamed; role, form, operator, timer."""
    result = DefinitionDiff(against)
    if against is None:
        result.added = [el.label for el in new.elements.values() if _shown(el)]
        return result
    old = parsed_of(session, against).diagram
    for el in new.elements.values():
        if _shown(el) and el.id not in old.elements:
            result.added.append(el.label)
    for el in old.elements.values():
        if not _shown(el):
            continue
        now = new.elements.get(el.id)
        if now is None:
            result.removed.append(el.label)
            continue
        if now.name != el.name:
            result.renamed.append(f"({el.id})：「{el.name}」→「{now.name}」")
        before, after = _settings(el), _settings(now)
        result.changed += [f"{now.label} {what}：{before[what] or '无'} → {after[what] or '无'}"
                           for what in before if before[what] != after[what]]
    for name in sorted(set(old.properties) | set(new.properties)):
        if old.properties.get(name) != new.properties.get(name):
            result.changed.append(f"流程属性 {name}：{old.properties.get(name) or '无'} → "
                                  f"{new.properties.get(name) or '无'}")
    return result


def _decisions(element: Element) -> list[tuple[str, str]]:
    form = form_of(element)
    if form is None:
        return []
    return offered_decisions(form) or [("", "提交")]  # a form without a decision is one path: it is just filled in


def _sample_result(element: Element, decision: str) -> dict[str, Any]:
    """Return what a dry run records for a task: its form filled with acceptable values and the decision taken."""
    form = form_of(element)
    found = decision_field(form)
    return sample_values(form, {found.id: decision} if found and decision else {}) if form else {}


def _form_text(element: Element) -> str:
    """Describe a task's form for the diff: its key, or its fields (label, id and type)."""
    if element.form is None:
        return element.form_key or ""
    return "、".join(f"{item.label}（{item.id}，{FIELD_TYPES.get(item.type, item.type)}）"
                    for item in element.form.fields)


@dataclass(frozen=True)
class PreparedDryRun:
    """Everything a dry run needs, read beforehand: running it touches no table, so no transaction is open."""

    parsed: ParsedDefinition
    script_engine: SandboxScriptEngine
    budget: Budget

    def run(self, seconds: float = DEADLINE_SECONDS) -> DryRunReport:
        """Drive the sample cases, within `seconds` of wall-clock time and the budgets cases have."""
        return explore(self.parsed, self.script_engine, _decisions, DRY_RUN_STARTS, seconds=seconds,
                       budget=self.budget, results=_sample_result)


def prepare_dry_run(session: Session, parsed: ParsedDefinition) -> PreparedDryRun:
    """Read what a dry run of `parsed` needs (the work calendar); end the transaction before running it."""
    # Timer and script helpers count working days from the holiday table: read it now, so that the run itself
    # never opens a transaction (the runtime keeps it for a minute, longer than a run lasts). The run's engine gets
    # an unbound session: should it ever want the table, it fails at once instead of taking a lock.
    RUNTIME._calendar(session)
    return PreparedDryRun(parsed, RUNTIME.script_engine(Session()), RUNTIME.current_budget())


def dry_run(session: Session, parsed: ParsedDefinition, seconds: float = DEADLINE_SECONDS) -> DryRunReport:
    """Drive sample cases through every path of a version, in memory (nothing stored, no SMS, no slips).

    The caller's transaction stays open while it runs: pages use the stored reports instead (dry_run_state).
    """
    return prepare_dry_run(session, parsed).run(seconds)


@dataclass
class DryRunState:
    """A version's dry run as the review page shows it: under way since `started_at`, done, or failed."""

    status: str
    report: DryRunReport | None = None
    problem: str = ""
    started_at: datetime | None = None


def stale_after(seconds: float) -> timedelta:
    """Return how long a run may stay `running` before it is taken for dead: its deadline plus a margin."""
    return timedelta(seconds=seconds) + DRY_RUN_MARGIN


def dry_run_state(session: Session, definition: ProcessDefinitionModel, seconds: float) -> DryRunState | None:
    """Return the stored dry run of a version, or None when there is none yet (start one: run_stored_dry_run)."""
    row = dryrun_reports.stored(session, definition.sha256, stale_after(seconds))
    if row is None:
        return None
    report = DryRunReport.from_json(row.report) if row.report is not None else None
    return DryRunState(row.status, report, row.problem, row.started_at)


def forget_dry_run(session: Session, definition: ProcessDefinitionModel, seconds: float) -> bool:
    """Drop a version's stored dry run so that the next look runs it again; False while one is under way."""
    dryrun_reports.stored(session, definition.sha256, stale_after(seconds))
    return dryrun_reports.forget(session, definition.sha256)


def run_stored_dry_run(definition_id: int, seconds: float) -> str:
    """Dry-run a stored version in the background and store the report; return the row's status ("" if skipped).

    Diagram code never runs inside a transaction: a short write claims the version's row, a short read takes the
    definition and the calendar, the run opens none (its session's transaction has ended), and a short write stores
    the report, or that the run failed. A version whose row exists already (another run has it, or it is done) is
    skipped.
    """
    with db.factory() as session:
        definition = session.get(ProcessDefinitionModel, definition_id)
        if definition is None or not dryrun_reports.claim(session, definition.sha256):
            session.rollback()
            return ""
        sha256 = definition.sha256
        session.commit()
        report, problem = None, "试运行本身出错，未能完成"
        try:
            prepared = prepare_dry_run(session, parsed_of(session, definition))
            session.commit()
            report, problem = prepared.run(seconds).to_json(), ""
        except Exception:  # noqa: BLE001 - the row must not stay running; the failure is logged
            session.rollback()
            log.exception("dry run of definition %s failed", definition_id)
    with db.factory() as session:
        dryrun_reports.finish(session, sha256, report, problem)
        session.commit()
    return dryrun_reports.DONE if report is not None else dryrun_reports.FAILED


class DryRunThreads:
    """The embedded default's way to run dry runs in the background: a daemon thread each, one per version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}

    def start(self, definition_id: int, seconds: float,
              context: Callable[[], AbstractContextManager] = nullcontext) -> None:
        """Start a dry run of a stored version, unless this process runs one of it already.

        `context` is entered around the run in its thread (the web app's application context, whose configuration
        sets the budgets of diagram code).
        """
        with self._lock:
            running = self._threads.get(definition_id)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(target=self._run, args=(definition_id, seconds, context),
                                      name=f"dry-run-{definition_id}", daemon=True)
            self._threads[definition_id] = thread
            thread.start()

    @staticmethod
    def _run(definition_id: int, seconds: float, context: Callable[[], AbstractContextManager]) -> None:
        try:
            with context():
                run_stored_dry_run(definition_id, seconds)
        except Exception:  # noqa: BLE001 - the database failed; the row, if claimed, is marked failed once stale
            log.exception("dry run of definition %s could not be stored", definition_id)

    def join(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the runs under way; return whether none is left."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout)
        return not any(t.is_alive() for t in threads)


DRY_RUN_THREADS = DryRunThreads()


def activate(session: Session, definition: ProcessDefinitionModel, actor: str = "cli") -> None:
    """Put a version in service: when it is the newest active one, new cases start on it (audited)."""
    definition.active = True
    session.flush()
    _audit_version(session, definition, actor, "version_activated")


def retire(session: Session, definition: ProcessDefinitionModel, actor: str = "cli") -> None:
    """Take a version out of service; cases running on it finish on it.

    Refused when a case type citizens can apply for now would no longer be offered: a type must first be taken
    over by another active process (or an older version of this one must stay active).
    """
    before = offered_types(session)
    definition.active = False
    session.flush()
    lost = sorted(set(before) - set(offered_types(session)))
    if lost:
        definition.active = True
        session.flush()
        names = "、".join(cases.CASE_TYPES[t] for t in lost)
        raise RetireRefused(f"停用后将无人受理：{names}。请先启用另一个声明这些类型（caseTypes）的流程版本")
    _audit_version(session, definition, actor, "version_retired")


def _audit_version(session: Session, definition: ProcessDefinitionModel, actor: str, kind: str) -> None:
    audit.record(session, actor, kind, definition=definition.id, key=definition.key, version=definition.version)


def versions(session: Session, key: str) -> list[ProcessDefinitionModel]:
    """Return the stored versions of a process, newest first."""
    return list(session.scalars(select(ProcessDefinitionModel).where(
        ProcessDefinitionModel.key == key, ProcessDefinitionModel.kind == "bpmn")
        .order_by(ProcessDefinitionModel.version.desc())))


def find_version(session: Session, key: str, version: int) -> ProcessDefinitionModel:
    """Return version `version` of process `key`."""
    found = session.scalar(select(ProcessDefinitionModel).where(
        ProcessDefinitionModel.key == key, ProcessDefinitionModel.version == version,
        ProcessDefinitionModel.kind == "bpmn"))
    if found is None:
        raise NotFound(f"流程 {key} 没有版本 v{version}")
    return found
