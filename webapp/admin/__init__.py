"""Administration pages: staff accounts, the message outbox, read-only case views for officials."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
