"""流程管理: the policy administrator's pages for process versions, case instances and assignment rules.

Policy administrators act; system administrators may read the same pages. Every action is a POST with CSRF and is
audited by the engine; activating, retiring, migrating, reverting and cancelling are done only once confirmed
(webapp.confirm).
"""

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.exceptions import RequestEntityTooLarge

from engine.dryrun_reports import RUNNING
from engine.errors import EngineError
from engine.svg import render_svg
from engine.xmlsafe import MAX_DIAGRAM_BYTES
from forms.processadmin import AssignmentForm, DiagramUploadForm, ReasonForm
from processes import definitions_admin as definitions
from processes import instances_admin as instances
from processes.division_picker import picker
from processes.jurisdiction import JURISDICTION_FIELDS
from processes.overview import definition_summary
from processes.roles import POLICY_ADMIN, ROLES, STAFF_ROLES, SYSTEM_ADMIN
from processes.runtime import RUNTIME
from processes.task_forms import recorded_fields
from services import assignments, cases
from services.db import db
from webapp import error_page
from webapp.admin import Pager, _page_number, roles_required
from webapp.casepage import place
from webapp.confirm import ask_confirmation, confirmed
from webapp.processadmin import labels

bp = Blueprint("processadmin", __name__, url_prefix="/admin/processes", template_folder="templates",
               static_folder="static")

READERS = (POLICY_ADMIN, SYSTEM_ADMIN)
# The request body an upload may have: the diagram cap plus room for the form around it.
MAX_UPLOAD_REQUEST = MAX_DIAGRAM_BYTES + 64 * 1024
# Seconds between two looks of the review page while its dry run is under way.
DRY_RUN_REFRESH_SECONDS = 2
TOO_LARGE = f"文件过大：流程图文件上限为 {MAX_DIAGRAM_BYTES // (1024 * 1024)} MB"


@bp.context_processor
def _words() -> dict:
    # Every process page names operators, events and actors in words (webapp.processadmin.labels).
    return {"labels": labels}


def _actor() -> str:
    return current_user.account.actor


def _may_act() -> bool:
    return current_user.account.role == POLICY_ADMIN


@bp.before_request
def _cap_uploads() -> None:
    # Refused from the declared length, before any of the body is parsed or spooled to disk.
    if (request.content_length or 0) > MAX_UPLOAD_REQUEST:
        raise RequestEntityTooLarge
    request.max_content_length = MAX_UPLOAD_REQUEST


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc):
    # Raised before any view checked who is asking: only readers see the process list with the message.
    if not (current_user.is_authenticated and current_user.account.role in READERS):
        return error_page(exc)
    return _index_page(DiagramUploadForm(formdata=None), problems=[TOO_LARGE], status=413)


def _definition(definition_id: int):
    try:
        return definitions.get_definition(db.session, definition_id)
    except EngineError:
        abort(404)


def _index_page(form, problems=None, status=200):
    return render_template("processadmin/index.html", rows=definition_summary(db.session), form=form,
                           problems=problems, may_act=_may_act()), status


@bp.get("/")
@roles_required(*READERS)
def index():
    """List every process and decision version, with who deployed it, when, and its running cases."""
    return _index_page(DiagramUploadForm())


@bp.post("/upload")
@roles_required(POLICY_ADMIN)
def upload():
    """Check an uploaded diagram; store it for review (inactive) when it passes, else list every problem."""
    form = DiagramUploadForm()
    if not form.validate_on_submit():
        return _index_page(form, problems=[e for errors in form.errors.values() for e in errors], status=400)
    with form.diagram.data.stream as stream:
        xml = stream.read(MAX_DIAGRAM_BYTES + 1)
    checked = definitions.validate(db.session, xml)
    if checked.problems:
        return _index_page(form, problems=checked.problems, status=422)
    definition, created = definitions.upload(db.session, xml, _actor())
    named = f"{definition.name}（{definition.key}）v{definition.version}"
    flash(f"已上传 {named}，检查通过，待启用" if created else f"与已有版本 {named} 内容相同，未生成新版本", "success")
    return redirect(url_for("processadmin.version", definition_id=definition.id))


