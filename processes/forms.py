"""Form keys a user task may name, with the decisions each form records.

The web layer renders a WTForms class per key; the service layer validates every result against this table, so a
decision the diagram does not know can never enter a case.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FormSpec:
    """A task form: its title, the decisions it offers, which of them require a reason and which confirm the claim.

    A decision in `confirms_claim` says the facts the applicant claimed are true (情况属实): the spouses' records
    in the resource base take them over (services.people.confirm_claim).
    """

    title: str
    decisions: dict[str, str]
    reason_required_for: frozenset[str] = frozenset()
    confirms_claim: frozenset[str] = frozenset()


FORMS = {
    "village_verification": FormSpec(
        "村（居）核实", {"verified": "情况属实", "mismatch": "情况不符"}, frozenset({"mismatch"}),
        confirms_claim=frozenset({"verified"}),
    ),
    "township_audit": FormSpec("乡镇（街道）审核", {"approved": "通过", "rejected": "不通过"}, frozenset({"rejected"})),
    "township_review": FormSpec(
        "乡镇（街道）审查", {"passed": "审查通过", "failed": "审查不通过"}, frozenset({"failed"})
    ),
    "offline_confirmation": FormSpec(
        "现场确认", {"approved": "已现场确认，批准", "rejected": "不予批准"}, frozenset({"rejected"}),
        confirms_claim=frozenset({"approved"}),
    ),
    "application_correction": FormSpec("更正申请", {"resubmitted": "已更正并重新提交"}),
}
