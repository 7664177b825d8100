"""The information resource base for staff (信息资源库查询): find persons, read one person, export a division's list.

Who sees a person. Village, township and service-hall staff and county, city and province officials see a person
when the person's verified hukou or residence division lies in their division, or when a case naming the person
(either spouse) has its hukou or residence division there. Citizens and policy and system administrators are
refused. A person outside the jurisdiction is answered exactly like one that does not exist, so neither a search
nor a guessed id confirms that someone is registered elsewhere.

What they see. Village, township and service-hall staff, who serve these families, see names. County, city and
province officials, who supervise, get counts by division and rows without names (张*) until they reveal one
person. For every role ID numbers and phones are masked; showing them is an explicit action that writes an audit
row (`pii_viewed`) naming the person and the fields, never the values. Masking happens here, not in templates, so
the web pages, the API and the exports cannot hand out more than this module does.

Queries. A whole ID number or phone finds its person through the keyed hash, then the rule is checked for that
person alone. A name prefix (or an export) reads one index range of `person_place`, the divisions each person
belongs to with their verified name (services.people keeps it), restricted by the key. The database sorts the
matches and returns one page with the total; for officials it also counts them by division; the page's persons are
then read by id. So a page costs the same few statements however many persons match: a surname shared by
thousands in a county is never carried into Python.
"""

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, String, Subquery, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from engine.calendar import CST
from engine.errors import NotFound
from processes.casework import CaseworkError, Forbidden
from processes.jurisdiction import contains
from processes.overview import actor_names
from processes.roles import (
    CITY_OFFICIAL,
    COUNTY_OFFICIAL,
    PROVINCE_OFFICIAL,
    SERVICE_HALL,
    TOWNSHIP_STAFF,
    VILLAGE_STAFF,
)
from services import audit, divisions, identity
from services.accounts import PHONE_PATTERN, UserModel
from services.cases import CaseModel
from services.codes import ETHNICITIES, MARITAL_STATUSES, SEXES
from services.crypto import blind
from services.people import ClaimModel, PersonChangeModel, PersonModel, PersonPlaceModel

# Staff who serve the families see names; officials above them see counts and masked rows.
NAME_ROLES = frozenset({VILLAGE_STAFF, TOWNSHIP_STAFF, SERVICE_HALL})
AGGREGATE_ROLES = frozenset({COUNTY_OFFICIAL, CITY_OFFICIAL, PROVINCE_OFFICIAL})
READERS = NAME_ROLES | AGGREGATE_ROLES
# Who may take a list with whole ID numbers and phones away (they verify these families in person).
FULL_NUMBER_EXPORTERS = frozenset({VILLAGE_STAFF, TOWNSHIP_STAFF})

COUNTY_CODE_LENGTH = 6
MAX_QUERY_LENGTH = 50  # the name column's length; longer input is no name and no number
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_ID = 2**31 - 1  # PostgreSQL `integer`
EXPORT_MAX_ROWS = 50_000
EXPORT_FORMATS = ("csv", "xlsx")
KINDS = {"id_number": "身份证号码", "phone": "手机号码", "name": "姓名"}
# Fields whose values identify a person by number: masked unless revealed.
NUMBER_FIELDS = frozenset({"id_number", "phone", "employer_phone"})
# Fields officials see only for a person they revealed.
NAMED_FIELDS = frozenset({"name", "employer"})
FIELD_LABELS = {"name": "姓名", "ethnicity": "民族", "phone": "联系电话", "employer": "工作单位",
                "employer_phone": "单位电话", "marital_status": "婚姻状况", "hukou_division": "户籍地",
                "residence_division": "现居住地"}
# Characters a name may hold besides letters (CJK ideographs are letters): the middle dots of transliterated names.
NAME_MARKS = frozenset("·•・ ")

GUIDANCE = "请输入要查询的人员：完整的18位身份证号码、11位手机号码，或姓名（可只输入姓或名字的开头）"
NOT_FOR_ROLE = "您的角色不能查询信息资源库"
NO_DIVISION = "您的账号没有有效的辖区，无法查询信息资源库"
NOT_FOUND = "未找到该人员，或该人员不在您的辖区内"
PARTIAL_NUMBER = "请输入完整的18位身份证号码或11位手机号码；号码不支持部分查询"
BAD_NAME = "姓名只能包含汉字、字母和间隔号「·」"
BAD_DIVISION = "区划代码应为2、4、6、9或12位数字"


