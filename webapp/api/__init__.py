"""The JSON API for staff apps under /api/v1 (token authentication)."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
