"""The audit trail's storage: one writer, a hash chain sealed at commit, its check and its retention purge.

Every audit row is added through `write`. Rows are chained when their transaction commits: under one lock (an
advisory lock on PostgreSQL; on SQLite the write lock every writing transaction already holds), each new row takes
the next sequence number, the hash of the row before it and the hash of its own content. Sealing at commit, not at
insert, keeps the lock for the few statements of the seal: a case step that writes audit rows early does not hold
every other writer back for the rest of its transaction, and no row lock is ever taken after the chain lock (no
deadlock with the instance locks). Every audited commit of the site passes through that lock in turn, so the seal
costs two round trips (the lock with the chain's end, then the seals), hashing the rows as they were flushed
rather than reading them back.

`verify` walks the chain and names the first row whose content, link or place does not match. A row written around
`write` (raw SQL) stays unsealed and is reported too. On PostgreSQL a trigger (see `POSTGRES_GUARD`) refuses every
UPDATE except the seal of a row not yet sealed, and every DELETE except the retention purge of rows older than the
shortest retention. The purge deletes a prefix of the chain and records, in a new row of the chain, where the chain
now starts and the hash it continues from, so what remains still verifies.
"""

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, func, inspect, select, text, update
from sqlalchemy.orm import Session

from engine.models import AuditEventModel, ProcessInstanceModel

GENESIS = "0" * 64
PURGED = "audit_purged"
# Retention below this is refused (AUDIT_RETENTION_DAYS); the database trigger allows deleting rows a day younger
# still, so a clock a little ahead of the database's never makes a legitimate purge fail.
MIN_RETENTION_DAYS = 183
# pg_advisory_xact_lock key of the chain: the bytes of "audit" as a number, chosen once, shared by every writer.
CHAIN_LOCK = 0x6175646974
PURGE_SETTING = "birthreg.audit_purge"
UNSEALED_KEY = "audit_unsealed"
BATCH = 500

TABLE = AuditEventModel.__table__
COLUMNS = (TABLE.c.id, TABLE.c.seq, TABLE.c.instance_id, TABLE.c.at, TABLE.c.actor, TABLE.c.kind, TABLE.c.element,
           TABLE.c.subject, TABLE.c.detail, TABLE.c.prev_hash, TABLE.c.row_hash)


def write(session: Session, actor: str, kind: str, *, instance: ProcessInstanceModel | None = None,
          instance_id: int | None = None, element: str | None = None, subject: str | None = None,
          detail: Mapping[str, Any] | None = None) -> AuditEventModel:
    """Add one audit row (sealed into the chain when the transaction commits) and return it."""
    row = AuditEventModel(actor=actor, kind=kind, element=element, subject=subject, detail=dict(detail or {}))
    if instance is not None:
        row.instance = instance
    else:
        row.instance_id = instance_id
    session.add(row)
    return row


def digest(row: Mapping[str, Any], seq: int, prev_hash: str) -> str:
    """Return the hash of one row's content at its place in the chain."""
    at = row["at"]
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    content = [seq, row["id"], row["instance_id"], at.isoformat(timespec="microseconds"), row["actor"], row["kind"],
               row["element"], row["subject"], row["detail"], prev_hash]
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def lock_chain(connection: Connection) -> None:
    """Take the chain lock until the transaction ends (PostgreSQL; SQLite's writer already holds its write lock)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})


_END = select(TABLE.c.seq, TABLE.c.row_hash).where(TABLE.c.seq.is_not(None)).order_by(TABLE.c.seq.desc()).limit(1)


def _chain_end(connection: Connection) -> tuple[int, str]:
    last = connection.execute(_END).first()
    return (last.seq, last.row_hash) if last is not None else (0, GENESIS)


def _locked_chain_end(connection: Connection) -> tuple[int, str]:
    """Take the chain lock and return the chain's end: one round trip on PostgreSQL, where every audited commit
    waits its turn here, so the lock is held for as few round trips as possible."""
    if connection.dialect.name != "postgresql":
        lock_chain(connection)
        return _chain_end(connection)
    end = str(_END.compile(connection, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        # Two statements in one request: the second starts once the lock is granted and, in READ COMMITTED, reads
        # with a snapshot of its own, so it sees the seal the lock's previous holder committed.
        cursor.execute(f"SELECT pg_advisory_xact_lock({CHAIN_LOCK}); {end}")
        cursor.nextset()
        last = cursor.fetchone()
    finally:
        cursor.close()
    return (last[0], last[1]) if last is not None else (0, GENESIS)


def _content(row: AuditEventModel) -> dict[str, Any]:
    """Return a flushed row's content as the database gives it back (its detail after a JSON round trip)."""
    return {"id": row.id, "instance_id": row.instance_id, "at": row.at, "actor": row.actor, "kind": row.kind,
            "element": row.element, "subject": row.subject, "detail": json.loads(json.dumps(row.detail))}