@bp.get("/<int:definition_id>")
@roles_required(*READERS)
def version(definition_id: int):
    """Review one version: its diagram, what it changes against the current version, and a dry run of every path.

    The dry run is never run here: the page shows the stored report, or starts a background run and shows that it
    is under way, refreshing itself until the report is there.
    """
    definition = _definition(definition_id)
    session = db.session
    parsed = definitions.parsed_of(session, definition)
    current = definitions.current(session, definition.key)
    against = current if current is not None and current.id != definition.id else None
    others = [v for v in definitions.versions(session, definition.key) if v.id != definition.id]
    target_id = request.args.get("to", type=int)
    target = next((v for v in others if v.id == target_id), None)
    checks = instances.migration_dry_run(session, definition, target) if target else None
    dry_run = _dry_run(definition)
    response = make_response(render_template(
        "processadmin/version.html", definition=definition, current=current,
        svg=Markup(render_svg(definition.xml, {})),  # noqa: S704 - render_svg escapes every name
        diff=definitions.diff(session, parsed.diagram, against), dry_run=dry_run, refresh=DRY_RUN_REFRESH_SECONDS,
        seconds=current_app.config["DRY_RUN_SECONDS"],
        others=others, target=target, checks=checks, warnings=RUNTIME.definitions.warnings(session, definition),
        reverts=instances.migrations_of(session, definition, target) if target else [], may_act=_may_act()))
    if dry_run.status == RUNNING:
        response.headers["Refresh"] = str(DRY_RUN_REFRESH_SECONDS)
    return response


def _dry_run(definition) -> definitions.DryRunState:
    """Return the version's stored dry run; when there is none, start one in the background and say it runs."""
    seconds = current_app.config["DRY_RUN_SECONDS"]
    state = definitions.dry_run_state(db.session, definition, seconds)
    if state is not None:
        return state
    if current_app.config["BACKGROUND"] == "celery":
        from webapp.celery import dry_run_task

        # A worker stuck in C code past the deadline is killed when the page would take the run for dead.
        dry_run_task.apply_async((definition.id, seconds),
                                 time_limit=definitions.stale_after(seconds).total_seconds())
    else:
        definitions.DRY_RUN_THREADS.start(definition.id, seconds,
                                          current_app._get_current_object().app_context)
    return definitions.DryRunState(RUNNING)


@bp.post("/<int:definition_id>/dry-run")
@roles_required(POLICY_ADMIN)
def rerun_dry_run(definition_id: int):
    """Drop the stored dry run of a version, so that the review page runs it again."""
    definition = _definition(definition_id)
    if definitions.forget_dry_run(db.session, definition, current_app.config["DRY_RUN_SECONDS"]):
        flash("已重新开始试运行", "success")
    else:
        flash("试运行仍在进行，请稍候", "error")
    return _back_to(definition_id)


def _back_to(definition_id: int):
    return redirect(url_for("processadmin.version", definition_id=definition_id))


def _running_by_version(key: str) -> dict[int, int]:
    """Return the number of running cases of each version of process `key`."""
    return {row["version"]: row["running"] for row in definition_summary(db.session)
            if row["key"] == key and row["kind"] == "流程"}


def _running_elsewhere(running: dict[int, int], version: int) -> str:
    others = [f"v{v} {n} 件" for v, n in sorted(running.items()) if v != version and n]
    return f"已在办的 {sum(running.values()) - running.get(version, 0)} 件仍按原版本办结" + (
        f"（{'、'.join(others)}）" if others else "")


def _confirm_activate(definition):
    current = definitions.current(db.session, definition.key)
    running = _running_by_version(definition.key)
    if current is None or current.version < definition.version:
        effect = f"启用后，新申请将按 v{definition.version} 办理；{_running_elsewhere(running, definition.version)}。"
    else:
        effect = (f"v{current.version} 更新且已启用：启用 v{definition.version} 后，"
                  f"新申请仍按 v{current.version} 办理，v{definition.version} 仅作为可迁移、可回退的版本。")
    return ask_confirmation(f"启用 {definition.name}（{definition.key}）v{definition.version}",
                            [effect, "启用会记入审计日志，之后可随时停用。"], "确认启用",
                            url_for("processadmin.version", definition_id=definition.id))


def _confirm_retire(definition):
    session = db.session
    running = _running_by_version(definition.key).get(definition.version, 0)
    others = [v for v in definitions.versions(session, definition.key) if v.active and v.id != definition.id]
    after = (f"停用后，新申请将按 v{others[0].version} 办理" if others
             else "停用后，本流程不再受理新申请（如有其他流程声明相同类型，则由其受理；否则停用会被拒绝）")
    return ask_confirmation(f"停用 {definition.name}（{definition.key}）v{definition.version}",
                            [f"{after}；此版本已在办的 {running} 件仍按此版本办结。",
                             "停用会记入审计日志，之后可再次启用。"],
                            "确认停用", url_for("processadmin.version", definition_id=definition.id))


