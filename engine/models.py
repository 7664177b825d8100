"""The engine's tables: definitions, instances, human tasks, the service-task outbox and the audit trail."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base, UTCDateTime, utcnow


class ProcessDefinitionModel(Base):
    """One deployed version of one BPMN process (identical content is never stored twice)."""

    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("key", "version"), UniqueConstraint("key", "sha256"))

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), index=True)
    # bpmn: a process; dmn: a decision table that processes' business rule tasks name
    kind: Mapped[str] = mapped_column(String(10), default="bpmn")
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    xml: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # read only when a version is first parsed
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # For a process: the decision versions it was deployed with ({decision key: definition id}).
    decisions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    deployed_by: Mapped[str] = mapped_column(String(100))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProcessInstanceModel(Base):
    """A running or finished case lifecycle: the serialized SpiffWorkflow task tree in one row."""

    __tablename__ = "process_instance"

    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    process_key: Mapped[str] = mapped_column(String(100))
    business_key: Mapped[str | None] = mapped_column(String(100), index=True)
    # running | completed | error | cancelled
    status: Mapped[str] = mapped_column(String(20), default="running", index=True)
    milestone: Mapped[str | None] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(20))
    version_id: Mapped[int] = mapped_column(Integer, default=1)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    incident: Mapped[bool] = mapped_column(Boolean, default=False)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    definition: Mapped[ProcessDefinitionModel] = relationship()

    # Optimistic check on top of the row lock: a writer that lost the lock race can never overwrite.
    __mapper_args__ = {"version_id_col": version_id}


class HumanTaskModel(Base):
    """A READY user task, mirrored from the task tree so inboxes never read workflow state."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_inbox", "status", "role", "division_code", "due_at"),
        UniqueConstraint("task_guid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    instance: Mapped[ProcessInstanceModel] = relationship()
    process_key: Mapped[str] = mapped_column(String(100))
    business_key: Mapped[str | None] = mapped_column(String(100))
    task_guid: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    form_key: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(50))
    division_code: Mapped[str | None] = mapped_column(String(12))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # open | completed | cancelled
    status: Mapped[str] = mapped_column(String(20), default="open")
    claimed_by: Mapped[str | None] = mapped_column(String(100), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxModel(Base):
    """A service task waiting to be performed after commit, with its retry state."""

    __tablename__ = "service_outbox"
    __table_args__ = (Index("ix_service_outbox_due", "status", "next_attempt_at"), UniqueConstraint("task_guid"))

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    instance: Mapped[ProcessInstanceModel] = relationship()
    task_guid: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(100))
    operator: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # pending | done | incident | cancelled
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When a copy of the row was last handed to the queue (cleared when a performer takes it): the sweeper leaves
    # the row alone while that copy may still arrive, so an outage of many ticks queues it once.
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Until when a performer holds the row (set by its claim, which also counts the attempt; cleared when it
    # reports): no other performer takes it meanwhile, and a lease that runs out means the performer died.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEventModel(Base):
    """One line of the append-only audit trail, of an instance or of the system (written by engine.audit.write)."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    instance: Mapped[ProcessInstanceModel | None] = relationship()
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    # started | task_completed | service_done | service_failed | incident | timer_fired | error | ...
    kind: Mapped[str] = mapped_column(String(30))
    element: Mapped[str | None] = mapped_column(String(100))
    # Whom the event is about when not a case: `user:12` (an account) or `person:7` (the resource base).
    subject: Mapped[str | None] = mapped_column(String(40), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The hash chain (engine.audit): place, the previous row's hash and this row's; set when the transaction commits.
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))