class ResourceBaseError(CaseworkError):
    """The request cannot be answered as asked (bad input); the message says why, in Chinese."""


class EmptyQuery(ResourceBaseError):
    """Nothing to search for: the message is the guidance on what to type."""

    def __init__(self) -> None:
        super().__init__(GUIDANCE)


# -- who may ask, and where ---------------------------------------------------------------------------------------


def may_use(user: UserModel | None) -> bool:
    """Return whether `user` has a role that reads the resource base."""
    return user is not None and user.role in READERS


def sees_names(user: UserModel) -> bool:
    """Return whether `user` sees names without revealing a person (staff who serve the families)."""
    return user.role in NAME_ROLES


def _valid_code(code: str | None) -> bool:
    return bool(code) and code.isascii() and code.isdigit() and len(code) in divisions.CODE_LENGTHS.values()


def jurisdiction(user: UserModel) -> str:
    """Return the division whose persons `user` sees; Forbidden for roles that see none."""
    if not may_use(user):
        raise Forbidden(NOT_FOR_ROLE)
    if not _valid_code(user.division_code):
        raise Forbidden(NO_DIVISION)
    return user.division_code


def scope_of(user: UserModel, division: str | None) -> str:
    """Return the division a request reads: the user's own, or one inside it they asked for."""
    own = jurisdiction(user)
    wanted = "".join((division or "").split())
    if not wanted:
        return own
    if not _valid_code(wanted):
        raise ResourceBaseError(BAD_DIVISION)
    if not contains(own, wanted):
        raise Forbidden(f"区划 {wanted} 不在您的辖区内")
    return wanted


# -- masking --------------------------------------------------------------------------------------------------------


def mask_name(name: str | None) -> str:
    """Return the surname's first character and a star (张*): enough to tell rows apart, not to name anyone."""
    return f"{name[0]}*" if name else ""


def mask_phone(phone: str | None) -> str:
    """Return a phone with its middle hidden: 138****5678, a landline as 010-****5678, a short one all stars."""
    if not phone:
        return ""
    if PHONE_PATTERN.fullmatch(phone):
        return f"{phone[:3]}****{phone[7:]}"
    area, dash, local = phone.rpartition("-")
    if dash and len(local) > 4:
        return f"{area}-{'*' * (len(local) - 4)}{local[-4:]}"
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}" if len(phone) >= 10 else "*" * len(phone)


def mask_id(number: str | None) -> str:
    """Return an ID number with its birth date and sequence hidden (110101********1234).

    Other certificate numbers (a child's birth certificate) keep two characters at each end, enough to tell two
    apart and too few to use.
    """
    if not number:
        return ""
    if len(number) == 18:
        return identity.mask(number)
    return f"{number[:2]}{'*' * (len(number) - 4)}{number[-2:]}" if len(number) >= 8 else "*" * len(number)


@dataclass(frozen=True)
class Disclosure:
    """What one reader sees of a person: names (their role, or revealed), numbers (revealed only)."""

    names: bool
    numbers: bool

    def value(self, field_name: str, value: Any) -> Any:
        """Return `value` of `field_name` as this reader may see it."""
        if value in (None, ""):
            return None
        if field_name in {"id_number", "document_number"}:
            return value if self.numbers else mask_id(value)
        if field_name in NUMBER_FIELDS:
            return value if self.numbers else mask_phone(value)
        if field_name in NAMED_FIELDS:
            return value if self.names else mask_name(value)
        return value


def _audit(session: Session, user: UserModel, kind: str, **detail: Any) -> None:
    """Append one row to the audit trail (not tied to a case: the resource base is read across cases)."""
    audit.record(session, user.actor, kind, element="resource_base", **detail)


# -- what to search for ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A parsed search: its kind (id_number, phone, name) and the normalised value."""

    kind: str
    value: str

    @property
    def label(self) -> str:
        """Return what was searched for, in Chinese, with numbers masked (for headings and messages)."""
        shown = {"id_number": mask_id, "phone": mask_phone}.get(self.kind, lambda v: v)(self.value)
        return f"{KINDS[self.kind]}「{shown}」"


