"""The account page (我的账号): what the account is, and the changes its owner may make.

A citizen's real name and ID number are fixed at registration and only shown (the number masked). Anyone signed
in may change the email and the password (proving the current one; the other sessions end, this one stays).
Citizens may move the account to a new phone, proven by a code sent to that phone; staff phones are the second
sign-in factor and are managed by administrators.
"""

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from forms.auth import ChangePasswordForm, ChangePhoneForm, EmailForm
from processes.roles import CITIZEN
from services import accounts, divisions, identity, sms_codes
from services.accounts import UserModel
from services.db import db
from webapp.auth import bp, issue_code, keep_session
from webapp.auth.registration import WRONG_CODE


def _account() -> UserModel:
    return current_user.account


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
    return render_template(
        "auth/me.html", account=account, division=division,
        masked_id=identity.mask(account.id_number) if account.id_number else None,
        email_form=email_form or EmailForm(formdata=None, data={"email": account.email or ""}),
        password_form=password_form or ChangePasswordForm(formdata=None),
        phone_form=(phone_form or ChangePhoneForm(formdata=None)) if may_change_phone else None,
    )


@bp.get("/me")
@login_required
def me():
    """Show the signed-in account: 我的账号."""
    return _page()


@bp.post("/me/email")
@login_required
def change_email():
    """Change or remove the account's email."""
    form = EmailForm()
    if not form.validate_on_submit():
        return _page(email_form=form)
    accounts.change_email(db.session, _account(), form.email.data or None)
    flash("电子邮箱已更新" if form.email.data else "电子邮箱已删除", "success")
    return redirect(url_for("auth.me"))


@bp.post("/me/password")
@login_required
def change_password():
    """Change the password, proving the current one; other sessions of the account end."""
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(password_form=form)
    account = _account()
    try:
        accounts.confirm_password(db.session, account, form.current_password.data, wrong="当前密码不正确",
                                  max_failures=current_app.config["LOGIN_MAX_FAILURES"],
                                  lock_minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    except accounts.LoginRefused as refused:
        # 200 with the message: the request edge commits, so the failed attempt counts.
        form.current_password.errors = [refused.message]
        return _page(password_form=form)
    accounts.set_password(db.session, account, form.new_password.data, reason="changed")
    keep_session(account)
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
    """Move the account to the new phone once its code is confirmed."""
    _citizen_only()
    form = ChangePhoneForm()
    if not form.validate_on_submit() or _phone_taken(form):
        return _page(phone_form=form)
    if not sms_codes.verify_code(db.session, form.new_phone.data, sms_codes.CHANGE_PHONE, form.phone_code.data):
        form.phone_code.errors = [WRONG_CODE]
        return _page(phone_form=form)
    try:
        accounts.change_phone(db.session, _account(), form.new_phone.data)
    except accounts.RegistrationRefused as exc:
        form.new_phone.errors = [exc.problems["phone"]]
        return _page(phone_form=form)
    flash("手机号码已更换，请使用新手机号码登录", "success")
    return redirect(url_for("auth.me"))
