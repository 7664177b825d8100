"""Words for what the process pages list: service-task operators with what they send or issue, and audit events.

Rows keep stable keys (`sms.send`, `audit_approved`, `task_completed`); administrators read these words, and the keys
only on request (a title or 详情). A key with no name is shown as itself, marked, so that it is noticed.
"""

from collections.abc import Mapping
from typing import Any

from processes.operators import SLIP_KINDS, SMS_RECIPIENTS
from services.audit import KIND_LABELS
from webapp.admin.labels import SMS_TEMPLATE_NAMES, label
from webapp.filters import person

OPERATOR_NAMES = {"sms.send": "发送短信", "slip.render": "生成文书"}
# Actors that are no account: the engine's own steps, its timers, and commands run on the server.
ACTOR_NAMES = {"system": "系统", "timer": "定时任务", "cli": "命令行"}
# Detail keys an event line leaves out: a migration's copy of the whole case state.
HIDDEN_DETAIL = frozenset({"state_before"})


def operator_label(operator: str, params: Mapping[str, Any], process_key: str) -> str:
    """Say what a service task does, e.g. 发送短信 · 登记成功 or 生成文书 · 生育服务登记单."""
    words = [label(OPERATOR_NAMES, operator)]
    if operator == "sms.send":
        if params.get("template"):
            words.append(label(SMS_TEMPLATE_NAMES, params["template"]))
        if params.get("to", "applicant") != "applicant":
            words.append(f"发给{SMS_RECIPIENTS.get(params['to'], params['to'])}")
    elif operator == "slip.render":
        words.append(SLIP_KINDS.get(process_key, "生育服务登记单"))
    return " · ".join(words)


def actor_name(actor: str | None) -> str:
    """Name who did something: an account by its name, the system, its timers or the command line in words."""
    return ACTOR_NAMES.get(actor or "") or person(actor)


def event_label(kind: str) -> str:
    """Name an audit event kind in words."""
    return label(KIND_LABELS, kind)


def event_detail(detail: Mapping[str, Any]) -> str:
    """Return an event's detail as `key=value` pairs, for the 详情 of an event line."""
    return " ".join(f"{key}={value}" for key, value in detail.items() if key not in HIDDEN_DETAIL)
