"""Statistics pages for officials: their division's registrations in charts and tables, drill-down by division,
filters by month range and type, and each figure exported as CSV or XLSX.
"""

import csv
import io
from datetime import date, datetime

from flask import Blueprint, Response, abort, render_template, request
from flask.blueprints import BlueprintSetupState
from flask_login import current_user, login_required
from markupsafe import Markup

from services import audit, divisions, statistics
from services.cases import CASE_TYPES
from services.db import db
from webapp.people import _cell as spreadsheet_text
from webapp.statistics import charts, step_fields
from webapp.statistics.scope import OutOfScope, scope_for, summary_for

bp = Blueprint("statistics", __name__, url_prefix="/statistics", template_folder="templates",
               static_folder="static")

DEEPEST_DRILL = 9  # divisions are drilled down to townships; their villages are listed, not opened
EXPORT_FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PERCENT_FORMAT = "0.0%"
STEP_FIELDS_TITLE = "各环节填写的内容"
# Excel refuses these in a sheet name; their full-width forms read the same.
SHEET_NAME_SWAPS = str.maketrans({"/": "／", "\\": "＼", "?": "？", "*": "＊", "[": "［", "]": "］", ":": "："})
SHEET_NAME_LENGTH = 31


@bp.record_once
def _configure_tally(state: BlueprintSetupState) -> None:
    """Keep the tally for the promised limit the pages count with."""
    statistics.configure(state.app.config["STATS_LIMIT_DAYS"])


def _scope_and_filters() -> tuple[str, statistics.Filters]:
    """Return the division and filters the request asks for; 403 outside the reader's division."""
    try:
        code = scope_for(current_user.account, request.args.get("division"))
    except OutOfScope:
        abort(403)
    filters = statistics.Filters.parse(request.args.get("from"), request.args.get("to"), request.args.get("type"))
    return code, filters


def chart_of(figure: statistics.Figure) -> Markup | None:
    """Draw the chart of one figure (None for the figures shown as a table only)."""
    if figure.chart == "bar":
        return charts.bar_chart(figure.title, [(row[0], row[1]) for row in figure.rows])
    if figure.chart == "donut":
        return charts.donut_chart(figure.title, [(row[0], row[1]) for row in figure.rows])
    if figure.chart == "line":
        series = [(label, [row[index + 1] for row in figure.rows]) for index, label in enumerate(CASE_TYPES.values())]
        return charts.line_chart(figure.title, [row[0] for row in figure.rows], series)
    return None


@bp.get("/")
@login_required
def dashboard():
    """Show the statistics of the reader's division, or of a division inside it."""
    account = current_user.account
    try:
        code, filters = _scope_and_filters()
        summary = summary_for(code, filters)
    except statistics.StatisticsError as exc:
        return render_template("statistics/dashboard.html", summary=None, error=str(exc), args=request.args,
                               case_types=CASE_TYPES), 400
    own_length = len(account.division_code)
    return render_template("statistics/dashboard.html", summary=summary, error=None, args=request.args,
                           case_types=CASE_TYPES, chart_of=chart_of, own_length=own_length,
                           drillable=len(code) < DEEPEST_DRILL, filter_args=filters.query_args())


def _figure(summary: statistics.Summary, key: str) -> statistics.Figure:
    found = next((figure for figure in summary.figures if figure.key == key), None)
    if found is None:
        abort(404)
    return found


def _filename(summary: statistics.Summary, figure: statistics.Figure, extension: str) -> str:
    return f"statistics-{summary.code}-{figure.key}.{extension}"


def _as_csv(summary: statistics.Summary, figure: statistics.Figure) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(figure.columns)
    writer.writerows(figure.rows)
    # A byte order mark: Excel opens UTF-8 CSV as Chinese text only with one.
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{_filename(summary, figure, "csv")}"'})


def sheet_name(title: str) -> str:
    """Return a figure's title as an Excel sheet name (no reserved characters, at most 31 characters)."""
    return title.translate(SHEET_NAME_SWAPS)[:SHEET_NAME_LENGTH]


