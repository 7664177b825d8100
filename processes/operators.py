"""Service-task operators: what `camunda:topic` names, bound to the services that do the work.

Each operator is declared with the schema of its parameters (the service task's properties) and of its result, so
lint refuses a diagram that names a template or a recipient the operator does not know.
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from engine.diagram import OperatorSchema, Parameter
from engine.models import HumanTaskModel
from engine.runtime import ServiceCall
from processes.roles import TOWNSHIP_STAFF
from services import accounts, cases, confirmation_visit, divisions, documents, notifications

SLIP_KINDS = {"birth_registration": "生育服务登记单", "third_child_approval": "再生育审批单"}


def _case(call: ServiceCall) -> cases.CaseModel:
    case = cases.get_case(call.session, call.business_key or "")
    if case is None:
        raise LookupError(f"流程实例 {call.instance_id} 没有对应的案件")
    return case


def _open_task(call: ServiceCall, bpmn_id: str) -> HumanTaskModel | None:
    return call.session.scalar(select(HumanTaskModel).where(
        HumanTaskModel.business_key == call.business_key, HumanTaskModel.bpmn_id == bpmn_id,
        HumanTaskModel.status == "open"))


SMS_RECIPIENTS = {"applicant": "申请人", "township": "案件所在乡镇（街道）的工作人员"}
# The fields sms.send fills in a template. A case's templates name its case number and need no other field
# (the account templates need a sign-in code or name no case).
SMS_CONTEXT = frozenset({"case_number", "task", "office", *confirmation_visit.FIELDS})


CASE_SMS_TEMPLATES = tuple(name for name in notifications.TEMPLATES
                           if "case_number" in (fields := notifications.template_fields(name))
                           and fields <= SMS_CONTEXT)


def sms_send(call: ServiceCall) -> Mapping[str, Any]:
    """Send the SMS `template` to the applicant, or (`to=township`) to the township staff over the case.

    A reminder names the overdue user task with the property `task` (its element id); it then goes to the township
    over that task's division, which for the residence-place verification may not be the hukou township.
    """
    recipient = call.params.get("to", "applicant")
    if recipient not in SMS_RECIPIENTS:  # a version deployed before lint knew recipients: fail visibly, never guess
        raise LookupError(f"未知短信接收方：{recipient}")
    case = _case(call)
    context = {"case_number": case.case_number, "task": call.element_name,
               "office": divisions.township_office(call.session, case.hukou_division),
               **confirmation_visit.sms_fields(call.session, case.hukou_division)}
    division = case.hukou_division
    if "task" in call.params:
        task = _open_task(call, call.params["task"])
        if task is not None:
            context["task"] = task.name
            division = task.division_code or division
    if recipient == "township":
        phones = [u.phone for u in accounts.staff_over(call.session, TOWNSHIP_STAFF, division)]
    else:
        phones = [case.contact_phone]
    sent = notifications.send_sms(call.session, phones, call.params["template"], context,
                                  case_number=case.case_number, key=call.idempotency_key,
                                  checkpoint=call.checkpoint)
    return {"sent": len(sent)}


SMS_SEND = OperatorSchema(
    parameters={"template": Parameter(required=True, allowed=CASE_SMS_TEMPLATES),
                "to": Parameter(allowed=tuple(SMS_RECIPIENTS)), "task": Parameter(user_task=True)},
    returns=("sent",),
)


def slip_render(call: ServiceCall) -> Mapping[str, Any]:
    """Issue the case's slip, which makes it printable."""
    case = _case(call)
    slip = documents.issue_slip(call.session, case.id, SLIP_KINDS.get(call.process_key, "生育服务登记单"))
    return {"slip_id": slip.id}


SLIP_RENDER = OperatorSchema(returns=("slip_id",))

OPERATORS = {"sms.send": sms_send, "slip.render": slip_render}
OPERATOR_SCHEMAS = {"sms.send": SMS_SEND, "slip.render": SLIP_RENDER}
