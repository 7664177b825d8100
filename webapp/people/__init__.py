"""The resource base for staff (信息资源库查询): search persons, read one, reveal numbers (audited), export a list.

The rules — who sees whom, what is masked, what is audited — live in processes.resource_base; these views only
carry requests to it. Searches are POSTed and their results drawn on that response, so no ID number or phone ever
sits in a URL. A person outside the reader's jurisdiction is a 404, as if there were none.
"""

import csv
import io
from datetime import datetime
from functools import wraps

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from engine.calendar import CST
from engine.errors import NotFound
from forms.people import PeopleExportForm, PersonSearchForm, RevealForm
from processes import resource_base
from processes.casework import Forbidden
from processes.jurisdiction import CASE_READERS
from processes.resource_base import EmptyQuery, ResourceBaseError
from services.accounts import UserModel
from services.codes import SEXES
from services.db import db

bp = Blueprint("people", __name__, url_prefix="/staff/people", template_folder="templates", static_folder="static")

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A spreadsheet runs a cell that starts with one of these as a formula; exported text must stay text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def readers_only(view):
    """Let in signed-in users whose role reads the resource base; everyone else gets 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not resource_base.may_use(current_user.account):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _account() -> UserModel:
    return current_user.account


@bp.after_request
def _not_cached(response: Response) -> Response:
    """Keep pages and files about persons out of browser and proxy caches."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_number(value: str | None) -> int:
    return int(value) if value and value.isascii() and value.isdigit() and 0 < len(value) < 7 and int(value) else 1


def _render_search(form: PersonSearchForm, result=None, message: tuple[str, str] | None = None):
    account = _account()
    export_form = PeopleExportForm(formdata=None)
    return render_template("people/search.html", form=form, result=result, message=message,
                           export_form=export_form, sexes=SEXES,
                           officials=not resource_base.sees_names(account),
                           full_export=account.role in resource_base.FULL_NUMBER_EXPORTERS)


@bp.route("/", methods=["GET", "POST"])
@readers_only
def search_page():
    """Show the search form (GET); run the search and show its page of results (POST)."""
    form = PersonSearchForm()
    if request.method == "GET":
        return _render_search(form)
    if not form.validate_on_submit():
        abort(400)
    try:
        result = resource_base.search(db.session, _account(), form.query.data, division=form.division.data,
                                      page=_page_number(form.page.data))
    except EmptyQuery as exc:
        return _render_search(form, message=("info", str(exc)))
    except (ResourceBaseError, Forbidden) as exc:
        return _render_search(form, message=("error", str(exc)))
    return _render_search(form, result=result)


def _person_page(person_id: int, *, reveal: bool):
    try:
        page = resource_base.person_page(db.session, _account(), person_id, reveal=reveal)
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    account = _account()
    return render_template("people/person.html", page=page,
                           officials=not resource_base.sees_names(account), case_links=account.role in CASE_READERS)


@bp.get("/<int:person_id>")
@readers_only
def person(person_id: int):
    """Show one person of the jurisdiction: verified details (numbers masked), history, cases, children."""
    return _person_page(person_id, reveal=False)


@bp.post("/<int:person_id>/reveal")
@readers_only
def reveal(person_id: int):
    """Show the person's whole numbers (and for officials the name); written to the audit trail."""
    if not RevealForm().validate_on_submit():
        abort(400)
    return _person_page(person_id, reveal=True)


# -- export ---------------------------------------------------------------------------------------------------------


def _cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _filename(table: resource_base.ExportTable, extension: str) -> str:
    kind = "counts" if table.aggregate else "people"
    return f"{kind}-{table.scope}-{datetime.now(CST):%Y%m%d}.{extension}"


def _as_csv(table: resource_base.ExportTable) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(table.columns)
    writer.writerows([_cell(value) for value in row] for row in table.rows)
    # A byte order mark: Excel opens UTF-8 CSV as Chinese text only with one.
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{_filename(table, "csv")}"'})


def _as_xlsx(table: resource_base.ExportTable) -> Response:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("people")
    sheet.append([table.title])
    sheet.append(table.columns)
    for row in table.rows:
        sheet.append([_cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(buffer.getvalue(), mimetype=XLSX_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{_filename(table, "xlsx")}"'})


@bp.post("/export")
@readers_only
def export():
    """Download the persons of the jurisdiction (officials: the counts by division) as CSV or XLSX, audited."""
    form = PeopleExportForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        table = resource_base.export(db.session, _account(), name=form.name.data, division=form.division.data,
                                     full_numbers=bool(form.full_numbers.data), fmt=form.file_format.data or "csv")
    except (ResourceBaseError, Forbidden) as exc:
        flash(str(exc), "error")
        return redirect(url_for("people.search_page"))
    return _as_xlsx(table) if form.file_format.data == "xlsx" else _as_csv(table)
