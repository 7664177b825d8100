"""The holiday table for the system administrator: a page per year to add and remove public holidays and adjusted
working days (调休), and the import of the State Council's notice as CSV.

Every administration page warns when the table runs out within `holidays.WARNING_DAYS`, and the workbench marks a
deadline past the table's end as provisional (counted Monday to Friday only).
"""

from datetime import date, datetime

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from engine.calendar import HolidayModel, china_today
from processes.roles import SYSTEM_ADMIN
from services import holidays
from services.db import db
from webapp.admin import _account, bp, roles_required
from webapp.confirm import ask_confirmation, confirmed

# A notice is a few dozen rows; anything much larger is not one.
NOTICE_MAX_BYTES = 64 * 1024
MARK_LABELS = {False: "休（放假）", True: "班（调休上班）"}


def _covered_until() -> date | None:
    """The table's last covered day, read once per request however many deadlines a page shows."""
    if "holidays_covered_until" not in g:
        g.holidays_covered_until = holidays.covered_until(db.session)
    return g.holidays_covered_until


@bp.app_template_test("provisional")
def provisional(deadline: datetime | None) -> bool:
    """`{% if task.due_at is provisional %}`: the deadline falls past the holiday table, counted Monday to Friday."""
    return deadline is not None and holidays.is_provisional(deadline, _covered_until())


@bp.app_template_global()
def holiday_table_warning() -> str | None:
    """The warning a system administrator sees on the administration pages while the table runs out."""
    if not current_user.is_authenticated or current_user.account.role != SYSTEM_ADMIN:
        return None
    return holidays.table_warning(db.session)


def _year_or_404(year: int) -> int:
    if not holidays.MIN_YEAR <= year <= holidays.MAX_YEAR:
        abort(404)
    return year


def _years_page(status: int = 200, problems: list[str] | None = None):
    until = holidays.covered_until(db.session)
    return render_template("admin/holidays.html", years=holidays.years(db.session), until=until,
                           next_year=(until.year + 1) if until else china_today().year,
                           problems=problems or []), status


@bp.get("/holidays")
@roles_required(SYSTEM_ADMIN)
def holiday_years():
    """List the years with entries, with the forms to open a year and to import a notice."""
    return _years_page()


@bp.get("/holidays/year")
@roles_required(SYSTEM_ADMIN)
def holiday_year_open():
    """Open the page of the year typed into the list page's form."""
    value = (request.args.get("year") or "").strip()
    if not (value.isascii() and value.isdigit() and holidays.MIN_YEAR <= int(value) <= holidays.MAX_YEAR):
        flash(f"年份应为 {holidays.MIN_YEAR}–{holidays.MAX_YEAR} 之间的四位数字", "error")
        return redirect(url_for("admin.holiday_years"))
    return redirect(url_for("admin.holiday_year", year=int(value)))


def _year_page(year: int, status: int = 200, problems: list[str] | None = None, entered: dict | None = None):
    return render_template("admin/holiday_year.html", year=year, days=holidays.year_days(db.session, year),
                           problems=problems or [], entered=entered or {}, marks=MARK_LABELS,
                           describe=holidays.describe), status


@bp.get("/holidays/<int:year>")
@roles_required(SYSTEM_ADMIN)
def holiday_year(year: int):
    """Show one year's public holidays and adjusted working days, with the form to add a day."""
    return _year_page(_year_or_404(year))


@bp.post("/holidays/<int:year>/days")
@roles_required(SYSTEM_ADMIN)
def holiday_add(year: int):
    """Add one day of the year (audited), or show the page again saying why not."""
    _year_or_404(year)
    entered = {key: (request.form.get(key) or "").strip() for key in ("day", "mark", "name")}
    try:
        day = date.fromisoformat(entered["day"])
    except ValueError:
        return _year_page(year, 400, ["请选择有效的日期"], entered)
    if day.year != year:
        return _year_page(year, 400, [f"日期 {day.isoformat()} 不在 {year} 年，请到该年份的页面录入"], entered)
    if entered["mark"] not in holidays.MARKS:
        return _year_page(year, 400, ["请选择「休」（放假）或「班」（调休上班）"], entered)
    entry = holidays.HolidayEntry(day=day, is_workday=holidays.MARKS[entered["mark"]], name=entered["name"])
    try:
        holidays.add_day(db.session, entry, _account().actor)
    except holidays.HolidayProblems as exc:
        db.session.rollback()
        return _year_page(year, 400, exc.problems, entered)
    db.session.commit()
    flash(f"已录入 {holidays.describe(day)} {entered['mark']}：{entry.name}", "success")
    return redirect(url_for("admin.holiday_year", year=year))


@bp.post("/holidays/<int:year>/days/<day>/delete")
@roles_required(SYSTEM_ADMIN)
def holiday_remove(year: int, day: str):
    """Remove one day of the year (audited)."""
    _year_or_404(year)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        abort(404)
    entry = db.session.get(HolidayModel, when) if when.year == year else None
    if entry is not None and not confirmed():
        usual = "工作日" if when.weekday() < 5 else "休息日"  # noqa: PLR2004 - Monday to Friday
        return ask_confirmation(f"删除 {holidays.describe(when)}：{entry.name}", [
            f"删除后，{when.isoformat()} 不再按{MARK_LABELS[entry.is_workday]}计算，而按平常的{usual}计算；"
            "此后算出的办理时限随之改变，已算出的不变。"], "确认删除", url_for("admin.holiday_year", year=year))
    removed = holidays.remove_day(db.session, when, _account().actor) if when.year == year else None
    if removed is None:
        flash(f"{day} 没有录入记录", "warning")
    else:
        db.session.commit()
        flash(f"已删除 {holidays.describe(when)}：{removed.name}", "success")
    return redirect(url_for("admin.holiday_year", year=year))


@bp.post("/holidays/import")
@roles_required(SYSTEM_ADMIN)
def holiday_import():
    """Import a State Council notice as CSV (日期,休/班,名称), all or nothing (audited)."""
    upload = request.files.get("file")
    data = upload.read(NOTICE_MAX_BYTES + 1) if upload else b""
    if not data:
        problems = ["请选择要导入的 CSV 文件"]
    elif len(data) > NOTICE_MAX_BYTES:
        problems = [f"文件超过 {NOTICE_MAX_BYTES // 1024} KB，不是一份节假日安排"]
    else:
        try:
            covered, count = holidays.import_notice(db.session, data, _account().actor)
        except holidays.HolidayProblems as exc:
            db.session.rollback()
            problems = exc.problems
        else:
            db.session.commit()
            flash(f"已导入 {'、'.join(str(year) for year in covered)} 年的节假日安排，共 {count} 天", "success")
            return redirect(url_for("admin.holiday_year", year=covered[-1]))
    return _years_page(400, problems)
