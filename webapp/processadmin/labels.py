"""Words for what the process pages list: service-task operators (named with the message lists, in
webapp.admin.labels), actors and audit events.

Rows keep stable keys (`sms.send`, `audit_approved`, `task_completed`); administrators read these words, and the keys
only on request (a title or 详情). A key with no name is shown as itself, marked, so that it is noticed.
"""

from collections.abc import Mapping
from typing import Any

from services.audit import KIND_LABELS
from webapp.admin.labels import ACTOR_NAMES, label, operator_label  # noqa: F401 - the process pages use them too
from webapp.filters import person

# Detail keys an event line leaves out: a migration's copy of the whole case state.
HIDDEN_DETAIL = frozenset({"state_before"})


def actor_name(actor: str | None) -> str:
    """Name who did something: an account by its name, the system, its timers or the command line in words."""
    return ACTOR_NAMES.get(actor or "") or person(actor)


def event_label(kind: str) -> str:
    """Name an audit event kind in words."""
    return label(KIND_LABELS, kind)


def event_detail(detail: Mapping[str, Any]) -> str:
    """Return an event's detail as `key=value` pairs, for the 详情 of an event line."""
    return " ".join(f"{key}={value}" for key, value in detail.items() if key not in HIDDEN_DETAIL)
