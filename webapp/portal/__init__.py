"""The public portal: the home page and a health check."""

from flask import Blueprint, jsonify, render_template
from sqlalchemy import text

from services.db import db

bp = Blueprint("portal", __name__, template_folder="templates")


@bp.get("/")
def index():
    """Show the home page."""
    return render_template("portal/index.html")


@bp.get("/healthz")
def health():
    """Report whether the database answers."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")
