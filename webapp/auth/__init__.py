"""Accounts on the web: sign-in and sign-out here, registration, recovery and the profile in the modules below.

Citizens sign in with phone and password; staff then confirm a code sent to their phone.

Between the two staff steps the session holds only a pending marker (account id, expiry, where to go next), never a
signed-in state: `login_user` runs after the code is confirmed. The marker lives `PENDING_SECONDS`, counted from the
password step and not extended by asking for another code, so a password proof does not stay usable for long.

A full sign-in starts a session on the server (services.sessions) whose key the cookie carries; signing out ends it
there, so a copy of the cookie taken before is worth nothing after. An account whose password an administrator reset
opens only the password change (and sign-out) until its holder has chosen a new password.
"""

import math
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from engine.db import utcnow
from forms.auth import CodeForm, LoginForm
from forms.base import BaseForm
from processes.roles import STAFF_ROLES
from services import accounts, audit, rate_limits, sessions, sms_codes
from services.accounts import UserModel
from services.db import db
from webapp import navigation
from webapp.extensions import SIGN_IN_KEY, SignedInUser
from webapp.filters import mask_phone
from webapp.throttling import client_address, limit

bp = Blueprint("auth", __name__, url_prefix="/auth", template_folder="templates")

PENDING_KEY = "pending_login"
PENDING_SECONDS = 300
# Longer than any path of this site; a longer `next` is not worth parsing.
NEXT_MAX_LENGTH = 2000


@bp.after_request
def _no_store(response: Response) -> Response:
    # Sign-in pages and the account page must not be kept by browsers or proxies (shared computers in halls).
    response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(target: str | None) -> str:
    """Return `target` when it is a path on this site, else "/" (no open redirect after sign-in)."""
    if not target or len(target) > NEXT_MAX_LENGTH:
        return "/"
    # Browsers read a backslash as a slash and drop tabs and newlines, so "/\\evil" and "/\t/evil" mean "//evil".
    if any(c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return target


def landing(account: UserModel, next_url: str) -> str:
    """Return where a signed-in account goes: the page it asked for, else its role's home (the portal for citizens)."""
    if next_url != "/":
        return next_url
    return navigation.home_url(account) or next_url


def _restart_session() -> None:
    # Nothing from before a change of identity carries over (pending markers, the anonymous CSRF token).
    session.clear()
    session.permanent = True


def sign_in_account(account: UserModel) -> None:
    """Sign `account` in on a fresh session, started on the server (device and address noted for its owner)."""
    _restart_session()
    key, sign_in = sessions.start(db.session, account.id, address=client_address(),
                                  user_agent=request.headers.get("User-Agent", ""))
    session[SIGN_IN_KEY] = key
    login_user(SignedInUser(account, sign_in))
    audit.record(db.session, account.actor, "signed_in", user_id=account.id, address=client_address())


def sign_out(reason: str) -> None:
    """End the current session on the server and in the browser."""
    if current_user.is_authenticated:
        sessions.end(db.session, current_user.sign_in, reason)
    logout_user()
    _restart_session()


# What an account that must change its password may still open.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.me", "auth.change_password", "auth.logout", "auth.end_session",
                                       "auth.end_all_sessions", "static"})


def _may_open_before_password_change(endpoint: str | None) -> bool:
    return endpoint in PASSWORD_CHANGE_ENDPOINTS or (endpoint or "").endswith(".static")


@bp.before_app_request
def _password_change_first() -> Response | None:
    """Send an account whose password an administrator reset to the password change, whatever it asks for."""
    if request.blueprint == "api" or _may_open_before_password_change(request.endpoint) or "_user_id" not in session:
        return None
    if current_user.is_authenticated and current_user.account.password_change_required:
        flash("管理员已重置您的密码，请先设置新密码", "warning")
        return redirect(url_for("auth.me") + "#password")
    return None


