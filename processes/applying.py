"""A citizen's application: what is offered before the form, the rules that need the database, and submission.

Field-level checks (formats, ID checksums, birth date and sex against the ID) belong to the form; this module adds
what only the database knows: divisions that exist, the couple's earlier registrations and parity (孩次). The
answers it takes are the form's cleaned data: `{"woman": {...}, "man": {...}, "after_birth": bool, "children": [...]}`.
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from engine.calendar import china_today
from processes import casework
from processes.casework import CaseworkError, Forbidden
from processes.roles import CITIZEN
from services import applications, cases, divisions, identity, people
from services.accounts import UserModel
from services.codes import CHILD_RELATIONS, SHARED_CHILD

SPOUSES = ("woman", "man")
SPOUSE_LABELS = {"woman": "女方", "man": "男方"}
# A case that did not end in a refusal still counts for the couple: it is under way or it succeeded.
REFUSED = frozenset({"不予登记", "不予批准"})


class ApplicationRefused(CaseworkError):
    """The answers break rules the form cannot check; `problems` maps a form field name to its message."""

    def __init__(self, problems: Mapping[str, str]):
        super().__init__("；".join(problems.values()))
        self.problems = dict(problems)


def _json(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value


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
    return _json(answers)


def loaded(answers: Mapping[str, Any]) -> dict:
    """Return stored answers with their dates back as dates (a draft may hold partial or unparsable values)."""
    return _dates(answers or {})


def _person_answers(person: people.PersonModel) -> dict:
    return {"birth_date": person.birth_date, "id_number": person.id_number,
            **{field: getattr(person, field) for field in people.PERSON_FIELDS}}


def _latest_case_of(session: Session, person: people.PersonModel) -> cases.CaseModel | None:
    return session.scalar(
        select(cases.CaseModel).where(or_(cases.CaseModel.woman_id == person.id, cases.CaseModel.man_id == person.id))
        .order_by(cases.CaseModel.id.desc()).limit(1)
    )


def prefill(session: Session, user: UserModel) -> dict:
    """Return what the system already knows for a new application by `user`: never ask for it again.

    The applicant's own details come from their registration (or from their last application), their spouse's
    and the couple's children from the applicant's last case. Nothing is looked up by an ID number typed into
    the form: that would show one person's details to whoever types their number.
    """
    answers: dict[str, Any] = {"children": []}
    if not user.id_number:
        return answers
    me = people.find_person(session, user.id_number)
    if me is None:
        parsed = identity.parse(user.id_number)
        side = "woman" if parsed.sex == "2" else "man"
        answers[side] = {"name": user.name, "id_number": parsed.number, "birth_date": parsed.birth_date,
                         "phone": user.phone}
        return answers
    answers["woman" if me.sex == "2" else "man"] = _person_answers(me)
    last = _latest_case_of(session, me)
    if last is not None:
        spouse_id = last.man_id if last.woman_id == me.id else last.woman_id
        spouse = session.get(people.PersonModel, spouse_id) if spouse_id else None
        if spouse is not None:
            answers["woman" if spouse.sex == "2" else "man"] = _person_answers(spouse)
        answers["children"] = [
            {"name": c.name, "sex": c.sex, "birth_date": c.birth_date, "document_number": c.document_number,
             "relation": c.relation}
            for c in session.scalars(select(people.ChildModel).where(people.ChildModel.case_id == last.id)
                                     .order_by(people.ChildModel.id))
        ]
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


def _parity_problems(session: Session, case_type: str, answers: Mapping[str, Any],
                     exclude: cases.CaseModel | None) -> dict[str, str]:
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
        if earlier.status in cases.FINAL_STATUSES:
            problems["case_type"] = (f"系统中已有该夫妻的{earlier.type_label}（受理编号 {earlier.case_number}，"
                                     f"{earlier.status}），本次不能再申请{label}")
        else:
            problems["case_type"] = (f"该夫妻的{earlier.type_label}（受理编号 {earlier.case_number}）正在办理中，"
                                     "请勿重复申请")
    return problems


def check(session: Session, case_type: str, answers: Mapping[str, Any],
          exclude: cases.CaseModel | None = None) -> None:
    """Raise ApplicationRefused when the answers break a rule that needs the database."""
    problems = {}
    if answers["woman"]["id_number"] == answers["man"]["id_number"]:
        problems["man-id_number"] = "男方与女方的身份证号码不能相同"
    problems.update(_division_problems(session, answers))
    if not problems:
        problems.update(_parity_problems(session, case_type, answers, exclude))
    if problems:
        raise ApplicationRefused(problems)


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _save_spouses(session: Session, answers: Mapping[str, Any]) -> dict[str, people.PersonModel]:
    saved = {}
    for side in SPOUSES:
        given = answers[side]
        parsed = identity.parse(given["id_number"])
        saved[side] = people.save_person(session, parsed.number, parsed.birth_date, parsed.sex, given)
    return saved


def _case_fields(answers: Mapping[str, Any], spouses: Mapping[str, people.PersonModel]) -> dict[str, Any]:
    woman, man = spouses["woman"], spouses["man"]
    today = china_today()
    return {"woman_name": woman.name, "man_name": man.name, "woman_id": woman.id, "man_id": man.id,
            "mother_age": _age(woman.birth_date, today), "father_age": _age(man.birth_date, today),
            "mother_ethnicity": woman.ethnicity, "father_ethnicity": man.ethnicity}


def _replace_children(session: Session, case: cases.CaseModel, children: list[Mapping[str, Any]]) -> None:
    session.execute(delete(people.ChildModel).where(people.ChildModel.case_id == case.id))
    session.add_all(people.ChildModel(case_id=case.id, **{k: child[k] for k in
                                                         ("name", "sex", "birth_date", "document_number", "relation")})
                    for child in children)


def submit(session: Session, user: UserModel, token: str, answers: Mapping[str, Any]) -> cases.CaseModel:
    """Turn a draft into a case: once only, whatever the number of clicks or retried requests.

    The draft row is locked first, so a second request for the same draft waits and then finds it submitted.
    """
    application = applications.of_applicant(session, user.id, token, for_update=True)
    if application is None:
        raise Forbidden("申请不存在")
    if application.status == applications.SUBMITTED:
        return session.get(cases.CaseModel, application.case_id)
    check(session, application.case_type, answers)
    spouses = _save_spouses(session, answers)
    woman = spouses["woman"]
    case = casework.submit(
        session, user, case_type=application.case_type, contact_phone=user.phone,
        hukou_division=woman.hukou_division, residence_division=woman.residence_division,
        parity=cases.PARITY_OF_TYPE[application.case_type], **_case_fields(answers, spouses),
    )
    session.flush()
    _replace_children(session, case, answers["children"])
    application.answers, application.status, application.case_id = stored(answers), applications.SUBMITTED, case.id
    return case


def correct(session: Session, user: UserModel, case: cases.CaseModel, answers: Mapping[str, Any],
            note: str = "") -> cases.CaseModel:
    """Send a case back as corrected (核实有误 → the applicant's correction), with the corrected answers."""
    if user.id != case.applicant_id or user.role != CITIZEN:
        raise Forbidden("只有申请人本人可以更正申请")
    if not any(task.role == CITIZEN for task in casework.open_tasks(session, case)):
        raise CaseworkError("该申请当前无需更正")
    check(session, case.case_type, answers, exclude=case)
    spouses = _save_spouses(session, answers)
    for field, value in _case_fields(answers, spouses).items():
        setattr(case, field, value)
    _replace_children(session, case, answers["children"])
    application = session.scalar(select(applications.ApplicationModel)
                                 .where(applications.ApplicationModel.case_id == case.id))
    if application is not None:
        application.answers = stored(answers)
    return casework.resubmit(session, case, user, hukou_division=spouses["woman"].hukou_division,
                             residence_division=spouses["woman"].residence_division, note=note)
