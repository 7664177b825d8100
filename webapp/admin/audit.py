"""The audit trail for the system administrator: search by person, actor, case, kind and dates; export as CSV.

The search form is posted and its values travel on in a sealed token (webapp.search_tokens): an ID number typed
into it never appears in a URL, so neither in access logs nor in the browser's history.
"""

import csv
import io
from datetime import datetime

from flask import Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from engine.calendar import CST
from engine.models import ProcessInstanceModel
from processes.overview import actor_names
from processes.roles import SYSTEM_ADMIN
from services import audit
from services.cases import CaseModel
from services.crypto import blind
from services.db import db
from webapp import search_tokens
from webapp.admin import Pager, _account, _page_number, bp, roles_required, step_names
from webapp.admin.labels import ACTOR_NAMES
from webapp.people import _cell as spreadsheet_text

BAD_DATE = "日期格式应为 YYYY-MM-DD"


def _query_from_token() -> tuple[audit.AuditQuery, str | None]:
    token = request.args.get("q")
    if not token:
        return audit.AuditQuery(), None
    values = search_tokens.open_token(token, _account().id)
    if values is None:
        flash(search_tokens.EXPIRED, "warning")
        return audit.AuditQuery(), None
    return audit.AuditQuery.from_dict(values), token


def _case_numbers(rows) -> dict[int, str]:
    ids = {row.instance_id for row in rows if row.instance_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(CaseModel.instance_id, CaseModel.case_number)
                                   .where(CaseModel.instance_id.in_(ids))).all())


def _people_named(rows) -> set[str]:
    """The accounts an event names: who acted, and whom it was about (an account's `user:N` subject)."""
    return {row.actor for row in rows} | {row.subject for row in rows if row.subject}


def _step_names(rows) -> dict[int, dict[str, str]]:
    ids = {row.instance_id for row in rows if row.instance_id is not None and row.element}
    return step_names(db.session.scalars(select(ProcessInstanceModel).where(ProcessInstanceModel.id.in_(ids)))
                      if ids else [])


@bp.get("/audit")
@roles_required(SYSTEM_ADMIN)
def audit_log():
    """Show a page of audit events matching the posted search (the newest first)."""
    query, token = _query_from_token()
    found = audit.search(db.session, query, _page_number())
    return render_template("admin/audit.html", query=query, rows=found.rows, token=token,
                           pager=Pager(found.page, found.total, found.size), kinds=audit.KIND_LABELS,
                           names=ACTOR_NAMES | actor_names(db.session, _people_named(found.rows)),
                           case_numbers=_case_numbers(found.rows), steps=_step_names(found.rows),
                           detail=audit.shown_detail)


@bp.post("/audit")
@roles_required(SYSTEM_ADMIN)
def audit_search():
    """Take the search form, and show its result at a URL carrying only a sealed token."""
    try:
        query = audit.AuditQuery.from_dict(request.form)
    except ValueError:
        flash(BAD_DATE, "error")
        return redirect(url_for("admin.audit_log"), code=303)
    return redirect(url_for("admin.audit_log", q=search_tokens.seal(query.as_dict(), _account().id)), code=303)


@bp.get("/audit/export")
@roles_required(SYSTEM_ADMIN)
def audit_export():
    """Download the events matching the search as CSV; the export itself is audited."""
    query, _token = _query_from_token()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(audit.EXPORT_COLUMNS)
    count = 0
    for row in audit.export_rows(db.session, query):
        writer.writerow([spreadsheet_text(value) for value in row])
        count += 1
    # What was searched for, without the ID number itself (its blind index finds the export again).
    searched = {**query.as_dict(), "id_number": blind(query.id_number) if query.id_number else ""}
    audit.record(db.session, _account().actor, "audit_exported", rows=count, query=searched)
    # A byte order mark: Excel opens UTF-8 CSV as Chinese text only with one.
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="audit-{datetime.now(CST):%Y%m%d%H%M}.csv"'})