@bp.post("/<int:definition_id>/activate")
@roles_required(POLICY_ADMIN)
def activate(definition_id: int):
    """Put a version in service, once the administrator has confirmed what changes for new applications."""
    definition = _definition(definition_id)
    if not confirmed():
        return _confirm_activate(definition)
    definitions.activate(db.session, definition, _actor())
    current = definitions.current(db.session, definition.key)
    note = "新申请将按此版本办理" if current.id == definition.id else f"新申请仍按更新的 v{current.version} 办理"
    flash(f"已启用 {definition.name}（{definition.key}）v{definition.version}，{note}", "success")
    return _back_to(definition_id)


@bp.post("/<int:definition_id>/retire")
@roles_required(POLICY_ADMIN)
def retire(definition_id: int):
    """Take a version out of service (refused when a case type would be left without a process)."""
    definition = _definition(definition_id)
    if not confirmed():
        return _confirm_retire(definition)
    try:
        definitions.retire(db.session, definition, _actor())
    except definitions.RetireRefused as exc:
        flash(str(exc), "error")
        return _back_to(definition_id)
    flash(f"已停用 {definition.name}（{definition.key}）v{definition.version}，已在办案件仍按此版本办结", "success")
    return _back_to(definition_id)


def _confirm_migrate(source, target):
    checks = instances.migration_dry_run(db.session, source, target)
    movable = sum(1 for c in checks if c.movable)
    return ask_confirmation(
        f"迁移 {source.key} v{source.version} 的案件到 v{target.version}",
        [f"将把 {movable} 件运行中案件从 v{source.version} 迁到 v{target.version}，"
         f"迁移后按 v{target.version} 继续办理；"
         f"{len(checks) - movable} 件不能迁移，仍按 v{source.version} 办理。",
         "迁移后尚无办理记录的案件可以撤回迁移。"],
        f"确认迁移 {movable} 件", url_for("processadmin.version", definition_id=source.id, to=target.id))


@bp.post("/<int:definition_id>/migrate/<int:target_id>")
@roles_required(POLICY_ADMIN)
def migrate(definition_id: int, target_id: int):
    """Move every running case of this version that can move to the target version."""
    source, target = _definition(definition_id), _definition(target_id)
    try:
        if not confirmed():
            return _confirm_migrate(source, target)
        moved, left = instances.migrate_all(db.session, source, target, _actor())
    except EngineError as exc:
        flash(str(exc), "error")
        return _back_to(definition_id)
    flash(f"已迁移 {len(moved)} 个案件到 v{target.version}，{len(left)} 个不能迁移", "success")
    return redirect(url_for("processadmin.version", definition_id=definition_id, to=target_id))


@bp.post("/<int:definition_id>/revert/<int:target_id>")
@roles_required(POLICY_ADMIN)
def revert(definition_id: int, target_id: int):
    """Revert the migrations from this version to the target, where nothing has happened since."""
    source, target = _definition(definition_id), _definition(target_id)
    migrations = instances.migrations_of(db.session, source, target)
    if not confirmed():
        return ask_confirmation(
            f"撤回 {source.key} v{source.version} → v{target.version} 的迁移",
            [f"共 {len(migrations)} 次迁移：迁移后尚无办理记录的案件回到 v{source.version} 继续办理；"
             f"迁移后已有办理记录的不能撤回，仍按 v{target.version} 办理。"],
            "确认撤回", url_for("processadmin.version", definition_id=source.id, to=target.id))
    done, refused = instances.revert(db.session, migrations, _actor())
    flash(f"已撤回 {done} 个迁移" + (f"；{len(refused)} 个不能撤回（迁移后已有办理记录）" if refused else ""),
          "success")
    return redirect(url_for("processadmin.version", definition_id=definition_id, to=target_id))


# -- case instances ------------------------------------------------------------------------------------------------


def _filter() -> instances.InstanceFilter:
    args = request.args
    division = (args.get("division") or "").strip()
    return instances.InstanceFilter(
        process_key=(args.get("process") or "").strip()[:100], version=args.get("version", type=int),
        status=args.get("status") if args.get("status") in instances.STATUS_LABELS else "",
        division=division if division.isdigit() and len(division) <= 12 else "",
        overdue=args.get("overdue") == "1", incident=args.get("incident") == "1")


