"""Chinese names for the keys the administration pages show: SMS templates, email purposes, send methods, the
service-task operators and the actors that are no account (on the message, audit and process pages alike).

The rows keep the stable keys (code and data migrations depend on them); administrators read these names. A key with
no name here is shown as itself, marked, so that a new template is noticed rather than hidden.
"""

from collections.abc import Mapping
from typing import Any

from processes.operators import SLIP_KINDS, SMS_RECIPIENTS

SMS_TEMPLATE_NAMES = {
    "verification_mismatch": "村（居）核实不符",
    "audit_approved": "登记成功",
    "audit_rejected": "审核未通过",
    "review_failed": "再生育审查未通过",
    "offline_confirmation": "现场确认通知",
    "approval_granted": "再生育审批通过",
    "approval_rejected": "再生育审批未通过",
    "application_submitted": "申请已提交",
    "correction_resubmitted": "更正后重新提交",
    "task_overdue": "办理超期提醒",
    "verification_code": "短信验证码",
    "identity_rebound": "身份证号码改绑通知",
    "phone_already_registered": "手机号码已注册提示",
    "phone_changed": "更换手机号码通知",
}

EMAIL_KIND_NAMES = {
    "password_reset": "找回密码",
    "email_change": "确认新邮箱",
    "account_notice": "账号变更通知",
}

OPERATOR_NAMES = {"sms.send": "发送短信", "slip.render": "生成文书"}
# Actors that are no account: the engine's own steps, its timers, and commands run on the server.
ACTOR_NAMES = {"system": "系统", "timer": "定时任务", "cli": "命令行"}

SEND_METHOD_NAMES = {
    "record": "记录（演示，不发送）",
    "smtp": "邮件服务器（SMTP）",
}


def label(names: dict[str, str], key: str) -> str:
    """Return the Chinese name of `key`, or the key itself marked as unnamed."""
    return names.get(key) or f"{key}（未命名）"


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
