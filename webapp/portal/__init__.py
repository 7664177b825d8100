"""The public portal: the home page (health probes are webapp/health.py)."""

from flask import Blueprint, render_template

bp = Blueprint("portal", __name__, template_folder="templates")


@bp.get("/")
def index():
    """Show the home page."""
    return render_template("portal/index.html")
