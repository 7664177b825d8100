"""`flask audit`: check the audit chain, and purge events past their retention (the tick does it too)."""

import click
from flask.cli import with_appcontext

from services import audit
from services.db import db


@click.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Check every audit event against the hash chain; name the first broken one and exit 1 if any."""
    result = audit.verify(db.session)
    db.session.rollback()
    if not result.ok:
        place = f"（链序号 {result.broken_seq}）" if result.broken_seq is not None else " "
        raise click.ClickException(f"审计记录 {result.broken_id}{place}校验失败：{result.problem}")
    click.echo(f"审计链完好：共 {result.rows} 条")


@audit_group.command("purge")
@with_appcontext
def audit_purge() -> None:
    """Delete the events older than AUDIT_RETENTION_DAYS now, instead of at the next tick."""
    deleted = audit.purge_expired(db.session)
    db.session.commit()
    click.echo(f"已清理 {deleted} 条过期审计记录")