@bp.get("/instances")
@roles_required(*READERS)
def instance_list():
    """Find case instances by process, version, status, division, overdue or incident."""
    wanted = _filter()
    pager = Pager(_page_number(), 0)
    rows, pager.total = instances.search(db.session, wanted, pager.offset, pager.size)
    return render_template("processadmin/instances.html", rows=rows, pager=pager, wanted=wanted,
                           statuses=instances.STATUS_LABELS,
                           processes={row["key"]: row["name"] for row in definition_summary(db.session)
                                      if row["kind"] == "流程"},
                           divisions=picker(db.session, None, wanted.division if wanted.division else None))


@bp.get("/instances/<int:instance_id>")
@roles_required(*READERS)
def instance_view(instance_id: int):
    """One instance: its diagram with done, waiting and failed steps marked, its data, its event log, actions."""
    instance = instances.get_instance(db.session, instance_id)
    if instance is None:
        abort(404)
    states = RUNTIME.element_states(db.session, instance_id)
    movable = RUNTIME.reached_steps(db.session, instance_id) if instance.status in {"running", "error"} else []
    db.session.rollback()  # reached_steps locked the row for a consistent read; this page writes nothing
    return render_template(
        "processadmin/instance.html", instance=instance, statuses=instances.STATUS_LABELS,
        svg=Markup(render_svg(instance.definition.xml, states)),  # noqa: S704 - render_svg escapes every name
        events=instances.event_log(db.session, instance), incidents=instances.incidents(db.session, instance_id),
        service_tasks=instances.service_tasks(db.session, instance), steps=instances.step_names(db.session, instance),
        place=place,
        movable=movable, form=ReasonForm(), may_act=_may_act(),
        data=RUNTIME.data(db.session, instance_id), recorded=recorded_fields(db.session, instance_id),
        case=cases.get_case(db.session, instance.business_key) if instance.business_key else None)


@bp.post("/instances/<int:instance_id>/<action>")
@roles_required(POLICY_ADMIN)
def instance_action(instance_id: int, action: str):
    """Suspend, resume, cancel (with a reason), retry failed service tasks, or move a stuck case back a step."""
    if instances.get_instance(db.session, instance_id) is None:
        abort(404)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash("；".join(e for errors in form.errors.values() for e in errors) or "表单无效，请重试", "error")
    elif action == "cancel" and (form.reason.data or "").strip() and not confirmed():
        return ask_confirmation(f"撤销案件实例 {instance_id}", [
            f"撤销后，该案件停止办理，所有待办任务关闭，且不能恢复。撤销原因：{form.reason.data.strip()}"],
            "确认撤销", url_for("processadmin.instance_view", instance_id=instance_id))
    else:
        try:
            flash(instances.act(db.session, instance_id, action, _actor(), form.reason.data or "",
                                form.target.data or ""), "success")
        except EngineError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    return redirect(url_for("processadmin.instance_view", instance_id=instance_id))


# -- assignment rules ----------------------------------------------------------------------------------------------


def _assignment_form() -> AssignmentForm:
    form = AssignmentForm()
    form.role.choices = [("", "请选择"), *((r, ROLES[r]) for r in STAFF_ROLES)]
    form.jurisdiction_field.choices = [("", "不按辖区"), *JURISDICTION_FIELDS.items()]
    return form


def _rules_page(form, status=200):
    return render_template("processadmin/rules.html", rules=assignments.list_rules(db.session), form=form,
                           roles=ROLES, fields=JURISDICTION_FIELDS, may_act=_may_act()), status


@bp.get("/rules")
@roles_required(*READERS)
def rules():
    """The assignment rules: which lane or group name in a diagram goes to which staff role and jurisdiction."""
    return _rules_page(_assignment_form())


@bp.post("/rules")
@roles_required(POLICY_ADMIN)
def save_rule():
    """Add a rule, or change where an existing name's tasks go."""
    form = _assignment_form()
    if form.validate_on_submit():
        try:
            rule = instances.save_assignment(db.session, form.name.data, form.role.data,
                                             form.jurisdiction_field.data, _actor())
        except instances.InvalidRequest as exc:
            form.name.errors = [*form.name.errors, str(exc)]
        else:
            flash(f"已保存规则：{rule.name} → {ROLES[rule.role]}", "success")
            return redirect(url_for("processadmin.rules"))
    return _rules_page(form, status=422)
