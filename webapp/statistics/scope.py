"""Who may read which statistics, and the figures as JSON: shared by the dashboard and the JSON API.

The same readers as the officials' case pages (webapp.admin.CASE_READERS), each limited to their own division and
the divisions inside it; anyone else (citizens, village staff, administrators without a division) reads nothing.
"""

from datetime import datetime
from typing import Any

from flask import current_app

from processes.jurisdiction import contains
from services import statistics
from services.accounts import UserModel
from services.cases import CASE_TYPES
from services.db import db
from webapp.admin import CASE_READERS


class OutOfScope(Exception):
    """The reader may not see this division (or any statistics at all)."""


def may_read_statistics(account: UserModel) -> bool:
    """Return whether the account reads statistics at all."""
    return account.role in CASE_READERS and bool(account.division_code)


def scope_for(account: UserModel, requested: str | None) -> str:
    """Return the division code to count: the one requested if inside the reader's own, else their own."""
    if not may_read_statistics(account):
        raise OutOfScope
    code = (requested or "").strip() or account.division_code
    if not contains(account.division_code, code):
        raise OutOfScope
    return code


def summary_for(code: str, filters: statistics.Filters) -> statistics.Summary:
    """Count division `code` with the app's promised limit, as of now (on the statistics replica, if any)."""
    with db.statistics_session() as reader:
        timing = statistics.timing_for(reader, current_app.config["STATS_LIMIT_DAYS"])
        return statistics.summarize(reader, code, filters, timing)


def _timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def summary_json(summary: statistics.Summary) -> dict[str, Any]:
    """Return the summary as the JSON API's Statistics object."""
    filters = summary.filters
    return {
        "division": {"code": summary.code, "name": summary.name, "level": summary.level,
                     "path": [{"code": code, "name": name} for code, name in summary.path]},
        "filters": {"from": filters.start, "to": filters.end, "case_type": filters.case_type},
        "total": summary.total,
        "children": summary.children,
        "by_type": summary.by_type,
        "case_type_labels": CASE_TYPES,
        "by_status": summary.by_status,
        "mother_age": summary.mother_age,
        "father_age": summary.father_age,
        "mother_ethnicity": summary.mother_ethnicity,
        "father_ethnicity": summary.father_ethnicity,
        "by_month": summary.by_month,
        "processing": {**summary.processing,
                       "histogram": {str(days): cases for days, cases in summary.processing["histogram"].items()}},
        "limit_days": summary.limit_days,
        "as_of": _timestamp(summary.as_of),
        "live": summary.live,
    }