def _plain(text: str | None) -> str:
    """Return the input in NFKC form (full-width digits typed with a Chinese IME become ASCII), without controls."""
    value = unicodedata.normalize("NFKC", text or "")
    return "".join(c for c in value if unicodedata.category(c) not in {"Cc", "Cf"}).strip()


def parse_query(text: str | None) -> Query:
    """Tell an ID number, a phone and a name apart; refuse what is none of them with the reason."""
    if text and len(text) > MAX_QUERY_LENGTH * 4:  # no normalising of a hostile megabyte
        raise ResourceBaseError(f"搜索内容不能超过{MAX_QUERY_LENGTH}个字")
    term = _plain(text)
    if not term:
        raise EmptyQuery
    if len(term) > MAX_QUERY_LENGTH:
        raise ResourceBaseError(f"搜索内容不能超过{MAX_QUERY_LENGTH}个字")
    compact = "".join(c for c in term if c not in " -").upper()
    if compact.isascii() and compact[:-1].isdigit() and (compact[-1].isdigit() or compact[-1] == "X"):
        if PHONE_PATTERN.fullmatch(compact):
            return Query("phone", compact)
        if len(compact) == 18:
            try:
                return Query("id_number", identity.parse(compact).number)
            except identity.InvalidIdNumber as exc:
                raise ResourceBaseError(str(exc)) from None
        raise ResourceBaseError(PARTIAL_NUMBER)
    if not all(c in NAME_MARKS or unicodedata.category(c).startswith("L") for c in term):
        raise ResourceBaseError(BAD_NAME)
    return Query("name", term)


def _like_prefix(value: str) -> str:
    """Return a LIKE pattern matching strings that start with `value` (its wildcards escaped with '/')."""
    return value.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _key(query: Query | None) -> ColumnElement[bool] | None:
    """Return the condition on person rows a query sets (None: every person of the division)."""
    if query is None:
        return None
    if query.kind == "id_number":
        return PersonModel.id_number_hash == blind(query.value)
    if query.kind == "phone":
        return PersonModel.phone_hash == blind(query.value)
    # A plain LIKE with the pattern computed here: with a constant prefix PostgreSQL can use an index built with
    # text_pattern_ops under any collation, and the answer is right whatever the collation is.
    return PersonPlaceModel.name.like(_like_prefix(query.value), escape="/")


# -- the visible persons --------------------------------------------------------------------------------------------


def _in_case_division(scope: str) -> ColumnElement[bool]:
    return or_(divisions.within(CaseModel.hukou_division, scope), divisions.within(CaseModel.residence_division, scope))


def _one_by_one(scope: str, key: ColumnElement[bool]) -> Subquery:
    """Return (person_id, place, name) of the few persons a whole number finds, each checked where it stands."""
    person, claim_case = PersonModel, CaseModel
    named_by = or_(claim_case.woman_id == person.id, claim_case.man_id == person.id)
    case_place = (select(func.min(case((divisions.within(claim_case.hukou_division, scope),
                                        literal("3", String) + claim_case.hukou_division),
                                       else_=literal("4", String) + claim_case.residence_division)))
                  .where(named_by, _in_case_division(scope)).correlate(person).scalar_subquery())
    own_hukou, own_residence = (divisions.within(person.hukou_division, scope),
                                divisions.within(person.residence_division, scope))
    place = case((own_hukou, literal("1", String) + person.hukou_division),
                 (own_residence, literal("2", String) + person.residence_division), else_=case_place)
    return (select(person.id.label("person_id"), place.label("place"), person.name.label("name"))
            .where(key, or_(own_hukou, own_residence, case_place.is_not(None))).subquery("matched"))


