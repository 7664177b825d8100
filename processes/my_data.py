"""A citizen's copy of what the system holds about them (个人信息保护法 第四十五条: 查阅、复制).

`export` gathers the account, the consents, the citizen's own applications with their materials list, the cases
they submitted with what they claimed on each submission and the decisions on them, the text messages sent to
their phone, and their own verified record in the resource base (only when the account holds its ID number). It
goes no further: a spouse's verified record, staff notes and other families' cases are not theirs to copy, even
where a case of theirs points to them. Each export is audited.
"""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import utcnow
from services import accounts, cases, consents, materials
from services.accounts import UserModel
from services.applications import ApplicationModel
from services.cases import CaseModel
from services.notifications import SmsMessageModel
from services.people import ClaimModel, PersonModel

FORMAT_VERSION = 1
ABOUT = ("本文件是生育登记服务信息系统中与您本人有关的信息副本，包括账号信息、同意隐私政策的记录、您填报的申请、"
         "上传材料清单（不含图片本身）、您提交的登记及办理结果、发送到您手机的短信，以及经核实的本人信息。"
         "如发现信息有误，可通过「隐私政策」页面所列方式申请更正。请妥善保管本文件，不要转发给他人。")


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _account(user: UserModel) -> dict[str, Any]:
    return {
        "name": user.name, "phone": user.phone, "id_number": user.id_number, "email": user.email,
        "identity_level": user.identity_level, "holds_id_number": user.holds_id_number,
        "created_at": _time(user.created_at), "last_login_at": _time(user.last_login_at),
    }


def _materials(session: Session, application: ApplicationModel) -> list[dict[str, Any]]:
    return [
        {"kind": m.kind, "label": m.label, "file_name": m.original_name, "content_type": m.content_type,
         "size": m.size, "uploaded_at": _time(m.uploaded_at)}
        for m in materials.of_application(session, application)
    ]


def _applications(session: Session, user: UserModel, case_numbers: dict[int, str]) -> list[dict[str, Any]]:
    rows = session.scalars(select(ApplicationModel).where(ApplicationModel.applicant_id == user.id)
                           .order_by(ApplicationModel.created_at, ApplicationModel.id))
    return [
        {"case_type": a.case_type, "status": a.status, "case_number": case_numbers.get(a.case_id or 0),
         "answers": a.answers, "materials": _materials(session, a), "created_at": _time(a.created_at),
         "updated_at": _time(a.updated_at)}
        for a in rows
    ]


def _case(session: Session, case: CaseModel) -> dict[str, Any]:
    claims = session.scalars(select(ClaimModel).where(ClaimModel.case_id == case.id).order_by(ClaimModel.revision))
    return {
        "case_number": case.case_number, "case_type": case.case_type, "case_type_label": case.type_label,
        "status": case.status, "woman_name": case.woman_name, "man_name": case.man_name,
        "contact_phone": case.contact_phone, "hukou_division": case.hukou_division,
        "residence_division": case.residence_division, "submitted_at": _time(case.submitted_at),
        "status_changed_at": _time(case.status_changed_at), "completed_at": _time(case.completed_at),
        # What the applicant submitted, each time: their own words, not the verified records built from them.
        "claims": [{"revision": c.revision, "answers": c.answers, "submitted_at": _time(c.submitted_at)}
                   for c in claims],
        "decisions": [{"step_name": v.step_name, "decision": v.decision, "reason": v.reason, "at": _time(v.at)}
                      for v in cases.verifications(session, case)],
    }


def _messages(session: Session, user: UserModel) -> list[dict[str, Any]]:
    rows = session.scalars(select(SmsMessageModel).where(SmsMessageModel.phone_hash == user.phone_hash)
                           .order_by(SmsMessageModel.created_at, SmsMessageModel.id))
    return [{"text": m.text, "case_number": m.case_number, "sent_at": _time(m.created_at)} for m in rows]


def _own_record(session: Session, user: UserModel) -> dict[str, Any] | None:
    """Return the citizen's own verified record, only when the account holds its ID number (not merely claims it)."""
    if not user.holds_id_number:
        return None
    person = session.scalar(select(PersonModel).where(PersonModel.id_number_hash == user.id_number_hash))
    if person is None:
        return None
    return {
        "name": person.name, "id_number": person.id_number, "sex": person.sex, "birth_date": _day(person.birth_date),
        "ethnicity": person.ethnicity, "marital_status": person.marital_status, "phone": person.phone,
        "employer": person.employer, "employer_phone": person.employer_phone,
        "hukou_division": person.hukou_division, "residence_division": person.residence_division,
        "verified_at": _time(person.verified_at),
    }


def export(session: Session, user: UserModel) -> dict[str, Any]:
    """Return what the system holds about `user` as one JSON-ready object, and audit the export (flush only)."""
    own_cases = list(session.scalars(select(CaseModel).where(CaseModel.applicant_id == user.id)
                                     .order_by(CaseModel.submitted_at, CaseModel.id)))
    data = {
        "about": ABOUT, "format_version": FORMAT_VERSION, "generated_at": _time(utcnow()),
        "privacy_policy_version": consents.current_version(),
        "account": _account(user),
        "consents": [{"version": c.version, "way": c.way_label, "accepted_at": _time(c.accepted_at)}
                     for c in consents.of_user(session, user)],
        "applications": _applications(session, user, {c.id: c.case_number for c in own_cases}),
        "cases": [_case(session, case) for case in own_cases],
        "text_messages": _messages(session, user),
        "verified_record": _own_record(session, user),
    }
    # Written by the accounts' audit writer, as every event about an account is: the counts, never the data.
    accounts._audit(session, user, "personal_data_exported",
                    applications=len(data["applications"]), cases=len(data["cases"]),
                    text_messages=len(data["text_messages"]))
    return data
