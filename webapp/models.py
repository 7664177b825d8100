"""Every table of the product, imported in one place for Alembic and for `flask init`."""

from engine import calendar, models  # noqa: F401
from engine.db import Base
from services import accounts, api_tokens, cases, divisions, documents, notifications, sms_codes  # noqa: F401

metadata = Base.metadata