def _seal_flushed(connection: Connection, contents: list[dict[str, Any]]) -> None:
    """Chain rows in id order from their content as it was flushed (no read back)."""
    seq, prev = _locked_chain_end(connection)
    values = []
    for content in sorted(contents, key=lambda c: c["id"]):
        seq += 1
        row_hash = digest(content, seq, prev)
        values.append({"row_id": content["id"], "new_seq": seq, "new_prev": prev, "new_hash": row_hash})
        prev = row_hash
    _write_seals(connection, values)


def _write_seals(connection: Connection, values: list[dict[str, Any]]) -> None:
    if values:
        connection.execute(update(TABLE).where(TABLE.c.id == bindparam("row_id"))
                           .values(seq=bindparam("new_seq"), prev_hash=bindparam("new_prev"),
                                   row_hash=bindparam("new_hash")), values)


def seal(connection: Connection, ids: list[int] | None = None) -> int:
    """Chain the unsealed rows `ids` (every unsealed row when None) in id order; the caller holds the chain lock."""
    seq, prev = _chain_end(connection)
    pending = select(*COLUMNS).where(TABLE.c.seq.is_(None)).order_by(TABLE.c.id).limit(BATCH)
    chunks = iter([ids[i:i + BATCH] for i in range(0, len(ids), BATCH)]) if ids is not None else None
    sealed = 0
    while True:
        if chunks is None:  # every unsealed row, a batch at a time (each batch is sealed before the next is read)
            rows = connection.execute(pending).mappings().all()
        elif (chunk := next(chunks, None)) is not None:
            rows = connection.execute(pending.where(TABLE.c.id.in_(chunk))).mappings().all()
        else:
            break
        if chunks is None and not rows:
            break
        values = []
        for row in rows:
            seq += 1
            row_hash = digest(row, seq, prev)
            values.append({"row_id": row["id"], "new_seq": seq, "new_prev": prev, "new_hash": row_hash})
            prev = row_hash
        _write_seals(connection, values)
        sealed += len(values)
    return sealed


@event.listens_for(Session, "after_flush")
def _note_new_rows(session: Session, _context) -> None:
    # Each row with its content as this flush wrote it (the table refuses any later change but the seal): the seal
    # hashes it without reading it back. The row itself is kept to tell whether a savepoint's rollback undid it.
    new = [(obj, _content(obj)) for obj in session.new if isinstance(obj, AuditEventModel)]
    if new:
        session.info.setdefault(UNSEALED_KEY, []).extend(new)


@event.listens_for(Session, "before_commit")
def _seal_on_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT is released: the rows are sealed when the outer transaction commits
    session.flush()
    # Rows a rolled-back savepoint took away are no longer persistent: they were never stored.
    contents = [content for row, content in session.info.pop(UNSEALED_KEY, ()) if inspect(row).persistent]
    if not contents:
        return
    _seal_flushed(session.connection(), contents)
    for obj in list(session.identity_map.values()):  # loaded rows must show their seal when read again
        if isinstance(obj, AuditEventModel):
            session.expire(obj, ["seq", "prev_hash", "row_hash"])