def issue_code(phone: str, purpose: str, *, deliver: bool = True) -> bool:
    """Send an SMS code within the rate limits and flash what happened; return whether it was sent.

    Besides the phone's own limit (counted by `sms_codes`), a code counts against the client address and the whole
    site, all or none: a request refused for its phone or its address spends nothing of the site's ceiling. A refusal
    is shown on the form the person was filling in, which comes back as typed.
    """
    config = current_app.config
    try:
        sms_codes.issue_code(db.session, phone, purpose, ttl_seconds=config["SMS_CODE_TTL_SECONDS"], deliver=deliver,
                             counted_with=[("sms_code:address", client_address()), ("sms_code:global", "")])
    except rate_limits.RateLimited as exc:
        flash(exc.message, "warning")
        return False
    minutes = math.ceil(config["SMS_CODE_TTL_SECONDS"] / 60)
    flash(f"验证码已发送至 {mask_phone(phone)}，{minutes} 分钟内有效，请查收短信", "info")
    return True


def _pending_account() -> tuple[UserModel | None, str]:
    """Return the account waiting for its SMS code, or None and why there is none."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None, "请先输入手机号码和密码"
    if pending.get("expires", 0) <= utcnow().timestamp():
        session.pop(PENDING_KEY, None)
        return None, "验证已超时，请重新输入手机号码和密码"
    account = db.session.get(UserModel, pending.get("user_id", 0))
    if account is None or not account.active:
        session.pop(PENDING_KEY, None)
        return None, accounts.INACTIVE
    if wait := accounts.lock_wait(account.phone):
        # Someone has been guessing this password since: the lock holds for the pending step too.
        session.pop(PENDING_KEY, None)
        return None, accounts.locked_message(wait)
    return account, ""


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with phone and password; staff continue to the SMS code."""
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(landing(current_user.account, next_url))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        limit([("sign_in:address", client_address())])
        try:
            account = accounts.authenticate(db.session, form.phone.data, form.password.data)
        except accounts.LoginRefused as exc:
            # The same answer, status 200, for a wrong password, an unknown phone and a locked one.
            error = exc.message
        else:
            if account.role not in STAFF_ROLES:
                sign_in_account(account)
                return redirect(next_url)
            _restart_session()
            expires = utcnow() + timedelta(seconds=PENDING_SECONDS)
            session[PENDING_KEY] = {"user_id": account.id, "expires": expires.timestamp(), "next": next_url}
            issue_code(account.phone, sms_codes.STAFF_LOGIN)
            return redirect(url_for("auth.verify"))
    action = url_for("auth.login", next=None if next_url == "/" else next_url)
    return render_template("auth/login.html", form=form, error=error, action=action)


def _pending_or_redirect() -> tuple[UserModel | None, Response | None]:
    """Return the staff account between its two sign-in steps, or where to send a visitor who has none."""
    if current_user.is_authenticated:
        return None, redirect("/")
    account, why_not = _pending_account()
    if account is None:
        flash(why_not, "warning")
        return None, redirect(url_for("auth.login"))
    return account, None


@bp.route("/verify", methods=["GET", "POST"])
def verify():
    """Take the SMS code of a staff member whose password was right, and sign them in."""
    account, elsewhere = _pending_or_redirect()
    if account is None:
        return elsewhere
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        if sms_codes.verify_code(db.session, account.phone, sms_codes.STAFF_LOGIN, form.code.data):
            next_url = safe_next(session[PENDING_KEY].get("next"))
            # The time of the full sign-in, not of the password step (authenticate noted that one).
            accounts.record_login(db.session, account)
            sign_in_account(account)
            return redirect(landing(account, next_url))
        # Rendered with 200 so that the request edge commits the attempt count.
        error = "验证码不正确或已失效，请核对短信或重新获取"
        audit.record(db.session, account.actor, "sign_in_failed", user_id=account.id, reason=error)
    return render_template("auth/verify.html", form=form, resend_form=BaseForm(), error=error,
                           phone=mask_phone(account.phone))


@bp.post("/verify/resend")
def resend():
    """Send another SMS code to the pending staff member, within the resend limits."""
    account, elsewhere = _pending_or_redirect()
    if account is None:
        return elsewhere
    issue_code(account.phone, sms_codes.STAFF_LOGIN)
    return redirect(url_for("auth.verify"))


@bp.post("/logout")
def logout():
    """Sign out, ending the session on the server too."""
    sign_out(sessions.LOGOUT)
    flash("您已退出登录", "info")
    return redirect(url_for("auth.login"))


# The views of registration, recovery and the profile live in modules of their own on the same blueprint.
from webapp.auth import profile, recovery, registration  # noqa: E402, F401
