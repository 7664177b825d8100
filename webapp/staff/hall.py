"""The service-hall pages: find a case of the township by its number, a spouse's ID number, or a spouse's name and
birth date; see where it stands, print its slip; confirm a registrant's identity from their ID card.

The ID number travels in POST bodies only, never in a URL (URLs end up in logs and browser history).
"""

from flask import abort, flash, render_template
from flask_login import current_user

from forms.case_lookup import WAYS, CaseLookupForm
from forms.hall import HallPrintForm, IdentityConfirmForm, IdentityLookupForm
from processes import case_lookup, hall
from services import identity_check, slips
from services.accounts import UserModel
from services.db import db
from services.identity_binding import BindingRefused
from webapp.slips import pdf_response
from webapp.staff import bp, staff_required

NOT_FOUND = "未找到：请核对输入的内容（仅可查询本辖区的申请）"


def _hall_account() -> UserModel:
    account = current_user.account
    if not hall.may_use_hall(account):
        abort(403)
    return account


def _hall_page(form: CaseLookupForm, found: list | None = None, status: int = 200):
    """Draw the search, and under it the one case found (with its slip) or the cases to pick from."""
    case = found[0] if found and len(found) == 1 else None
    slip = slips.slip_of_case(db.session, case) if case is not None else None
    return render_template("staff/hall.html", form=form, ways=WAYS, case=case, slip=slip,
                           choices=case_lookup.choices(found) if found and case is None else [],
                           print_form=HallPrintForm(formdata=None, case_number=case.case_number) if slip else None,
                           pick_form=CaseLookupForm(formdata=None)), status


@bp.route("/hall", methods=["GET", "POST"])
@staff_required
def hall_page():
    """Search the township's cases by 受理编号, a spouse's ID number, or name and birth date (by POST, so no ID
    number reaches a URL); one match shows the case and its print button, several a list to pick from."""
    account = _hall_account()
    form = CaseLookupForm()
    if not form.validate_on_submit():
        return _hall_page(form)
    found = hall.find_cases(db.session, account, **form.criteria)
    if not found:
        flash(NOT_FOUND, "error")
    return _hall_page(form, found)


@bp.post("/hall/print")
@staff_required
def hall_print():
    """Send the slip inline for printing, and audit the print."""
    account = _hall_account()
    form = HallPrintForm()
    if not form.validate_on_submit():
        abort(400)
    case = hall.case_in_hall(db.session, account, form.case_number.data)
    if case is None:
        abort(404)
    slip = slips.slip_of_case(db.session, case)
    if slip is None:
        flash("该申请尚未办结，没有可打印的登记单", "warning")
        return _hall_page(CaseLookupForm(formdata=None))
    hall.record_print(db.session, account, case)
    return pdf_response(case, slip, attachment=False)


def _identity_page(lookup: IdentityLookupForm, account: UserModel | None = None,
                   confirm: IdentityConfirmForm | None = None, status: int = 200):
    return render_template("staff/hall_identity.html", lookup=lookup, account=account, confirm=confirm,
                           levels=identity_check.LEVEL_LABELS), status


@bp.route("/hall/identity", methods=["GET", "POST"])
@staff_required
def hall_identity():
    """Find a registrant's account by phone, to confirm their identity from the ID card in front of staff."""
    account = _hall_account()
    lookup = IdentityLookupForm()
    if not lookup.validate_on_submit():
        return _identity_page(lookup)
    found = hall.account_to_confirm(db.session, account, lookup.phone.data)
    if found is None:
        flash("未找到该手机号码注册的申请人账号", "error")
        return _identity_page(lookup)
    return _identity_page(lookup, found, IdentityConfirmForm(formdata=None, data={"phone": lookup.phone.data}))


@bp.post("/hall/identity/confirm")
@staff_required
def hall_identity_confirm():
    """Bind the ID number on the card to the account, at the in-person level (audited)."""
    account = _hall_account()
    confirm = IdentityConfirmForm()
    lookup = IdentityLookupForm(formdata=None, data={"phone": confirm.phone.data})
    found = hall.account_to_confirm(db.session, account, confirm.phone.data or "")
    if found is None:
        abort(404)
    if not confirm.validate_on_submit():
        return _identity_page(lookup, found, confirm)
    try:
        hall.confirm_identity(db.session, account, confirm.phone.data, confirm.id_number.data, confirm.name.data)
    except BindingRefused as refused:
        flash(str(refused), "error")
        return _identity_page(lookup, found, confirm)
    flash(f"已完成现场身份核验：{found.name} 的账号已绑定该身份证号码", "success")
    return _identity_page(IdentityLookupForm(formdata=None))
