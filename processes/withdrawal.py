"""The applicant's withdrawal of a case (撤回申请) before any office has decided it.

Where a case can be withdrawn is the diagram's to say: an interrupting message boundary event 撤回申请 on each step
that may be cut short, leading to the end event whose status is 已撤回 (it ends the whole case: open tasks and
pending service calls are cancelled). A diagram version without such an event offers no withdrawal.

Who and when is the office's rule, on top of the diagram:
- only the applicant, signed in as a citizen, for their own case;
- only while no office has decided anything against or about the outcome: the case waits for village verification,
  or for the township's audit (一孩、二孩) or first review (三孩). A village finding 情况不符 in the current round
  of verification is a decision the applicant answers by correcting, not by withdrawing it from the record (the
  correction task 核实有误 has no withdrawal either); a village's 情况属实 alone decides nothing, so the case can
  still be withdrawn while the other village or the township is at work;
- never once the township has decided: 登记成功, 不予登记, a third child's review passed on to 现场确认, 已批准,
  不予批准.
"""

from sqlalchemy.orm import Session

from engine.errors import TaskConflict
from processes.casework import CaseworkError, Forbidden
from processes.roles import CITIZEN
from processes.runtime import RUNTIME
from services import cases
from services.accounts import UserModel

WITHDRAW_MESSAGE = "撤回申请"
WITHDRAWN = "已撤回"
# What the applicant's withdrawal sends with the message (kept in the audit line and the catching event's data).
WITHDRAWN_BY_APPLICANT = {"reason": "申请人撤回"}
# The village decision that stops a withdrawal until the applicant has corrected the case.
MISMATCH = "mismatch"
CORRECTED = "resubmitted"


def _mismatch_in_current_round(session: Session, case: cases.CaseModel) -> bool:
    """Return whether a village found 情况不符 since the applicant last corrected the case (or since submission)."""
    decisions = [v.decision for v in cases.verifications(session, case)]
    current = decisions[len(decisions) - decisions[::-1].index(CORRECTED):] if CORRECTED in decisions else decisions
    return MISMATCH in current


def refusal(session: Session, case: cases.CaseModel) -> str | None:
    """Return why the applicant cannot withdraw the case now, in Chinese (None when they can)."""
    if case.status == WITHDRAWN:
        return "该申请已撤回，无需重复操作"
    if case.status in cases.FINAL_STATUSES:
        return f"该申请已办结（{case.status}），不能撤回"
    if case.instance_id is None or WITHDRAW_MESSAGE not in RUNTIME.waiting_messages(session, case.instance_id):
        if case.status == "核实有误":
            return "该申请核实有误，请按原因更正后重新提交；核实有误期间不能撤回"
        return "该申请已进入审核决定环节，不能在网上撤回。如需撤回，请联系户籍地乡镇（街道）卫生健康办公室"
    if _mismatch_in_current_round(session, case):
        return "村（居）已核实为情况不符，不能撤回；请等待核实结果并按原因更正后重新提交"
    return None


def may_withdraw(session: Session, case: cases.CaseModel) -> bool:
    """Return whether the case page should offer the applicant the 撤回申请 button."""
    return refusal(session, case) is None


def withdraw(session: Session, case: cases.CaseModel, user: UserModel) -> cases.CaseModel:
    """End the applicant's own undecided case as 已撤回 (the caller commits).

    The case row is re-read under the engine's row lock, so of two clicks the second finds the case withdrawn.
    """
    if user.role != CITIZEN or user.id != case.applicant_id:
        raise Forbidden("只有申请人本人可以撤回申请")
    if (reason := refusal(session, case)) is not None:
        raise CaseworkError(reason)
    try:
        RUNTIME.send_message(session, case.instance_id, WITHDRAW_MESSAGE, WITHDRAWN_BY_APPLICANT, user.actor)
    except TaskConflict:  # another request (a second click, a village's decision) got the lock first
        session.refresh(case)
        raise CaseworkError(refusal(session, case) or "该申请当前不能撤回") from None
    return case