def _as_xlsx(summary: statistics.Summary, figure: statistics.Figure) -> Response:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_name(figure.title)
    sheet.append([f"{summary.name}（{summary.code}）{figure.title}"])
    sheet.append(figure.columns)
    for row in figure.rows:
        # Counts and shares stay numbers, so the sheet sums and charts them; a missing value is an empty cell.
        sheet.append([None if cell == statistics.NO_VALUE else cell for cell in row])
        for cell, value in zip(sheet[sheet.max_row], row, strict=True):
            if isinstance(value, statistics.Share):
                cell.number_format = PERCENT_FORMAT
    sheet.column_dimensions["A"].width = 24
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(buffer.getvalue(), mimetype=XLSX_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{_filename(summary, figure, "xlsx")}"'})


@bp.get("/export/<key>.<extension>")
@login_required
def export(key: str, extension: str):
    """Download one figure's table as CSV or XLSX, for the same division and filters as the page."""
    if extension not in EXPORT_FORMATS:
        abort(404)
    try:
        code, filters = _scope_and_filters()
        summary = summary_for(code, filters)
    except statistics.StatisticsError:
        abort(400)
    figure = _figure(summary, key)
    return _as_csv(summary, figure) if extension == "csv" else _as_xlsx(summary, figure)


def _steps_as_csv(tables: list[step_fields.StepTable]) -> bytes:
    """One row per recorded field: the step, the case columns, the field's label and its value as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["环节", *step_fields.LEADING_COLUMNS, "字段", "填写内容"])
    for table in tables:
        for leading, values in table.rows:
            for field_id, label in table.labels.items():
                if values.get(field_id) is not None:
                    cells = [table.name, *leading[:-1], f"{leading[-1]:%Y-%m-%d %H:%M}", label, values[field_id]]
                    writer.writerow([spreadsheet_text(str(cell)) for cell in cells])
    return ("\ufeff" + buffer.getvalue()).encode()


def _steps_as_xlsx(title: str, tables: list[step_fields.StepTable]) -> bytes:
    """One sheet per step, one column per field of its form, typed cells (dates as dates, numbers as numbers)."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    used: set[str] = set()
    for table in tables or [step_fields.StepTable("无办理记录")]:
        name = sheet_name(table.name)
        while name in used:  # two steps of one name (in different diagrams) get a number
            name = sheet_name(f"{table.name[:27]}{len(used) + 1}")
        used.add(name)
        sheet = workbook.create_sheet(name)
        sheet.append([title])
        sheet.append(table.columns)
        for row in table.cells():
            sheet.append([spreadsheet_text(cell) for cell in row])
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, date) and not isinstance(cell.value, datetime):
                    cell.number_format = step_fields.DATE_FORMAT
                elif isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
        sheet.column_dimensions["A"].width = 20
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@bp.get("/export/steps/fields.<extension>")
@login_required
def export_step_fields(extension: str):
    """Download 各环节填写的内容 of the page's division and filters: every step's form fields, labelled."""
    if extension not in EXPORT_FORMATS:
        abort(404)
    try:
        code, filters = _scope_and_filters()
        with db.statistics_session() as reader:
            tables = step_fields.step_tables(reader, code, filters)
            place = divisions.full_names(reader, [code]).get(code, code)
    except statistics.StatisticsError as exc:
        return Response(str(exc), status=400, mimetype="text/plain")
    # Case-level answers, unlike the counts: who exported which range is kept.
    audit.record(db.session, current_user.account.actor, "step_fields_exported", division=code,
                 filters=filters.query_args(), rows=sum(len(table.rows) for table in tables), format=extension)
    filename = f"statistics-{code}-step-fields.{extension}"
    body = (_steps_as_csv(tables) if extension == "csv"
            else _steps_as_xlsx(f"{place}（{code}）{STEP_FIELDS_TITLE}", tables))
    return Response(body, mimetype="text/csv" if extension == "csv" else XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
