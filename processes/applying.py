"""A citizen's application: what is offered before the form, the rules that need the database, and submission.

Field-level checks (formats, ID checksums, birth date and sex against the ID) belong to the form; this module adds
what only the database knows: divisions that exist, the couple's earlier registrations and parity (孩次). The
answers it takes are the form's cleaned data: `{"woman": {...}, "man": {...}, "after_birth": bool, "children": [...]}`.
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import china_today
from processes import casework
from processes.casework import CaseworkError, Forbidden
from processes.roles import CITIZEN
from processes.withdrawal import WITHDRAWN
from services import applications, cases, divisions, identity, identity_check, notifications, people
from services.accounts import UserModel
from services.codes import CHILD_RELATIONS, FEMALE, SHARED_CHILD

SPOUSES = ("woman", "man")
SPOUSE_LABELS = {"woman": "女方", "man": "男方"}
# A case that did not end in a refusal or a withdrawal still counts for the couple: it is under way or it succeeded.
REFUSED = frozenset({"不予登记", "不予批准", WITHDRAWN})


class ApplicationRefused(CaseworkError):
    """The answers break rules the form cannot check; `problems` maps a form field name to its message."""

    def __init__(self, problems: Mapping[str, str]):
        super().__init__("；".join(problems.values()))
        self.problems = dict(problems)


def _dates(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _dates(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates(item) for item in value]
    if key == "birth_date" and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return value


def stored(answers: Mapping[str, Any]) -> dict:
    """Return answers as JSON can keep them (dates as ISO strings)."""
    return people.json_ready(answers)


def loaded(answers: Mapping[str, Any]) -> dict:
    """Return stored answers with their dates back as dates (a draft may hold partial or unparsable values)."""
    return _dates(answers or {})


def _own_latest_claim(session: Session, user: UserModel) -> people.Claim | None:
    latest = session.scalar(select(cases.CaseModel.id).where(cases.CaseModel.applicant_id == user.id)
                            .order_by(cases.CaseModel.id.desc()).limit(1))
    return people.latest_claim(session, latest) if latest is not None else None


def _verified_self(session: Session, user: UserModel) -> dict:
    """Return the verified details of the account holder's own record, for an identity that has been confirmed."""
    if not user.holds_id_number or not identity_check.at_least(user.identity_level, identity_check.PROVIDER):
        return {}
    me = people.find_person(session, user.id_number)
    if me is None or me.verified_at is None:
        return {}
    return {field: value for field in people.PERSON_FIELDS if (value := getattr(me, field)) is not None}


def prefill(session: Session, user: UserModel) -> dict:
    """Return what the system already knows for a new application by `user`: never ask for it again.

    Only the applicant's own past is used: what this account itself submitted on its last case (both spouses and
    the children), or else its registration, plus its own verified record once its identity is confirmed. Nothing
    is looked up by an ID number typed, registered or matched: that would show one family's details to whoever
    types or registers their number.
    """
    claim = _own_latest_claim(session, user)
    if claim is not None:
        return {"woman": dict(claim.woman), "man": dict(claim.man), "children": [dict(c) for c in claim.children]}
    answers: dict[str, Any] = {"children": []}
    if not user.id_number:
        return answers
    parsed = identity.parse(user.id_number)
    side = "woman" if parsed.sex == FEMALE else "man"
    answers[side] = {"name": user.name, "id_number": parsed.number, "birth_date": parsed.birth_date,
                     "phone": user.phone, **_verified_self(session, user)}
    return answers


def couple_cases(session: Session, woman_id_number: str, man_id_number: str,
                 exclude: cases.CaseModel | None = None) -> list[cases.CaseModel]:
    """Return the couple's earlier cases that were not refused, oldest first."""
    woman = people.find_person(session, woman_id_number)
    man = people.find_person(session, man_id_number)
    if woman is None or man is None:
        return []
    query = select(cases.CaseModel).where(cases.CaseModel.woman_id == woman.id, cases.CaseModel.man_id == man.id,
                                          cases.CaseModel.status.not_in(REFUSED))
    if exclude is not None:
        query = query.where(cases.CaseModel.id != exclude.id)
    return list(session.scalars(query.order_by(cases.CaseModel.id)))


def _division_problems(session: Session, answers: Mapping[str, Any]) -> dict[str, str]:
    problems = {}
    for side in SPOUSES:
        for field, label in (("hukou_division", "户籍地"), ("residence_division", "现居住地")):
            code = answers[side][field]
            if divisions.get_division(session, code) is None:
                problems[f"{side}-{field}"] = f"{SPOUSE_LABELS[side]}{label}区划代码 {code} 不存在，请重新选择"
    return problems


def _parity_problems(session: Session, user: UserModel, case_type: str, answers: Mapping[str, Any],
                     exclude: cases.CaseModel | None) -> dict[str, str]:
    """Check parity against what is registered, telling the applicant only what the rule needs.

    The applicant's own earlier case is named with its number and status; of a case someone else submitted for
    the same two ID numbers the applicant learns only that the couple already has a registration of that parity,
    never its number, status, office or names.
    """
    parity = cases.PARITY_OF_TYPE[case_type]
    label = cases.CASE_TYPES[case_type]
    shared = sum(1 for child in answers["children"] if child["relation"] == SHARED_CHILD)
    problems = {}
    if shared != parity - 1:
        problems["children"] = (f"申请{label}（第{parity}孩）时，「{CHILD_RELATIONS[SHARED_CHILD]}」的子女"
                                f"应为 {parity - 1} 个，您填写了 {shared} 个。请核对子女情况或申请类型")
    for earlier in couple_cases(session, answers["woman"]["id_number"], answers["man"]["id_number"], exclude):
        if earlier.parity is None or earlier.parity < parity:
            continue
        if earlier.applicant_id != user.id:
            problems["case_type"] = (f"该夫妻已有第{earlier.parity}孩的登记或申请，本次不能再申请{label}。"
                                     "如有疑问，请携带夫妻双方身份证到乡镇（街道）服务大厅咨询")
        elif earlier.status in cases.FINAL_STATUSES:
            problems["case_type"] = (f"系统中已有该夫妻的{earlier.type_label}（受理编号 {earlier.case_number}，"
                                     f"{earlier.status}），本次不能再申请{label}")
        else:
            problems["case_type"] = (f"该夫妻的{earlier.type_label}（受理编号 {earlier.case_number}）正在办理中，"
                                     "请勿重复申请")
    return problems