@event.listens_for(Session, "after_rollback")
def _forget_rows(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(UNSEALED_KEY, None)


@dataclass(frozen=True)
class Verification:
    """The result of a chain check: how many rows were read, and the first broken one (if any) with why."""

    rows: int
    broken_id: int | None = None
    broken_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        """Return whether the whole chain verified."""
        return self.broken_id is None


def _sealed_rows(connection: Connection) -> Iterator[Mapping[str, Any]]:
    after = 0
    while True:
        rows = connection.execute(select(*COLUMNS).where(TABLE.c.seq > after).order_by(TABLE.c.seq)
                                  .limit(BATCH)).mappings().all()
        yield from rows
        if len(rows) < BATCH:
            return
        after = rows[-1]["seq"]


def _start(connection: Connection) -> tuple[int, str]:
    """Return the sequence number and previous hash the chain must start with (after the latest purge, if any)."""
    anchor = connection.execute(select(TABLE.c.detail).where(TABLE.c.kind == PURGED, TABLE.c.seq.is_not(None))
                                .order_by(TABLE.c.seq.desc()).limit(1)).scalar()
    if anchor is None:
        return 1, GENESIS
    return int(anchor["through_seq"]) + 1, str(anchor["anchor"])


def verify(connection: Connection) -> Verification:
    """Check every row of the chain in order, and that no committed row is left unsealed."""
    seq, prev = _start(connection)
    count = 0
    for row in _sealed_rows(connection):
        count += 1
        problem = ""
        if row["seq"] != seq:
            problem = f"序号应为 {seq}，实为 {row['seq']}（其前的记录被删除）"
        elif row["prev_hash"] != prev:
            problem = "与前一条记录的链接不符（前一条被修改或删除）"
        elif row["row_hash"] != digest(row, row["seq"], row["prev_hash"]):
            problem = "内容与其哈希不符（记录被修改）"
        if problem:
            return Verification(count, row["id"], row["seq"], problem)
        seq, prev = seq + 1, row["row_hash"]
    stray = connection.execute(select(TABLE.c.id).where(TABLE.c.seq.is_(None)).order_by(TABLE.c.id).limit(1)).scalar()
    if stray is not None:
        return Verification(count, stray, None, "未经审计服务写入，不在链中")
    return Verification(count)


def purge(session: Session, cutoff: datetime) -> int:
    """Delete the longest prefix of the chain older than `cutoff`; a new row anchors what remains (flush only)."""
    connection = session.connection()
    lock_chain(connection)  # one purge at a time, and no seal between reading the chain's end and deleting
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.set_config(PURGE_SETTING, "on", True)))
        # The trigger judges age by the database's clock: never ask it for rows it must refuse.
        floor = connection.execute(select(func.now())).scalar() - timedelta(days=MIN_RETENTION_DAYS - 1)
        cutoff = min(cutoff, floor)
    oldest, newest = connection.execute(select(func.min(TABLE.c.seq), func.max(TABLE.c.seq))).one()
    first_kept = connection.execute(select(func.min(TABLE.c.seq)).where(TABLE.c.at >= cutoff)).scalar()
    # The newest sealed row always stays: the next seal continues from it.
    through = min(first_kept - 1 if first_kept is not None else newest or 0, (newest or 0) - 1)
    if oldest is None or through < oldest:
        return 0
    anchor = connection.execute(select(TABLE.c.row_hash).where(TABLE.c.seq == through)).scalar()
    deleted = connection.execute(delete(TABLE).where(TABLE.c.seq <= through)).rowcount
    write(session, "system", PURGED, detail={"through_seq": through, "anchor": anchor, "rows": deleted,
                                             "before": cutoff.astimezone(UTC).isoformat()})
    session.flush()
    return deleted


# PostgreSQL: the table refuses changes other than the seal of a new row and the retention purge (the purge sets
# PURGE_SETTING for its own transaction). Installed by the migration.
POSTGRES_GUARD = f"""
CREATE OR REPLACE FUNCTION audit_event_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('{PURGE_SETTING}', true) = 'on'
           AND OLD.at < now() - interval '{MIN_RETENTION_DAYS - 1} days' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_event is append-only: row % may not be deleted', OLD.id;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.row_hash IS NOT NULL THEN
            RAISE EXCEPTION 'audit_event rows are sealed at commit, not inserted sealed';
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.id = OLD.id
       AND NEW.instance_id IS NOT DISTINCT FROM OLD.instance_id AND NEW.at = OLD.at AND NEW.actor = OLD.actor
       AND NEW.kind = OLD.kind AND NEW.element IS NOT DISTINCT FROM OLD.element
       AND NEW.subject IS NOT DISTINCT FROM OLD.subject AND NEW.detail::text = OLD.detail::text THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: row % may not be changed', OLD.id;
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event;
CREATE TRIGGER audit_event_append_only BEFORE INSERT OR UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_guard();
"""