def matched(scope: str, key: ColumnElement[bool] | None, *, selective: bool = False) -> Subquery:
    """Return (person_id, place, name) of every person visible from `scope` that satisfies `key`, one row each.

    A `selective` key (a whole ID number or phone) finds a handful of persons by its index, and each is checked
    against the rule on its own. Otherwise (a name prefix on `PersonPlaceModel.name`, or everyone) one range of
    `person_place`, the places each person belongs to (services.people.refresh_places), read from its
    (division_code, name, person_id) index. `place` is where the person belongs inside the scope, for the counts by
    division: the verified hukou division, else the verified residence division, else a case's hukou or residence
    division; the rank prefixed to the division makes min() pick the best one on any database.
    """
    if selective and key is not None:
        return _one_by_one(scope, key)
    place = PersonPlaceModel
    # A county is one value of county_code: with the name that makes one index range, where a range of division
    # codes would read the whole county and filter it.
    where = place.county_code == scope if len(scope) == COUNTY_CODE_LENGTH else divisions.within(place.division_code,
                                                                                                  scope)
    conditions = [where, *([key] if key is not None else [])]
    return (select(place.person_id, func.min(cast(place.rank, String) + place.division_code).label("place"),
                   func.min(place.name).label("name"))
            .where(*conditions).group_by(place.person_id).subquery("matched"))


def is_visible(session: Session, user: UserModel, person_id: int) -> bool:
    """Return whether `user` may see the person with this id (False for one that does not exist)."""
    if not 1 <= person_id <= MAX_ID:
        return False
    found = matched(jurisdiction(user), PersonModel.id == person_id, selective=True)
    return bool(session.scalar(select(func.count()).select_from(found)))


def _found(scope: str, query: Query | None) -> Subquery:
    """Return the matches of `query` visible from `scope` as (person_id, place, name), one row each."""
    selective = query is not None and query.kind in {"id_number", "phone"}
    return matched(scope, _key(query), selective=selective)


def _listed(found: Subquery) -> Select:
    """Return (person_id, place) of the matches in the order lists show them: by name, unnamed last, then by id.

    The database sorts and cuts the page: a surname shared by thousands is never carried into Python.
    """
    return (select(found.c.person_id, func.substr(found.c.place, 2).label("place"))
            .order_by(found.c.name.is_(None), found.c.name, found.c.person_id))


def _total(session: Session, found: Subquery) -> int:
    return session.scalar(select(func.count()).select_from(found)) or 0


def _page(session: Session, found: Subquery, page: int, page_size: int) -> tuple[list[tuple[int, str]], int]:
    """Return one page of matches and the number of matches (one statement unless the page lies past the end)."""
    rows = session.execute(_listed(found).add_columns(func.count().over().label("total"))
                           .limit(page_size).offset((page - 1) * page_size)).all()
    total = rows[0].total if rows else _total(session, found) if page > 1 else 0
    return [(row.person_id, row.place) for row in rows], total


def _persons(session: Session, ids: Sequence[int]) -> dict[int, PersonModel]:
    """Return the persons with these ids, read in batches (a page is one batch)."""
    found: dict[int, PersonModel] = {}
    for start in range(0, len(ids), 1000):
        batch = ids[start:start + 1000]
        found.update((p.id, p) for p in session.scalars(select(PersonModel).where(PersonModel.id.in_(batch))))
    return found


# -- search ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonRow:
    """One person in a result list, as the reader may see them (`name` None when names are hidden)."""

    id: int
    name: str | None
    masked_name: str
    id_number: str
    sex: str
    birth_year: int
    phone: str | None
    hukou_division: str | None
    residence_division: str | None
    place: str
    verified: bool


@dataclass
class PlaceCount:
    """How many persons of a result belong to one division, with its subdivisions."""

    code: str
    count: int
    parts: list["PlaceCount"] = field(default_factory=list)


