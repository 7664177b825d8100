"""The `flask` command group: init, db, processes, cases, divisions, holidays, tick, start."""

from pathlib import Path

import click
from flask import Flask, current_app
from werkzeug.serving import run_simple

from engine.errors import DiagramRejected
from processes import background, casework, demo, overview
from processes.runtime import RUNTIME
from services import cases, divisions, holidays
from services.db import db
from webapp.migrations import upgrade


def _commit() -> None:
    db.session.commit()


def register_commands(app: Flask) -> None:
    """Attach every command to `app.cli`."""

    @app.cli.command("init")
    @click.option("--demo/--no-demo", "with_demo", default=False, help="Also load demo divisions, accounts and cases.")
    def init(with_demo: bool) -> None:
        """Migrate the database, load the holiday table, deploy the shipped diagrams (and demo data)."""
        upgrade(current_app.config["DATABASE_URL"])
        holidays.import_holidays(db.session)
        for definition, created in casework.deploy_shipped(db.session):
            click.echo(f"{'已部署' if created else '未变化'} {definition.key} v{definition.version}")
        if with_demo:
            click.echo(demo.load(db.session))
        _commit()

    @app.cli.group("db")
    def db_group() -> None:
        """Database schema."""

    @db_group.command("upgrade")
    def db_upgrade() -> None:
        """Apply the Alembic migrations."""
        upgrade(current_app.config["DATABASE_URL"])

    @app.cli.group("processes")
    def processes_group() -> None:
        """Process definitions (BPMN diagrams)."""

    @processes_group.command("deploy")
    @click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--by", default="cli", help="Who deploys (kept with the version).")
    def processes_deploy(files: tuple[Path, ...], by: str) -> None:
        """Deploy BPMN process and DMN decision files; a file identical to a deployed version makes no new version."""
        try:
            for path in files:
                definition, created = RUNTIME.definitions.deploy(db.session, path.read_bytes(), by)
                click.echo(f"{'已部署' if created else '未变化'} {definition.key} v{definition.version} ({path.name})")
        except DiagramRejected as exc:
            db.session.rollback()
            raise click.ClickException(f"{path.name}: {exc}") from exc
        _commit()

    @processes_group.command("list")
    def processes_list() -> None:
        """List the deployed definitions, newest first, with their running cases."""
        line = "{key:<24} {kind:<3} v{version:<3} {state:<4} 运行中 {running:>5}  {deployed_at:%Y-%m-%d %H:%M}  {name}"
        for row in overview.definition_summary(db.session):
            click.echo(line.format(**row))

    @app.cli.group("cases")
    def cases_group() -> None:
        """Cases."""

    @cases_group.command("show")
    @click.argument("number")
    def cases_show(number: str) -> None:
        """Show a case: status, open tasks, decisions and audit trail."""
        case = cases.get_case(db.session, number)
        if case is None:
            raise click.ClickException(f"没有受理编号为 {number} 的案件")
        click.echo(overview.describe_case(db.session, case))

    @app.cli.group("divisions")
    def divisions_group() -> None:
        """Administrative divisions."""

    @divisions_group.command("import")
    @click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def divisions_import(files: tuple[Path, ...]) -> None:
        """Import official division CSV files (provinces, cities, areas, streets, villages; .csv or .csv.gz)."""
        for path in files:
            try:
                count = divisions.import_divisions(db.session, path)
            except ValueError as exc:
                db.session.rollback()
                raise click.ClickException(str(exc)) from exc
            click.echo(f"{path.name}: {count} 条")
        _commit()

    @app.cli.group("holidays")
    def holidays_group() -> None:
        """The holiday table that working-day deadlines count with."""

    @holidays_group.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def holidays_import(file: Path) -> None:
        """Import holidays and adjusted workdays (CSV: date,is_workday,name)."""
        try:
            count = holidays.import_holidays(db.session, file)
        except ValueError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        _commit()
        click.echo(f"{count} 条")

    @app.cli.command("tick")
    def tick() -> None:
        """Fire due timers and retry due service tasks (run by cron or Celery beat)."""
        click.echo(background.tick())

    @app.cli.command("start")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    def start(host: str, port: int) -> None:
        """Initialise with demo data if the database is new, start the in-process scheduler, and serve."""
        upgrade(current_app.config["DATABASE_URL"])
        holidays.import_holidays(db.session)
        casework.deploy_shipped(db.session)
        if not demo.is_loaded(db.session):
            click.echo(demo.load(db.session))
        _commit()
        db.session.remove()
        if current_app.config["BACKGROUND"] == "inline" and current_app.config["TICK_SECONDS"]:
            background.start_scheduler(current_app.config["TICK_SECONDS"])
        click.echo(f"生育登记服务信息系统: http://{host}:{port}/")
        # Flask refuses app.run() inside a CLI command; serve with Werkzeug directly, threaded like `flask run`.
        run_simple(host, port, current_app._get_current_object(), threaded=True)
