"""`flask keys`: make a new data key, and re-seal every sealed value under the current one (key rotation)."""

import click
from flask import current_app
from flask.cli import with_appcontext

from services import audit, crypto
from services.db import db
from webapp.models import metadata


@click.group("keys")
def keys_group() -> None:
    """Keys that seal ID numbers, phones and certificate numbers at rest."""


@keys_group.command("new")
def keys_new() -> None:
    """Print a new data key (`id:base64`) to put first in DATA_KEYS."""
    click.echo(crypto.new_key_text())


@keys_group.command("rotate")
@click.option("--new-key", is_flag=True,
              help="Embedded default only: generate a new current key under the instance folder first.")
@click.option("--batch", default=500, show_default=True, help="Rows re-sealed per commit.")
@with_appcontext
def keys_rotate(new_key: bool, batch: int) -> None:
    """Re-seal every value that is not under the current key; safe to interrupt and run again."""
    config = current_app.config
    if new_key:
        if config["DATA_KEYS"]:
            raise click.UsageError("DATA_KEYS is set: put the new key (flask keys new) first in it, then rotate")
        kid = crypto.add_key_to_file(config["INSTANCE_DIR"])
        crypto.configure("", config["INDEX_KEY"], config["INSTANCE_DIR"])
        click.echo(f"新的数据密钥 {kid} 已生效")
    ring = crypto.keyring()

    def report(table: str, column: str, count: int) -> None:
        click.echo(f"{table}.{column}: 重新加密 {count} 条")

    total = crypto.rotate(db.session, metadata, batch=batch, progress=report)
    audit.record(db.session, "cli", "keys_rotated", key=ring.current, resealed=total, new_key=new_key)
    db.session.commit()
    click.echo(f"完成：共重新加密 {total} 条，当前密钥 {ring.current}。旧密钥可在确认无误后从配置中删除。")
