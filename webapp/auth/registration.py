"""Citizen registration (注册): the notice first, then a real-name form confirmed by an SMS code.

The notice must be accepted before the form is shown or taken: acceptance is kept in the session, and every POST
of the form checks it again (a client that skips the notice page is sent back to it, and nothing is written).
Checks run cheapest first: the formats, then the SMS code, so a form with a mistake does not use up the code.

Until the code is proven the pages are the same whether the phone or the ID number already has an account, so the
form cannot be used to find out who is registered. Asking for a code always answers that it was sent: a registered
phone gets a notice instead of a code (counted against the same limits, so the waits match too), and a code it never
received cannot be proven. Only after the code, which shows the person holds the phone, may a taken phone be named.
"""

from flask import flash, redirect, render_template, session, url_for
from flask_login import current_user

from forms.auth import NoticeForm, RegisterForm
from services import accounts, consents, identity_check, notifications, sms_codes
from services.db import db
from webapp.auth import bp, issue_code, sign_in_account

NOTICE_KEY = "register_notice_accepted"
WRONG_CODE = "验证码不正确或已失效，请核对短信或重新获取"
NOTICE_FIRST = "请先阅读并同意注册须知"


def _notice_page(form: NoticeForm | None = None, error: str | None = None):
    return render_template("auth/register_notice.html", form=form or NoticeForm(), error=error)


def _form_page(form: RegisterForm, error: str | None = None):
    return render_template("auth/register.html", form=form, error=error)


def _signed_in_elsewhere():
    return redirect(url_for("portal.index")) if current_user.is_authenticated else None


@bp.get("/register")
def register():
    """Show the registration notice, or the form once the notice has been accepted."""
    if elsewhere := _signed_in_elsewhere():
        return elsewhere
    if not session.get(NOTICE_KEY):
        return _notice_page()
    return _form_page(RegisterForm())


@bp.post("/register/notice")
def accept_notice():
    """Record that the notice was read and accepted, and go on to the form."""
    if elsewhere := _signed_in_elsewhere():
        return elsewhere
    form = NoticeForm()
    if not form.validate_on_submit():
        return _notice_page(form)
    session[NOTICE_KEY] = True
    return redirect(url_for("auth.register"))


@bp.post("/register/code")
def register_code():
    """Send a registration code to the phone typed into the form (获取验证码), and show the form again."""
    if elsewhere := _signed_in_elsewhere():
        return elsewhere
    if not session.get(NOTICE_KEY):
        return _notice_page(error=NOTICE_FIRST)
    form = RegisterForm()  # shown again as typed (passwords are never sent back); only the phone is checked now
    if not form.phone.validate(form):
        return _form_page(form)
    registered = accounts.find_by_phone(db.session, form.phone.data) is not None
    if issue_code(form.phone.data, sms_codes.REGISTER, deliver=not registered) and registered:
        notifications.send_sms(db.session, [form.phone.data], "phone_already_registered", {})
    return _form_page(form)


@bp.post("/register")
def register_submit():
    """Create the citizen's account, sign them in, and go to the citizen home."""
    if elsewhere := _signed_in_elsewhere():
        return elsewhere
    if not session.get(NOTICE_KEY):
        return _notice_page(error=NOTICE_FIRST)
    form = RegisterForm()
    if not form.validate_on_submit():
        return _form_page(form)
    problems = {}
    if not sms_codes.verify_code(db.session, form.phone.data, sms_codes.REGISTER, form.code.data):
        problems = {"code": WRONG_CODE}
    else:
        # The code is proven (and used up): only from here may the answer depend on what is already registered,
        # and only from here is the identity provider asked (each check is charged, and before the code it would
        # let anyone test names against ID numbers).
        try:
            verdict = identity_check.check(form.name.data, form.id_number.data)
            if not verdict.matched:
                raise accounts.RegistrationRefused({"id_number": verdict.message})
            account = accounts.register_citizen(
                db.session, phone=form.phone.data, name=form.name.data, id_number=form.id_number.data,
                password=form.password.data, email=form.email.data or None, identity_level=verdict.level,
            )
            consents.record(db.session, account, consents.REGISTRATION)  # the notice accepted includes the policy
        except identity_check.ProviderUnavailable as exc:
            problems = {"id_number": str(exc)}
        except accounts.RegistrationRefused as exc:
            problems = exc.problems
    if problems:
        for name, message in problems.items():
            form[name].errors = [message]
        # 200, so that the request edge keeps the attempt counted against the code.
        return _form_page(form, error="注册未完成，请按提示修改后重新提交")
    sign_in_account(account)
    flash("注册成功，您已登录", "success")
    if not account.holds_id_number:
        flash("您填写的身份证号码需要现场核验：请携带本人身份证原件到乡镇（街道）服务大厅办理身份核验，"
              "核验前无法以该号码查看或办理任何已有的登记信息。", "warning")
    return redirect(url_for("citizen.notice"))
