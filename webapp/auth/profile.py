"""The account page (我的账号): what the account is, its signed-in sessions, and the changes its owner may make.

A citizen's real name and ID number are fixed at registration and only shown (the number masked). Every change of
how the account is reached or opened needs the current password, so a borrowed session cannot take the account:
a new password ends the other sessions (this one stays); a new email takes effect only through a link sent to it;
citizens may move the account to a new phone proven by a code sent to that phone (staff phones are the second
sign-in factor and are managed by administrators). The old email or phone is told of the change.

The page lists the account's live sessions (device, address, times); the owner may end any of them, or all at once.
"""

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from forms.auth import ChangePasswordForm, ChangePhoneForm, EmailForm
from forms.base import BaseForm
from processes.roles import CITIZEN
from services import account_changes, accounts, divisions, identity, sessions, sms_codes
from services.accounts import UserModel
from services.db import db
from webapp.auth import bp, issue_code, sign_out
from webapp.auth.registration import WRONG_CODE
from webapp.confirm import ask_confirmation, confirmed
from webapp.extensions import lifetimes
from webapp.external_urls import external_url

LINK_INVALID = "确认链接无效、已过期或已使用，请在「我的账号」中重新更换邮箱"


def _account() -> UserModel:
    return current_user.account


def _own_password_id(form: EmailForm | ChangePhoneForm, prefix: str) -> EmailForm | ChangePhoneForm:
    # Three forms on one page ask for the current password: each field needs an id (and label) of its own.
    field = form.current_password
    field.id = field.label.field_id = f"{prefix}_current_password"
    return form


def _page(*, email_form: EmailForm | None = None, password_form: ChangePasswordForm | None = None,
          phone_form: ChangePhoneForm | None = None):
    account = _account()
    division = None
    if account.division_code:
        try:
            division = divisions.full_name(db.session, account.division_code)
        except LookupError:
            division = account.division_code
    may_change_phone = account.role == CITIZEN
    idle, absolute = lifetimes(account)
    email_form = _own_password_id(email_form or EmailForm(formdata=None, data={"email": account.email or ""}), "email")
    phone_form = _own_password_id(phone_form or ChangePhoneForm(formdata=None), "phone") if may_change_phone else None
    return render_template(
        "auth/me.html", account=account, division=division,
        masked_id=identity.mask(account.id_number) if account.id_number else None,
        email_form=email_form, phone_form=phone_form,
        password_form=password_form or ChangePasswordForm(formdata=None),
        live_sessions=sessions.live_sessions_of(db.session, account.id, idle=idle, absolute=absolute),
        this_session=current_user.sign_in.id,
    )


@bp.get("/me")
@login_required
def me():
    """Show the signed-in account: 我的账号."""
    return _page()


def _password_proven(form: EmailForm | ChangePasswordForm | ChangePhoneForm) -> bool:
    """Check the form's current password; a wrong one counts towards the lockout and is named on the field.

    The caller answers a refusal with 200, so that the request edge commits the failed attempt.
    """
    try:
        accounts.confirm_password(db.session, _account(), form.current_password.data, wrong="当前密码不正确")
    except accounts.LoginRefused as refused:
        form.current_password.errors = [refused.message]
        return False
    return True


@bp.post("/me/email")
@login_required
def change_email():
    """Remove the email, or send a confirmation link to a new one; the change needs the current password."""
    form = EmailForm()
    if not form.validate_on_submit():
        return _page(email_form=form)
    account, email = _account(), (form.email.data or "").lower()
    if email and email == account.email:
        form.email.errors = ["新邮箱与当前邮箱相同"]
        return _page(email_form=form)
    if not _password_proven(form):
        return _page(email_form=form)
    if not email:
        account_changes.set_email(db.session, account, None)
        flash("电子邮箱已删除", "success")
    elif account_changes.request_email_change(db.session, account, email, current_app.config["SECRET_KEY"],
                                              lambda token: external_url("auth.confirm_email", token=token)):
        flash(f"确认链接已发送至 {email}，请在 {account_changes.CONFIRM_HOURS} 小时内打开邮件中的链接完成更换；"
              "确认之前，账号的电子邮箱不变", "info")
    else:
        flash("发往该邮箱的确认邮件过多，请一小时后再试", "warning")
    return redirect(url_for("auth.me"))


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """Make the address a link was sent to the account's email, once its owner confirms (a page, then a POST).

    The GET only shows what will change: mail scanners open links, and must not change anyone's account.
    """
    pending = account_changes.pending_email_change(db.session, token, current_app.config["SECRET_KEY"])
    if pending is None:
        return render_template("auth/confirm_email.html", form=None, invalid=LINK_INVALID)
    account, email = pending
    form = BaseForm()
    if not form.validate_on_submit():
        return render_template("auth/confirm_email.html", form=form, invalid=None, email=email)
    account_changes.set_email(db.session, account, email)
    flash(f"电子邮箱已更换为 {email}", "success")
    return redirect(url_for("auth.me") if current_user.is_authenticated else url_for("auth.login"))


