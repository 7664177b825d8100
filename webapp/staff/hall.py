"""The service-hall page: find a case by number and a spouse's ID number, see where it stands, print its slip.

The ID number travels in POST bodies only, never in a URL (URLs end up in logs and browser history).
"""

from flask import abort, flash, render_template
from flask_login import current_user

from forms.hall import HallPrintForm, HallSearchForm
from processes import hall
from services import slips
from services.accounts import UserModel
from services.db import db
from webapp.slips import pdf_response
from webapp.staff import bp, staff_required

NOT_FOUND = "未找到：请核对受理编号和公民身份号码（仅可查询本辖区的申请）"


def _hall_account() -> UserModel:
    account = current_user.account
    if not hall.may_use_hall(account):
        abort(403)
    return account


@bp.route("/hall", methods=["GET", "POST"])
@staff_required
def hall_page():
    """Search form; on a match, the case's summary and a print button."""
    account = _hall_account()
    form = HallSearchForm()
    case = slip = None
    if form.validate_on_submit():
        case = hall.find_case(db.session, account, form.case_number.data, form.id_number.data)
        if case is None:
            flash(NOT_FOUND, "error")
        else:
            slip = slips.slip_of_case(db.session, case)
    return render_template("staff/hall.html", form=form, case=case, slip=slip,
                           print_form=HallPrintForm(formdata=None, data=form.data) if case else None)


@bp.post("/hall/print")
@staff_required
def hall_print():
    """Send the slip inline for printing, and audit the print."""
    account = _hall_account()
    form = HallPrintForm()
    if not form.validate_on_submit():
        abort(400)
    case = hall.find_case(db.session, account, form.case_number.data, form.id_number.data)
    if case is None:
        abort(404)
    slip = slips.slip_of_case(db.session, case)
    if slip is None:
        flash("该申请尚未办结，没有可打印的登记单", "warning")
        return render_template("staff/hall.html", form=HallSearchForm(formdata=None), case=None, slip=None,
                               print_form=None), 200
    hall.record_print(db.session, account, case)
    return pdf_response(case, slip, attachment=False)
