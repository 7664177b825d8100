"""The web application: `create_app` builds it from environment settings."""

from pathlib import Path

from flask import Flask

from processes.background import perform_outbox
from services import notifications
from services.db import InlineDispatcher, db
from webapp.config import check, from_environment


def create_app(config: dict | None = None, **overrides) -> Flask:
    """Build the app: settings, database, background dispatch, blueprints and CLI commands."""
    settings = from_environment()
    settings.update(config or {})
    settings.update(overrides)
    check(settings)
    app = Flask(__name__, instance_path=str(settings["INSTANCE_DIR"]))
    app.config.update(settings)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if app.config["BACKGROUND"] == "celery":
        from webapp.celery import celery_dispatcher, celery_init_app

        celery_init_app(app)
        dispatcher = celery_dispatcher
    else:
        dispatcher = InlineDispatcher(perform_outbox)
    db.configure(app.config["DATABASE_URL"], dispatcher)
    notifications.use_provider(app.config["SMS_PROVIDER"])

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        db.session.remove()

    from webapp.cli import register_commands
    from webapp.portal import bp as portal_bp

    app.register_blueprint(portal_bp)
    register_commands(app)
    return app