@bp.post("/me/password")
@login_required
def change_password():
    """Change the password, proving the current one; other sessions of the account end."""
    form = ChangePasswordForm()
    if not form.validate_on_submit() or not _password_proven(form):
        return _page(password_form=form)
    accounts.set_password(db.session, _account(), form.new_password.data, reason="changed",
                          keep_session=current_user.sign_in.id)
    flash("密码已修改，其他设备上的登录已退出", "success")
    return redirect(url_for("auth.me"))


def _phone_taken(form: ChangePhoneForm) -> bool:
    if form.new_phone.data == _account().phone:
        form.new_phone.errors = ["新手机号码与当前手机号码相同"]
        return True
    if accounts.find_by_phone(db.session, form.new_phone.data) is not None:
        form.new_phone.errors = ["该手机号码已被其他账号使用"]
        return True
    return False


def _citizen_only() -> None:
    if _account().role != CITIZEN:
        abort(403)


@bp.post("/me/phone/code")
@login_required
def change_phone_code():
    """Send a code to the new phone (获取验证码)."""
    _citizen_only()
    form = ChangePhoneForm()
    if form.new_phone.validate(form) and not _phone_taken(form):
        issue_code(form.new_phone.data, sms_codes.CHANGE_PHONE)
    return _page(phone_form=form)


@bp.post("/me/phone")
@login_required
def change_phone():
    """Move the account to the new phone once the current password and the code sent to the phone are right."""
    _citizen_only()
    form = ChangePhoneForm()
    if not form.validate_on_submit() or _phone_taken(form) or not _password_proven(form):
        return _page(phone_form=form)
    if not sms_codes.verify_code(db.session, form.new_phone.data, sms_codes.CHANGE_PHONE, form.phone_code.data):
        form.phone_code.errors = [WRONG_CODE]
        return _page(phone_form=form)
    try:
        account_changes.set_phone(db.session, _account(), form.new_phone.data)
    except accounts.RegistrationRefused as exc:
        form.new_phone.errors = [exc.problems["phone"]]
        return _page(phone_form=form)
    flash("手机号码已更换，请使用新手机号码登录", "success")
    return redirect(url_for("auth.me"))


@bp.post("/me/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    """End one of the account's sessions (退出该设备); ending this one signs out here."""
    record = sessions.session_of(db.session, _account().id, session_id)
    if record is None:
        abort(404)
    if record.id == current_user.sign_in.id:
        sign_out(sessions.ENDED_BY_OWNER)
        flash("您已退出登录", "info")
        return redirect(url_for("auth.login"))
    sessions.end(db.session, record, sessions.ENDED_BY_OWNER)
    flash(f"已退出该设备上的登录（{record.device}）", "success")
    return redirect(url_for("auth.me") + "#sessions")


@bp.post("/me/sessions/end-all")
@login_required
def end_all_sessions():
    """在所有设备上退出: end every session of the account, this one included, once confirmed."""
    if not confirmed():
        return ask_confirmation("在所有设备上退出", [
            "该账号在所有设备上的登录都将结束，包括当前这台设备；之后需重新登录（需要密码和短信验证码）。"],
            "确认全部退出", url_for("auth.me") + "#sessions")
    sessions.end_all(db.session, _account().id, sessions.SIGNED_OUT_EVERYWHERE)
    sign_out(sessions.SIGNED_OUT_EVERYWHERE)
    flash("已在所有设备上退出登录", "info")
    return redirect(url_for("auth.login"))
