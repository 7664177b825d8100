"""The privacy policy (隐私政策), citizens' consent to it, and a citizen's download of their own data.

The policy page is public and linked from every page's footer and from the registration notice. A citizen who
accepted an earlier version is sent to the accept page before anything else (their own data download and signing
out excepted) until they accept the version in force; staff are not asked, their duties being set by their
employment, not by consent. The download is a JSON file of what processes.my_data gathers, audited there.
"""

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from engine.db import utcnow
from forms.auth import NoticeForm
from processes import my_data
from processes.roles import CITIZEN
from services import consents
from services.accounts import UserModel
from services.db import db
from webapp.auth import safe_next

bp = Blueprint("privacy", __name__, template_folder="templates")

NEXT_KEY = "privacy_next"
# Reachable before the new version is accepted: the policy itself, accepting it, one's data, and leaving.
OPEN_ENDPOINTS = {"static", "privacy.policy", "privacy.accept", "privacy.accept_submit", "privacy.download",
                  "auth.logout"}


def _citizen() -> UserModel | None:
    """Return the signed-in citizen's account, None for anyone else."""
    if not current_user.is_authenticated or current_user.account.role != CITIZEN:
        return None
    return current_user.account


@bp.before_app_request
def _ask_for_consent() -> ResponseReturnValue | None:
    """Send a citizen who accepted an earlier version of the policy to accept the one in force first."""
    if request.endpoint in OPEN_ENDPOINTS or request.endpoint is None or request.blueprint == "api":
        return None
    account = _citizen()
    if account is None or not consents.needs_renewal(db.session, account):
        return None
    if request.method == "GET":
        session[NEXT_KEY] = request.full_path.rstrip("?")
    return redirect(url_for("privacy.accept"), 303)


@bp.get("/privacy")
def policy():
    """Show the privacy policy (public)."""
    return render_template("privacy/policy.html", version=consents.current_version())


def _accept_page(form: NoticeForm | None = None):
    form = form or NoticeForm()
    form.agree.label.text = "我已阅读并同意以上隐私政策"
    return render_template("privacy/accept.html", form=form, version=consents.current_version())


@bp.get("/privacy/accept")
@login_required
def accept():
    """Show the policy in force with a form to accept it (citizens)."""
    if _citizen() is None:
        return redirect(url_for("portal.index"))
    return _accept_page()


@bp.post("/privacy/accept")
@login_required
def accept_submit():
    """Record the citizen's acceptance of the policy in force and go on to where they were going."""
    account = _citizen()
    if account is None:
        return redirect(url_for("portal.index"))
    form = NoticeForm()
    if not form.validate_on_submit():
        if form.agree.errors:
            form.agree.errors = ["请先阅读并勾选同意隐私政策"]
        return _accept_page(form)
    if not consents.has_accepted_current(db.session, account):
        consents.record(db.session, account, consents.RENEWAL)
    flash("已同意新版隐私政策", "success")
    return redirect(safe_next(session.pop(NEXT_KEY, None)))


@bp.post("/privacy/my-data")
@login_required
def download() -> ResponseReturnValue:
    """Send the citizen a JSON file of what the system holds about them (audited; a POST, so CSRF-checked)."""
    account = _citizen()
    if account is None:
        return redirect(url_for("auth.me"))
    data = my_data.export(db.session, account)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    filename = f"my-data-{utcnow().strftime('%Y%m%d')}.json"
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    })
