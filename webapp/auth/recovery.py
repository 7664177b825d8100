"""Password recovery (找回密码): by an SMS code to the account's phone, or by a link emailed to its address.

Neither path tells whether a phone or an address is registered: the pages answer the same either way (an unknown
phone gets a code that is counted but never sent, see `sms_codes.issue_code`). A new password lifts any sign-in
lock and ends every session of the account; the person then signs in with it. Recovery is open to a locked account
(that is what lets its owner past a stranger's guessing); attempts are limited per client address and per phone or
email address (rate limits `recovery:*`).
"""

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user

from forms.auth import EmailResetForm, NewPasswordForm, SmsResetForm
from services import accounts, password_reset, sms_codes
from services.db import db
from webapp.auth import bp, issue_code
from webapp.auth.registration import WRONG_CODE
from webapp.external_urls import external_url
from webapp.throttling import client_address, limit

EMAIL_SENT = "如果该邮箱已绑定账号，我们已向其发送重置密码的链接，请在 {minutes} 分钟内打开邮件中的链接设置新密码。"
LINK_INVALID = "重置密码链接无效、已过期或已使用，请重新申请"
DONE = "密码已重置，请使用新密码登录"


def _signed_in_elsewhere():
    return redirect(url_for("auth.me")) if current_user.is_authenticated else None


@bp.get("/forgot")
def forgot():
    """Offer the two ways to recover a password."""
    if elsewhere := _signed_in_elsewhere():
        return elsewhere
    return render_template("auth/forgot.html")


def _sms_page(form: SmsResetForm, error: str | None = None):
    return render_template("auth/forgot_sms.html", form=form, error=error)


@bp.route("/forgot/sms", methods=["GET", "POST"])
def forgot_sms():
    """Set a new password with a code sent to the account's phone."""
    if elsewhere := _signed_in_elsewhere():
        return elsewhere
    form = SmsResetForm()
    if not form.validate_on_submit():
        return _sms_page(form)
    limit([("recovery:address", client_address()), ("recovery:account", form.phone.data)])
    account = accounts.find_by_phone(db.session, form.phone.data)
    if not sms_codes.verify_code(db.session, form.phone.data, sms_codes.RESET_PASSWORD, form.code.data) \
            or account is None or not account.active:
        form.code.errors = [WRONG_CODE]
        return _sms_page(form)  # 200: the request edge keeps the attempt counted against the code
    accounts.set_password(db.session, account, form.password.data, reason="sms_reset")
    flash(DONE, "success")
    return redirect(url_for("auth.login"))


@bp.post("/forgot/sms/code")
def forgot_sms_code():
    """Send a recovery code (获取验证码); an unknown phone gets the same answer and no SMS."""
    if elsewhere := _signed_in_elsewhere():
        return elsewhere
    form = SmsResetForm()  # only the phone is checked now (CSRF was, before the view)
    if not form.phone.validate(form):
        return _sms_page(form)
    account = accounts.find_by_phone(db.session, form.phone.data)
    issue_code(form.phone.data, sms_codes.RESET_PASSWORD, deliver=account is not None and account.active)
    return _sms_page(form)


def _link_for(token: str) -> str:
    return external_url("auth.reset", token=token)


@bp.route("/forgot/email", methods=["GET", "POST"])
def forgot_email():
    """Email a reset link to the address, if an account has it (the answer is the same either way)."""
    if elsewhere := _signed_in_elsewhere():
        return elsewhere
    form = EmailResetForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot_email.html", form=form)
    limit([("recovery:address", client_address()), ("recovery:account", form.email.data.lower())])
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    password_reset.send_links(db.session, form.email.data, current_app.config["SECRET_KEY"], _link_for, minutes)
    flash(EMAIL_SENT.format(minutes=minutes), "info")
    return redirect(url_for("auth.forgot_email"))


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    """Set a new password through an emailed link (once, within its lifetime)."""
    if elsewhere := _signed_in_elsewhere():
        return elsewhere
    account = password_reset.account_for_token(db.session, token, current_app.config["SECRET_KEY"],
                                               current_app.config["PASSWORD_RESET_MINUTES"] * 60)
    if account is None:
        return render_template("auth/reset.html", form=None, invalid=LINK_INVALID)
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/reset.html", form=form, invalid=None)
    accounts.set_password(db.session, account, form.password.data, reason="email_reset")
    flash(DONE, "success")
    return redirect(url_for("auth.login"))
