"""Service-task operators: what `camunda:topic` names, bound to the services that do the work."""

from collections.abc import Mapping
from typing import Any

from engine.runtime import ServiceCall
from processes.roles import TOWNSHIP_STAFF
from services import accounts, cases, documents, notifications

SLIP_KINDS = {"birth_registration": "生育服务登记单", "third_child_approval": "再生育审批单"}


def _case(call: ServiceCall) -> cases.CaseModel:
    case = cases.get_case(call.session, call.business_key or "")
    if case is None:
        raise LookupError(f"流程实例 {call.instance_id} 没有对应的案件")
    return case


def sms_send(call: ServiceCall) -> Mapping[str, Any]:
    """Send the SMS template `template` to the applicant or to the township staff (`to`)."""
    case = _case(call)
    if call.params.get("to") == "township":
        phones = [u.phone for u in accounts.staff_over(call.session, TOWNSHIP_STAFF, case.hukou_division)]
    else:
        phones = [case.contact_phone]
    sent = notifications.send_sms(
        call.session, phones, call.params["template"],
        {"case_number": case.case_number, "task": call.params.get("task", call.element_name)},
        case_number=case.case_number,
    )
    return {"sent": len(sent)}


def slip_render(call: ServiceCall) -> Mapping[str, Any]:
    """Issue the case's slip, which makes it printable."""
    case = _case(call)
    slip = documents.issue_slip(call.session, case.id, SLIP_KINDS.get(call.process_key, "生育服务登记单"))
    return {"slip_id": slip.id}


OPERATORS = {"sms.send": sms_send, "slip.render": slip_render}
