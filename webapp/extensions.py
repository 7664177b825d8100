"""Flask extensions, created unbound and bound to the app in `create_app`, and the signed-in user adapter."""

from flask import session
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from processes.roles import ROLES, STAFF_ROLES
from services.accounts import UserModel
from services.db import db

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"
login_manager.login_message_category = "warning"
csrf = CSRFProtect()
SESSION_EPOCH_KEY = "account_epoch"


class SignedInUser:
    """What Flask-Login needs of a user, around the account row (services stay free of Flask)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, account: UserModel):
        self.account = account

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


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    """Return the signed-in user named by the session, or None when the account is gone or deactivated."""
    if not (user_id.isascii() and user_id.isdigit()):
        return None
    account = db.session.get(UserModel, int(user_id))
    # A deactivated account is signed out at its next request rather than when its session would run out, and a
    # session from before a deactivation stays ended after the account is reactivated.
    if account is None or not account.active or session.get(SESSION_EPOCH_KEY) != (account.session_epoch or 0):
        return None
    return SignedInUser(account)