@dataclass
class SearchResult:
    """A page of a search, the total, and for officials the counts by division (`names` names every code)."""

    query: Query
    scope: str
    rows: list[PersonRow]
    total: int
    page: int
    page_size: int
    names_visible: bool
    counts: list[PlaceCount] | None
    names: dict[str, str]

    @property
    def pages(self) -> int:
        """Return the number of pages (at least one)."""
        return max(1, -(-self.total // self.page_size))


def _row(person: PersonModel, place: str, disclose: Disclosure) -> PersonRow:
    return PersonRow(
        id=person.id, name=person.name if disclose.names else None, masked_name=mask_name(person.name),
        id_number=disclose.value("id_number", person.id_number), sex=person.sex, birth_year=person.birth_date.year,
        phone=disclose.value("phone", person.phone), hukou_division=person.hukou_division,
        residence_division=person.residence_division, place=place, verified=person.verified_at is not None,
    )


def _count_levels(scope: str) -> list[int]:
    """Return the code lengths of the two levels under `scope` that counts are given for."""
    return [length for length in (4, 6, 9, 12) if length > len(scope)][:2]


def _counts(session: Session, found: Subquery, scope: str) -> list[PlaceCount]:
    """Return the matches counted by the two levels of divisions under `scope`, grouped by the database."""
    levels = _count_levels(scope)
    if not levels:
        return []
    # place is the rank digit followed by the division code.
    codes = [func.substr(found.c.place, 2, length) for length in levels]
    upper: dict[str, PlaceCount] = {}
    for *parts, count in session.execute(select(*codes, func.count()).group_by(*codes).order_by(*codes)):
        top = upper.setdefault(parts[0], PlaceCount(parts[0], 0))
        top.count += count
        if len(parts) > 1:
            top.parts.append(PlaceCount(parts[1], count))
    return list(upper.values())


def _page_bounds(page: int, page_size: int) -> None:
    if page < 1:
        raise ResourceBaseError("页码应为正整数")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ResourceBaseError(f"每页条数应在1到{MAX_PAGE_SIZE}之间")


def search(session: Session, user: UserModel, text: str | None, *, division: str | None = None, page: int = 1,
           page_size: int = DEFAULT_PAGE_SIZE) -> SearchResult:
    """Find the persons `user` may see by whole ID number, whole phone or the start of the verified name."""
    scope = scope_of(user, division)
    query = parse_query(text)
    _page_bounds(page, page_size)
    found = _found(scope, query)
    shown, total = _page(session, found, page, page_size)
    persons = _persons(session, [person_id for person_id, _place in shown])
    disclose = Disclosure(names=sees_names(user), numbers=False)
    rows = [_row(persons[person_id], place, disclose) for person_id, place in shown]
    counts = None if disclose.names else _counts(session, found, scope)
    codes = {code for row in rows for code in (row.hukou_division, row.residence_division, row.place)}
    codes |= {c.code for top in counts or [] for c in (top, *top.parts)}
    return SearchResult(query=query, scope=scope, rows=rows, total=total, page=page, page_size=page_size,
                        names_visible=disclose.names, counts=counts,
                        names=divisions.full_names(session, codes, near=user.division_code))


# -- one person -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One verified change to the person's record: field, old → new (as the reader may see them), who, when."""

    field: str
    label: str
    old: str | None
    new: str | None
    actor: str
    actor_name: str
    case_number: str | None  # None when the case lies outside the reader's jurisdiction
    at: datetime


@dataclass(frozen=True)
class CaseLine:
    """A case naming the person, within the reader's jurisdiction."""

    case_number: str
    case_type: str
    type_label: str
    status: str
    side: str  # woman | man
    hukou_division: str
    residence_division: str
    submitted_at: datetime


@dataclass(frozen=True)
class Child:
    """A child the couple declared, from the latest claim of one or more of the person's cases."""

    name: str | None
    sex: str | None
    birth_date: date | None
    document_number: str | None
    relation: str | None
    case_numbers: tuple[str, ...]


@dataclass
class PersonPage:
    """Everything the person page and the API show about one person, masked as the reader may see it."""

    id: int
    details: dict[str, Any]  # name, id_number, sex, birth_date, birth_year and the verified fields
    verified_at: datetime | None
    created_at: datetime
    names_visible: bool
    revealed: bool
    history: list[Change]
    cases: list[CaseLine]
    children: list[Child]
    names: dict[str, str]  # division code → name, for every code on the page

    @property
    def verifications(self) -> list[tuple[Change, list[Change]]]:
        """Return the history by verification (one confirmation changes several fields at once), newest first."""
        groups: list[tuple[Change, list[Change]]] = []
        for change in self.history:
            first = groups[-1][0] if groups else None
            if first and (first.at, first.actor, first.case_number) == (change.at, change.actor, change.case_number):
                groups[-1][1].append(change)
            else:
                groups.append((change, [change]))
        order = list(FIELD_LABELS)
        return [(first, sorted(changes, key=lambda c: order.index(c.field) if c.field in order else len(order)))
                for first, changes in groups]


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _latest_children(session: Session, case_lines: Sequence[tuple[int, str]],
                     disclose: Disclosure) -> list[Child]:
    """Return the children the latest claims of these cases declare, each child once (one query for all claims)."""
    if not case_lines:
        return []
    number_of = dict(case_lines)
    newest = (select(ClaimModel.case_id, func.max(ClaimModel.revision).label("revision"))
              .where(ClaimModel.case_id.in_(number_of)).group_by(ClaimModel.case_id).subquery())
    claims = session.scalars(select(ClaimModel).join(newest, and_(
        ClaimModel.case_id == newest.c.case_id, ClaimModel.revision == newest.c.revision)))
    children: dict[tuple, dict[str, Any]] = {}
    # Newest case first, so each child is shown as the latest case declares it.
    for claim in sorted(claims, key=lambda c: -c.case_id):
        for given in claim.answers.get("children", []):
            born = _as_date(given.get("birth_date"))
            key = (given.get("name"), born)
            entry = children.setdefault(key, {"given": given, "born": born, "cases": []})
            entry["cases"].append(number_of[claim.case_id])
    return [Child(name=disclose.value("name", entry["given"].get("name")), sex=entry["given"].get("sex"),
                  birth_date=entry["born"],
                  document_number=disclose.value("document_number", entry["given"].get("document_number")),
                  relation=entry["given"].get("relation"), case_numbers=tuple(entry["cases"]))
            for entry in sorted(children.values(), key=lambda e: (e["born"] or date.min, e["given"].get("name") or ""))]


def person_page(session: Session, user: UserModel, person_id: int, *, reveal: bool = False,
                via: str = "web") -> PersonPage:
    """Return what `user` may see of one person; with `reveal`, the whole numbers (and names), audited.

    A person the user may not see is NotFound, like one that does not exist.
    """
    scope = jurisdiction(user)
    if not is_visible(session, user, person_id):
        raise NotFound(NOT_FOUND)
    person = session.get(PersonModel, person_id)
    names_visible = sees_names(user) or reveal
    disclose = Disclosure(names=names_visible, numbers=reveal)
    if reveal:
        fields = sorted({*NUMBER_FIELDS, "document_number"} | (set() if sees_names(user) else NAMED_FIELDS))
        _audit(session, user, "pii_viewed", person_id=person_id, fields=fields, via=via)

    cases = list(session.scalars(
        select(CaseModel).where(or_(CaseModel.woman_id == person_id, CaseModel.man_id == person_id),
                                _in_case_division(scope))
        .order_by(CaseModel.submitted_at.desc(), CaseModel.id.desc())))
    case_lines = [CaseLine(case_number=c.case_number, case_type=c.case_type, type_label=c.type_label, status=c.status,
                           side="woman" if c.woman_id == person_id else "man", hukou_division=c.hukou_division,
                           residence_division=c.residence_division, submitted_at=c.submitted_at) for c in cases]
    visible_numbers = {c.id: c.case_number for c in cases}

    changes = list(session.scalars(select(PersonChangeModel).where(PersonChangeModel.person_id == person_id)
                                   .order_by(PersonChangeModel.at.desc(), PersonChangeModel.id.desc())))
    actors = actor_names(session, {c.actor for c in changes})
    history = [Change(field=c.field, label=FIELD_LABELS.get(c.field, c.field), old=disclose.value(c.field, c.old_value),
                      new=disclose.value(c.field, c.new_value), actor=c.actor, actor_name=actors.get(c.actor, c.actor),
                      case_number=visible_numbers.get(c.case_id), at=c.at) for c in changes]

    details = {
        "name": disclose.value("name", person.name), "id_number": disclose.value("id_number", person.id_number),
        "sex": person.sex, "birth_year": person.birth_date.year,
        "birth_date": person.birth_date if names_visible else None,
        **{name: disclose.value(name, getattr(person, name)) for name in FIELD_LABELS if name != "name"},
    }
    codes = {person.hukou_division, person.residence_division}
    codes |= {code for line in case_lines for code in (line.hukou_division, line.residence_division)}
    codes |= {value for change in history if change.field.endswith("_division") for value in (change.old, change.new)}
    return PersonPage(
        id=person.id, details=details, verified_at=person.verified_at, created_at=person.created_at,
        names_visible=names_visible, revealed=reveal, history=history, cases=case_lines,
        children=_latest_children(session, [(c.id, c.case_number) for c in cases], disclose),
        names=divisions.full_names(session, codes, near=user.division_code),
    )


# -- export ---------------------------------------------------------------------------------------------------------


@dataclass
class ExportTable:
    """A table to download: a title, the column names and the rows (counts by division for officials)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    scope: str
    aggregate: bool
    full_numbers: bool


PERSON_COLUMNS = ["姓名", "身份证号码", "性别", "出生日期", "民族", "婚姻状况", "联系电话", "工作单位", "单位电话",
                  "户籍地", "现居住地", "核实时间"]
COUNT_COLUMNS = ["区划代码", "区划名称", "下级区划代码", "下级区划名称", "人数"]


def _china_time(moment: datetime | None) -> str:
    return f"{moment.astimezone(CST):%Y-%m-%d %H:%M}" if moment else ""


def export(session: Session, user: UserModel, *, name: str | None = None, division: str | None = None,
           full_numbers: bool = False, fmt: str = "csv") -> ExportTable:
    """Return the persons `user` may see (optionally those whose name starts with `name`, in `division`), audited.

    Staff who serve the families get one row per person, numbers masked unless village or township staff asked
    for whole ones; officials get the counts by division only.
    """
    scope = scope_of(user, division)
    if fmt not in EXPORT_FORMATS:
        raise ResourceBaseError("导出格式应为 CSV 或 Excel（xlsx）")
    if full_numbers and user.role not in FULL_NUMBER_EXPORTERS:
        raise Forbidden("只有村（居）和乡镇（街道）工作人员可以导出完整号码")
    query = None
    if _plain(name):
        query = parse_query(name)
        if query.kind != "name":
            raise ResourceBaseError("导出只能按姓名筛选；查找某一人员请使用查询")
    found = _found(scope, query)
    names = divisions.full_names(session, [scope])
    title = f"信息资源库 {names.get(scope, scope)}" + (f" 姓名以「{query.value}」开头" if query else "")
    if sees_names(user):
        total = _total(session, found)
        if total > EXPORT_MAX_ROWS:
            raise ResourceBaseError(f"共 {total} 人，超过单次导出上限 {EXPORT_MAX_ROWS} 人，请按区划或姓名缩小范围")
        disclose = Disclosure(names=True, numbers=full_numbers)
        listed = [person_id for person_id, _place in session.execute(_listed(found))]
        by_id = _persons(session, listed)
        persons = [by_id[person_id] for person_id in listed]
        places = divisions.full_names(session, {p.hukou_division for p in persons} | {p.residence_division
                                                                                      for p in persons})
        rows = [[p.name or "", disclose.value("id_number", p.id_number), SEXES.get(p.sex, p.sex),
                 p.birth_date.isoformat(), ETHNICITIES.get(p.ethnicity or "", p.ethnicity or ""),
                 MARITAL_STATUSES.get(p.marital_status or "", p.marital_status or ""),
                 disclose.value("phone", p.phone) or "", p.employer or "",
                 disclose.value("employer_phone", p.employer_phone) or "",
                 places.get(p.hukou_division or "", p.hukou_division or ""),
                 places.get(p.residence_division or "", p.residence_division or ""), _china_time(p.verified_at)]
                for p in persons]
        table = ExportTable(title, PERSON_COLUMNS, rows, scope, aggregate=False, full_numbers=full_numbers)
        persons_counted = total
    else:
        counts = _counts(session, found, scope)
        places = divisions.full_names(session, {c.code for top in counts for c in (top, *top.parts)},
                                      near=user.division_code)
        rows = []
        for top in counts:
            for part in top.parts or [PlaceCount("", top.count)]:
                rows.append([top.code, places.get(top.code, top.code), part.code, places.get(part.code, part.code),
                             part.count])
        table = ExportTable(title + " 人数", COUNT_COLUMNS, rows, scope, aggregate=True, full_numbers=False)
        persons_counted = sum(top.count for top in counts)
    _audit(session, user, "resource_base_exported", rows=len(table.rows), persons=persons_counted, format=fmt,
           filter={"name": query.value if query else None, "division": scope}, aggregate=table.aggregate,
           full_numbers=full_numbers)
    return table
