"""Entry point for `celery -A webapp.celery_worker worker|beat`."""

from webapp import create_app

flask_app = create_app(BACKGROUND="celery")
celery = flask_app.extensions["celery"]
