"""Flask extensions, created unbound and bound to the app in `create_app`, and the signed-in user adapter.

The session cookie names the account (Flask-Login) and carries the key of a sign-in session kept on the server
(services.sessions): a cookie whose key names no live session of that account is signed out, however well signed.
"""

from datetime import timedelta

from flask import current_app, session
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from processes.roles import ROLES, STAFF_ROLES
from services import sessions
from services.accounts import UserModel
from services.db import db
from services.sessions import SignInSessionModel

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"
login_manager.login_message_category = "warning"
csrf = CSRFProtect()
# Where the cookie keeps the key of its server-side session.
SIGN_IN_KEY = "sign_in_key"


class SignedInUser:
    """What Flask-Login needs of a user, around the account row (services stay free of Flask)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, account: UserModel, sign_in: SignInSessionModel):
        self.account = account
        self.sign_in = sign_in

    @property
    def is_active(self) -> bool:
        """Return whether the account may be signed in."""
        return self.account.active

    def get_id(self) -> str:
        """Return the id kept in the session."""
        return str(self.account.id)

    @property
    def name(self) -> str:
        """Return the person's name."""
        return self.account.name

    @property
    def role_label(self) -> str:
        """Return the role in Chinese."""
        return ROLES.get(self.account.role, self.account.role)

    @property
    def is_staff(self) -> bool:
        """Return whether the account is a staff account."""
        return self.account.role in STAFF_ROLES


def lifetimes(account: UserModel) -> tuple[timedelta, timedelta]:
    """Return the idle and absolute lifetimes of the account's sessions (staff have shorter ones)."""
    config = current_app.config
    if account.role in STAFF_ROLES:
        return (timedelta(minutes=config["STAFF_SESSION_IDLE_MINUTES"]),
                timedelta(hours=config["STAFF_SESSION_ABSOLUTE_HOURS"]))
    return timedelta(minutes=config["SESSION_IDLE_MINUTES"]), timedelta(hours=config["SESSION_ABSOLUTE_HOURS"])


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    """Return the signed-in user named by the session, or None unless the cookie's server-side session is live.

    A deactivated account is signed out at its next request; its sessions were ended with the deactivation, so they
    stay ended after a reactivation.
    """
    if not (user_id.isascii() and user_id.isdigit()) or len(user_id) > 18:
        return None
    account = db.session.get(UserModel, int(user_id))
    if account is None or not account.active:
        return None
    idle, absolute = lifetimes(account)
    sign_in = sessions.live_session(db.session, session.get(SIGN_IN_KEY), account.id, idle=idle, absolute=absolute)
    if sign_in is None:
        return None
    return SignedInUser(account, sign_in)
