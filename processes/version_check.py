"""Check the stored process versions still in use against what the code names today.

A stored version loads as it was deployed, whatever the code has renamed since; but a task whose form key, role or
operator no longer exists cannot be done, shown or performed. After changing processes/ (forms, roles, operators,
SMS templates), `check_versions` lists, for every version in service or with cases still running on it, what it
names that no longer exists.
"""

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from engine.models import ProcessDefinitionModel, ProcessInstanceModel
from processes.runtime import RUNTIME

# Cases that will load their version again: running, or held by an administrator or an error until acted on.
LIVE_STATUSES = ("running", "suspended", "error")


@dataclass(frozen=True)
class VersionCheck:
    """One stored version in use: its cases still running, and what it names that the code no longer has."""

    definition: ProcessDefinitionModel
    running: int
    gaps: list[str]

    @property
    def blocking(self) -> bool:
        """Return whether running cases are affected (their tasks may be impossible to do)."""
        return bool(self.gaps) and self.running > 0


def check_versions(session: Session) -> list[VersionCheck]:
    """Re-check every process version that is active or has live cases against today's vocabulary."""
    live = (select(ProcessInstanceModel.definition_id, func.count().label("n"))
            .where(ProcessInstanceModel.status.in_(LIVE_STATUSES))
            .group_by(ProcessInstanceModel.definition_id).subquery())
    rows = session.execute(
        select(ProcessDefinitionModel, func.coalesce(live.c.n, 0))
        .outerjoin(live, live.c.definition_id == ProcessDefinitionModel.id)
        .where(ProcessDefinitionModel.kind == "bpmn",
               or_(ProcessDefinitionModel.active.is_(True), live.c.n > 0))
        .order_by(ProcessDefinitionModel.key, ProcessDefinitionModel.version)
    ).all()
    return [VersionCheck(definition, running, RUNTIME.definitions.gaps(session, definition))
            for definition, running in rows]
