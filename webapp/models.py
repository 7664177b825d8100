"""Every table of the product, imported in one place for Alembic and for `flask init`."""

from engine import calendar, dryrun_reports, models  # noqa: F401
from engine.db import Base
from services import (  # noqa: F401
    accounts,
    api_tokens,
    applications,
    assignments,
    cases,
    comments,
    consents,
    divisions,
    documents,
    mail,
    materials,
    notifications,
    people,
    rate_limits,
    sessions,
    sms_codes,
    statistics,
)

metadata = Base.metadata
