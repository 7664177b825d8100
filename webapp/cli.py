"""The `flask` command group: init, db, processes, cases, divisions, holidays, users, stats, keys, tick, start."""

import logging
from datetime import timedelta
from pathlib import Path

import click
from flask import Flask, current_app

from engine.errors import DiagramRejected, EngineError
from processes import background, casework, definitions_admin, demo, instances_admin, overview
from processes.roles import ROLE_DIVISION_LENGTH, ROLES, STAFF_ROLES
from processes.runtime import RUNTIME
from services import accounts, cases, divisions, holidays, notifications
from services.db import db
from webapp import demo_server
from webapp.config import is_production
from webapp.migrations import upgrade


def _commit() -> None:
    db.session.commit()


def register_commands(app: Flask) -> None:
    """Attach every command to `app.cli`."""
    from webapp.audit_cli import audit_group
    from webapp.keys_cli import keys_group

    app.cli.add_command(keys_group)
    app.cli.add_command(audit_group)

    @app.cli.command("init")
    @click.option("--demo/--no-demo", "with_demo", default=False, help="Also load demo divisions, accounts and cases.")
    def init(with_demo: bool) -> None:
        """Migrate the database, load the holiday table, deploy the shipped diagrams (and demo data), and build the
        slip's font faces."""
        upgrade(current_app.config["DATABASE_URL"])
        holidays.import_holidays(db.session)
        for definition, created in casework.deploy_shipped(db.session):
            click.echo(f"{'已部署' if created else '未变化'} {definition.key} v{definition.version}")
        if with_demo:
            click.echo(demo.load(db.session))
        _commit()
        _prepare_slip_fonts()

    def _prepare_slip_fonts() -> None:
        from services.pdf_fonts import FontUnavailable
        from webapp.slips import prepare_fonts

        try:
            prepare_fonts(current_app._get_current_object())
        except FontUnavailable as exc:  # the rest of the system works without slips; say what to fix
            click.echo(f"登记单字体未能准备：{exc}", err=True)
        else:
            click.echo("已准备登记单字体")

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

    @processes_group.command("check")
    def processes_check() -> None:
        """Re-check the versions in service or with running cases against the code; fail when running cases lose."""
        from processes.version_check import check_versions

        checks = check_versions(db.session)
        for check in checks:
            state = "无缺失" if not check.gaps else "有缺失"
            click.echo(f"{check.definition.key} v{check.definition.version} 运行中 {check.running} 个：{state}")
            click.echo("".join(f"  - {gap}\n" for gap in check.gaps), nl=False)
        if any(check.blocking for check in checks):
            raise click.ClickException("有运行中案件的流程版本引用了已不存在的表单、角色、操作或参数值")

    def _checked(path: Path):
        checked = definitions_admin.validate(db.session, path.read_bytes())
        if checked.problems:
            raise click.ClickException(f"{path.name} 未通过检查：\n" + "\n".join(f"- {p}" for p in checked.problems))
        return checked.parsed

    def _version(key: str, version: int):
        try:
            return definitions_admin.find_version(db.session, key, version)
        except EngineError as exc:
            raise click.ClickException(str(exc)) from exc

    @processes_group.command("validate")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def processes_validate(file: Path) -> None:
        """Check a BPMN file as deploying it would, and list every problem (nothing is stored)."""
        parsed = _checked(file)
        click.echo(f"检查通过：{parsed.diagram.process_id}（{parsed.diagram.name}）")

    @processes_group.command("diff")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def processes_diff(file: Path) -> None:
        """Show what a BPMN file changes against the version new cases start on now."""
        parsed = _checked(file)
        found = definitions_admin.diff(db.session, parsed.diagram,
                                       definitions_admin.current(db.session, parsed.diagram.process_id))
        for title, items in (("新增", found.added), ("删除", found.removed), ("更名", found.renamed),
                             ("变化", found.changed)):
            for item in items:
                click.echo(f"{title} {item}")
        if found.empty:
            click.echo("无变化")

    @processes_group.command("dry-run")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def processes_dry_run(file: Path) -> None:
        """Drive sample cases through every path of a BPMN file, in memory; fail when a path does not end well.

        The run has the review page's deadline (DRY_RUN_SECONDS) and holds no database transaction while it runs.
        """
        prepared = definitions_admin.prepare_dry_run(db.session, _checked(file))
        db.session.rollback()  # it only read: the site may write while diagram code runs
        report = prepared.run(current_app.config["DRY_RUN_SECONDS"])
        for number, path in enumerate(report.paths, 1):
            click.echo(f"{number}. [{path.start}] {' → '.join(path.steps)} ⇒ {path.end}（{path.outcome_label}）")
        if report.stopped:
            click.echo(report.stopped)
        if not report.ok:
            raise click.ClickException("有路径未正常结束")

    @processes_group.command("activate")
    @click.argument("key")
    @click.argument("version", type=int)
    def processes_activate(key: str, version: int) -> None:
        """Put a version in service (the newest active version takes new cases)."""
        definitions_admin.activate(db.session, _version(key, version))
        _commit()
        click.echo(f"已启用 {key} v{version}")

    @processes_group.command("retire")
    @click.argument("key")
    @click.argument("version", type=int)
    def processes_retire(key: str, version: int) -> None:
        """Take a version out of service (running cases finish on it)."""
        try:
            definitions_admin.retire(db.session, _version(key, version))
        except EngineError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        _commit()
        click.echo(f"已停用 {key} v{version}")

    @processes_group.command("instances")
    @click.option("--process", "process_key", default="")
    @click.option("--version", type=int, default=None)
    @click.option("--status", default="")
    def processes_instances(process_key: str, version: int | None, status: str) -> None:
        """List case instances (the newest 200) by process, version and status."""
        rows, total = instances_admin.search(db.session, instances_admin.InstanceFilter(
            process_key=process_key, version=version, status=status), limit=200)
        for instance, definition, case in rows:
            click.echo(f"{instance.id:>7} {instance.process_key} v{definition.version} {instance.status:<9} "
                       f"{case.case_number if case else '-'} {instance.milestone or ''}")
        click.echo(f"共 {total} 个")

    @processes_group.command("migrate")
    @click.argument("key")
    @click.argument("from_version", type=int)
    @click.argument("to_version", type=int)
    @click.option("--apply", "apply_", is_flag=True, help="Migrate; without it only say which cases can move.")
    @click.option("--revert", "revert_", is_flag=True, help="Revert earlier migrations from FROM to TO.")
    @click.option("--by", default="cli", help="Who migrates (kept in each migration's log line).")
    def processes_migrate(key: str, from_version: int, to_version: int, apply_: bool, revert_: bool,
                          by: str) -> None:
        """Migrate the running cases of one version to another (dry run by default), or revert a migration."""
        source, target = _version(key, from_version), _version(key, to_version)
        if revert_:
            done, refused = instances_admin.revert(
                db.session, instances_admin.migrations_of(db.session, source, target), by)
            _commit()
            click.echo("\n".join([f"已撤回 {done} 个迁移", *refused]))
            return
        checks = instances_admin.migration_dry_run(db.session, source, target)
        for check in checks:
            if not check.movable:
                click.echo(f"{check.instance_id} {check.business_key or '-'} 不能迁移：{'；'.join(check.problems)}")
        movable = sum(c.movable for c in checks)
        if not apply_:
            click.echo(f"可迁移 {movable} 个，不能迁移 {len(checks) - movable} 个（加 --apply 执行）")
            return
        moved, left = instances_admin.migrate_all(db.session, source, target, by)
        _commit()
        click.echo(f"已迁移 {len(moved)} 个，未迁移 {len(left)} 个")

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

    @app.cli.group("users")
    def users_group() -> None:
        """User accounts."""

    @users_group.command("create-staff")
    @click.option("--phone", required=True, help="Mobile number (11 digits); the SMS sign-in codes go there.")
    @click.option("--name", required=True, help="The person's name.")
    @click.option("--role", required=True, help=f"One of: {', '.join(STAFF_ROLES)}.")
    @click.option("--division", "division_code", required=True, help="Statistical code of the division served.")
    @click.option("--password", default=None, help="For scripts only; without it the password is asked, hidden, twice.")
    def users_create_staff(phone: str, name: str, role: str, division_code: str, password: str | None) -> None:
        """Create a staff account attached to a division (the password is asked after the other checks pass)."""
        phone, name, division_code = phone.strip(), name.strip(), division_code.strip()
        staff_roles = {key: ROLES[key] for key in STAFF_ROLES}

        def problems(password: str | None) -> dict[str, str]:
            return accounts.staff_account_problems(
                db.session, phone=phone, name=name, role=role, division_code=division_code, password=password,
                roles=staff_roles, division_lengths=ROLE_DIVISION_LENGTH)

        if found := problems(None):
            raise click.ClickException("\n".join(found.values()))
        if password is None:
            password = click.prompt("密码", hide_input=True)
            if click.prompt("再次输入密码", hide_input=True) != password:
                raise click.ClickException("两次输入的密码不一致")
        if found := problems(password):
            raise click.ClickException("\n".join(found.values()))
        user = accounts.create_user(db.session, phone=phone, name=name, role=role, password=password,
                                    division_code=division_code, actor="cli")
        place = divisions.full_name(db.session, division_code)
        _commit()
        click.echo(f"已创建工作人员账号：{user.name}（{ROLES[role]}，{place}），手机号码 {phone}")

    @users_group.command("token")
    @click.option("--phone", required=True, help="Mobile number of the staff account the token is for.")
    @click.option("--name", required=True, help="What the token is for (an app, a device), to recognise it by.")
    @click.option("--days", default=90, show_default=True, type=int, help="Days until the token expires.")
    def users_token(phone: str, name: str, days: int) -> None:
        """Issue an API token to a staff account; its secret is printed once, on stdout (only a hash is kept)."""
        from services import api_tokens

        user = accounts.find_by_phone(db.session, phone.strip())
        if user is None:
            raise click.ClickException(f"没有手机号码为 {phone.strip()} 的账号")
        if user.role not in STAFF_ROLES:
            raise click.ClickException("只有工作人员账号可以申请接口令牌")
        try:
            secret = api_tokens.issue_token(db.session, user, name, days)
        except api_tokens.TokenRefused as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        _commit()
        click.echo(f"已为{user.name}（{ROLES[user.role]}）签发接口令牌「{name.strip()}」，有效期 {days} 天。"
                   "令牌只显示这一次，请妥善保存：", err=True)
        click.echo(secret)

    @app.cli.group("stats")
    def stats_group() -> None:
        """Registration statistics: synthetic cases and the pre-aggregated tally."""

    @stats_group.command("generate")
    @click.option("--count", required=True, type=click.IntRange(1, 20_000_000), help="How many cases to write.")
    @click.option("--division", "prefix", default="", help="Only villages whose code starts with this (e.g. 13).")
    @click.option("--villages-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                  help="Take the village codes from an official villages CSV (.csv or .csv.gz) instead of the "
                       "division table.")
    @click.option("--months", default=24, show_default=True, type=click.IntRange(1, 240),
                  help="Spread the submissions over this many months up to today.")
    @click.option("--seed", default=2026, show_default=True, type=int)
    def stats_generate(count: int, prefix: str, villages_file: Path | None, months: int, seed: int) -> None:
        """Write synthetic cases for statistics, and rebuild the tally (they bypass the per-case updates)."""
        from engine.calendar import load_calendar
        from engine.db import utcnow
        from services import synthetic

        prefix = prefix.strip()
        if villages_file is None:
            villages = synthetic.villages_in(db.session, prefix)
        else:
            villages = [row["code"] for row in divisions.read_division_file(villages_file)
                        if row["level"] == 5 and str(row["code"]).startswith(prefix)]
        if not villages:
            raise click.ClickException(f"没有代码以「{prefix}」开头的村（居），请先导入区划或指定 --villages-file")
        now = utcnow()
        written = synthetic.generate(db.session, count, villages, start=now - timedelta(days=round(months * 30.44)),
                                     end=now, calendar=load_calendar(db.session), now=now, seed=seed)
        from services import statistics

        statistics.refresh(db.session, statistics.timing_for(db.session, current_app.config["STATS_LIMIT_DAYS"]))
        _commit()
        click.echo(f"已生成 {written} 件模拟案件，分布于 {len(villages)} 个村（居）")

    @stats_group.command("refresh")
    def stats_refresh() -> None:
        """Rebuild the pre-aggregated tally that province and city statistics read (the tick keeps it up to date;
        this is for a check, or after writing cases outside the app)."""
        from services import statistics

        timing = statistics.timing_for(db.session, current_app.config["STATS_LIMIT_DAYS"])
        count = statistics.refresh(db.session, timing)
        _commit()
        click.echo(f"已汇总 {count} 件案件")

    @app.cli.command("tick")
    def tick() -> None:
        """Fire due timers and retry due service tasks (run by cron or Celery beat)."""
        click.echo(background.tick())

    @app.cli.command("start")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    def start(host: str, port: int) -> None:
        """Initialise with demo data if the database is new, start the in-process scheduler, and serve (demo only)."""
        try:
            demo_server.trust_listening_address(current_app._get_current_object(), host, port)
        except demo_server.UnknownAddress:
            raise click.ClickException(f"监听 {host} 时请先设置 PUBLIC_BASE_URL（大家访问本站的地址，"
                                       f"如 http://192.168.1.10:{port}），链接和二维码都用它生成") from None
        upgrade(current_app.config["DATABASE_URL"])
        holidays.import_holidays(db.session)
        casework.deploy_shipped(db.session)
        if not demo.is_loaded(db.session):
            click.echo(demo.load(db.session))
        _commit()
        db.session.remove()
        # The recording SMS provider logs each message: demo staff read their sign-in code in this terminal (never
        # on a production configuration, whose logs are kept).
        notifications.echo_to_log(not is_production(current_app.config))
        logging.getLogger("services.notifications").setLevel(logging.INFO)
        logging.getLogger("services.notifications").addHandler(logging.StreamHandler())
        if current_app.config["BACKGROUND"] == "inline" and current_app.config["TICK_SECONDS"]:
            background.start_scheduler(current_app.config["TICK_SECONDS"])
        click.echo(f"生育登记服务信息系统: {current_app.config['PUBLIC_BASE_URL'] or f'http://{host}:{port}'}/")
        click.echo(demo_server.DEMO_NOTICE)
        demo_server.serve(current_app._get_current_object(), host, port)