def check(session: Session, user: UserModel, case_type: str, answers: Mapping[str, Any],
          exclude: cases.CaseModel | None = None) -> None:
    """Raise ApplicationRefused when the answers break a rule that needs the database."""
    problems = {}
    if answers["woman"]["id_number"] == answers["man"]["id_number"]:
        problems["man-id_number"] = "男方与女方的身份证号码不能相同"
    problems.update(_division_problems(session, answers))
    if not problems:
        problems.update(_parity_problems(session, user, case_type, answers, exclude))
    if problems:
        raise ApplicationRefused(problems)


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _spouses(session: Session, answers: Mapping[str, Any]) -> dict[str, people.PersonModel]:
    """Return the spouses' records, creating from the ID number alone any that do not exist (never changing one)."""
    found = {}
    for side in SPOUSES:
        parsed = identity.parse(answers[side]["id_number"])
        found[side] = people.ensure_person(session, parsed.number, parsed.birth_date, parsed.sex)
    return found


def _case_fields(answers: Mapping[str, Any], spouses: Mapping[str, people.PersonModel]) -> dict[str, Any]:
    """Return the case's routing and reporting fields, from what this case claims."""
    woman, man = answers["woman"], answers["man"]
    today = china_today()
    return {"woman_name": woman["name"], "man_name": man["name"], "woman_id": spouses["woman"].id,
            "man_id": spouses["man"].id, "mother_age": _age(spouses["woman"].birth_date, today),
            "father_age": _age(spouses["man"].birth_date, today), "mother_ethnicity": woman["ethnicity"],
            "father_ethnicity": man["ethnicity"]}


def _confirm(session: Session, case: cases.CaseModel, template: str) -> None:
    """Tell the applicant by SMS that the case was received, with its number (kept in the case's notices)."""
    if case.contact_phone:
        notifications.send_sms(session, [case.contact_phone], template,
                               {"case_type": case.type_label, "case_number": case.case_number},
                               case_number=case.case_number)


def submit(session: Session, user: UserModel, token: str, answers: Mapping[str, Any]) -> cases.CaseModel:
    """Turn a draft into a case: once only, whatever the number of clicks or retried requests."""
    return submit_once(session, user, token, answers)[0]


def submit_once(session: Session, user: UserModel, token: str, answers: Mapping[str, Any]
                ) -> tuple[cases.CaseModel, bool]:
    """Turn a draft into a case and return it, with whether this call made it (False: it was submitted before).

    The draft row is locked and read afresh first, so a second request for the same draft waits and then finds it
    submitted, whatever it read before the lock.
    """
    application = applications.of_applicant(session, user.id, token, for_update=True)
    if application is None:
        raise Forbidden("申请不存在")
    if application.status == applications.SUBMITTED:
        return session.get(cases.CaseModel, application.case_id), False
    check(session, user, application.case_type, answers)
    spouses = _spouses(session, answers)
    woman = answers["woman"]
    case = casework.submit(
        session, user, case_type=application.case_type, contact_phone=user.phone,
        hukou_division=woman["hukou_division"], residence_division=woman["residence_division"],
        parity=cases.PARITY_OF_TYPE[application.case_type], **_case_fields(answers, spouses),
    )
    session.flush()
    people.record_claim(session, case.id, answers, user.actor)
    people.refresh_places(session, [case.woman_id, case.man_id])
    application.answers, application.status, application.case_id = stored(answers), applications.SUBMITTED, case.id
    # Only the request that made the case gets here: a repeated submission returned the case above, unconfirmed.
    _confirm(session, case, "application_submitted")
    return case, True


def correct(session: Session, user: UserModel, case: cases.CaseModel, answers: Mapping[str, Any],
            note: str = "", values: Mapping[str, Any] | None = None) -> cases.CaseModel:
    """Send a case back as corrected (核实有误 → the applicant's correction), with the corrected answers."""
    if user.id != case.applicant_id or user.role != CITIZEN:
        raise Forbidden("只有申请人本人可以更正申请")
    if not any(task.role == CITIZEN for task in casework.open_tasks(session, case)):
        raise CaseworkError("该申请当前无需更正")
    check(session, user, case.case_type, answers, exclude=case)
    named_before = [case.woman_id, case.man_id]
    for field, value in _case_fields(answers, _spouses(session, answers)).items():
        setattr(case, field, value)
    people.record_claim(session, case.id, answers, user.actor)
    application = session.scalar(select(applications.ApplicationModel)
                                 .where(applications.ApplicationModel.case_id == case.id))
    if application is not None:
        application.answers = stored(answers)
    resubmitted = casework.resubmit(session, case, user, hukou_division=answers["woman"]["hukou_division"],
                                    residence_division=answers["woman"]["residence_division"], note=note,
                                    values=values)
    # A correction may move the case or name another spouse: both the old and the new spouses' places change.
    people.refresh_places(session, [*named_before, case.woman_id, case.man_id])
    _confirm(session, resubmitted, "correction_resubmitted")
    return resubmitted
