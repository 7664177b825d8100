"""The web application: `create_app` builds it from environment settings."""

from datetime import timedelta
from pathlib import Path

from flask import Flask, render_template, session
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError
from werkzeug.wrappers import Response

from processes.background import perform_outbox
from services import audit, confirmation_visit, crypto, identity_check, mail, rate_limits, sms_providers
from services.db import EngineSettings, InlineDispatcher, db
from webapp import navigation, observability, outages, routing, security_headers, throttling
from webapp.config import check, from_environment

# What a person sees for each HTTP error; the status code stays the standard one.
ERROR_MESSAGES = {
    400: "请求无效，请返回上一页重试",
    403: "您没有权限访问此页面",
    404: "您访问的页面不存在",
    405: "不支持此操作方式",
    413: "提交的内容过大",
    429: "操作过于频繁，请稍后再试",
    500: "系统繁忙，请稍后再试",
}
CSRF_MESSAGE = "页面已过期或表单无效，请刷新页面后重新提交"


def create_app(config: dict | None = None, **overrides) -> Flask:
    """Build the app: settings, database, background dispatch, sign-in, blueprints and CLI commands."""
    settings = from_environment()
    settings.update(config or {})
    settings.update(overrides)
    check(settings)
    app = Flask(__name__, instance_path=str(settings["INSTANCE_DIR"]))
    app.config.update(settings)
    routing.register_converters(app)
    # Flask refuses a session cookie signed longer ago than this; with the cookie re-signed on every request
    # (SESSION_REFRESH_EACH_REQUEST) it is an idle timeout, enforced by the server, not only by the browser.
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_REQUEST_MB"] * 1024 * 1024
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if app.config["BACKGROUND"] == "celery":
        from webapp.celery import celery_dispatcher, celery_init_app

        celery_init_app(app)
        dispatcher = celery_dispatcher
    else:
        dispatcher = InlineDispatcher(perform_outbox)
    crypto.configure(app.config["DATA_KEYS"], app.config["INDEX_KEY"], app.config["INSTANCE_DIR"])
    audit.configure(app.config["AUDIT_RETENTION_DAYS"])
    db.configure(app.config["DATABASE_URL"], dispatcher, EngineSettings.from_config(app.config),
                 statistics_url=app.config["STATISTICS_DATABASE_URL"])
    sms_providers.configure(app.config)
    confirmation_visit.configure(app.config)
    mail.configure(app.config)
    identity_check.configure(app.config)
    rate_limits.configure(app.config["RATE_LIMIT_STORAGE_URL"], app.config["RATE_LIMITS"])

    _add_request_edge(app)
    _add_error_pages(app)
    security_headers.register(app)
    throttling.register(app)

    from webapp.extensions import csrf, login_manager
    from webapp.filters import register_filters

    login_manager.init_app(app)
    csrf.init_app(app)
    register_filters(app)
    navigation.register(app)

    from webapp.admin import bp as admin_bp
    from webapp.api import bp as api_bp
    from webapp.auth import bp as auth_bp
    from webapp.citizen import bp as citizen_bp
    from webapp.cli import register_commands
    from webapp.materials import bp as materials_bp
    from webapp.people import bp as people_bp
    from webapp.portal import bp as portal_bp
    from webapp.privacy import bp as privacy_bp
    from webapp.processadmin import bp as processadmin_bp
    from webapp.slips import bp as slips_bp
    from webapp.staff import bp as staff_bp
    from webapp.statistics import bp as statistics_bp

    for blueprint in (portal_bp, auth_bp, citizen_bp, staff_bp, admin_bp, api_bp, slips_bp, statistics_bp,
                      processadmin_bp, materials_bp, people_bp, privacy_bp):
        app.register_blueprint(blueprint)
    register_commands(app)
    return app


def _add_request_edge(app: Flask) -> None:
    """Make each request one transaction, and every session one that times out when idle.

    Services only flush; the request is the one place that commits, so a request's writes land together or not at
    all. A response below 400 commits: that includes a form shown again with an error, which must keep what the
    service recorded on the way (failed sign-ins, wrong SMS codes), so such views answer 200. An error response or
    an exception rolls back.
    """
    outages.register(app)  # innermost: a request the database failed is run again as the app first saw it
    observability.register(app)  # first: its hooks wrap the ones below (request id, final status and time)

    @app.before_request
    def _idle_timeout() -> None:
        if not session.permanent:
            session.permanent = True

    @app.after_request
    def _end_transaction(response: Response) -> Response:
        if db.session.registry.has():
            if response.status_code < 400:
                try:
                    db.session.commit()
                except DBAPIError as exc:
                    if not outages.unavailable(exc):
                        raise
                    return outages.unavailable_answer()  # or run again, when nothing can have been committed
            else:
                db.session.rollback()
        return response

    @app.teardown_request
    def _roll_back_on_error(exc: BaseException | None) -> None:
        if exc is not None and db.session.registry.has():
            db.session.rollback()

    @app.teardown_appcontext
    def _remove_session(_exc: BaseException | None) -> None:
        db.session.remove()


def error_page(exc: HTTPException) -> tuple[str, int] | Response:
    """Return the page in Chinese for an HTTP error; it reads nothing of the visitor, who may be signed out."""
    code = exc.code or 500
    message = CSRF_MESSAGE if isinstance(exc, CSRFError) else ERROR_MESSAGES.get(code, f"请求无法处理（{code}）")
    if isinstance(exc, SecurityError):
        # A Host this site does not answer to (TRUSTED_HOSTS): no URL can be built for it, so no page with links.
        return Response(message, status=code, mimetype="text/plain")
    return render_template("error.html", code=code, message=message), code


def _add_error_pages(app: Flask) -> None:
    """Answer every HTTP error with a page in Chinese."""

    app.register_error_handler(HTTPException, error_page)

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError):
        if not outages.unavailable(exc):
            raise exc  # a failure of ours: Flask logs it and answers 500 below
        return outages.unavailable_answer()

    @app.errorhandler(InternalServerError)
    def _server_error(exc: InternalServerError):
        if outages.unavailable(exc):  # e.g. a request hook that lost its connection
            return outages.unavailable_page()
        # The failed transaction must end before the page is drawn: the header looks up the signed-in user.
        outages.end_failed_transaction()
        try:
            return render_template("error.html", code=500, message=ERROR_MESSAGES[500]), 500
        except Exception:  # noqa: BLE001 - the database itself may be what failed; still answer in Chinese
            return Response(ERROR_MESSAGES[500], status=500, mimetype="text/plain")
