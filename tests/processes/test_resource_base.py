"""The resource base for staff: who sees whom, what is masked, what is audited, and how many statements it costs.

The persons come from the real flows (tests/resource_world.py): applications submitted by their own citizens and
verified by the village staff of their cases, so the records are what services.people.confirm_claim made of them.
"""

import json

import pytest
from sqlalchemy import event, select

from engine.errors import NotFound
from engine.models import AuditEventModel
from processes import resource_base
from processes.casework import Forbidden
from processes.resource_base import EmptyQuery, ResourceBaseError, parse_query
from services.db import db
from tests.applications import MAN_ID, WOMAN_ID
from tests.fixtures import forget
from tests.identities import id_number, with_wrong_check
from tests.resource_world import (
    A_NEW_PHONE,
    A_VILLAGE,
    B_MAN_ID,
    B_MAN_PHONE,
    B_VILLAGE,
    B_WOMAN_ID,
    C_VILLAGE,
    C_WOMAN_ID,
    build,
)


@pytest.fixture
def world(session, people, deployed):
    return build(session, people, deployed)


def _ids(result) -> set[int]:
    return {row.id for row in result.rows}


def _audits(session, kind):
    forget(session)
    return list(session.scalars(select(AuditEventModel).where(AuditEventModel.kind == kind)
                                .order_by(AuditEventModel.id)))


# -- what a search box holds ----------------------------------------------------------------------------------------


def test_a_query_is_an_id_number_a_phone_or_a_name():
    assert parse_query(WOMAN_ID) == resource_base.Query("id_number", WOMAN_ID)
    assert parse_query(f" {WOMAN_ID[:6]} {WOMAN_ID[6:]} ").kind == "id_number"
    x_number = next(n for n in (f"11010119900101{i:03d}" for i in range(1, 999))
                    if resource_base.identity.check_character(n) == "X")
    assert parse_query(x_number.lower() + "x").value == x_number + "X"
    full_width = WOMAN_ID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert parse_query(full_width).value == WOMAN_ID
    assert parse_query("138 0000 0001") == resource_base.Query("phone", "13800000001")
    assert parse_query("138-0000-0001").kind == "phone"
    assert parse_query("张") == resource_base.Query("name", "张")
    assert parse_query("阿依古丽·买买提").kind == "name"
    assert parse_query("Zhang").kind == "name"
    assert parse_query(WOMAN_ID).label == "身份证号码「110101********1227」"
    assert parse_query("13800000001").label == "手机号码「138****0001」"


@pytest.mark.parametrize(("text", "message"), [
    (with_wrong_check(WOMAN_ID), "身份证号码校验位不正确，请核对后重新输入"),
    (id_number("19931307", "2"), "身份证号码中的出生日期不存在"),
    ("1101011993", resource_base.PARTIAL_NUMBER),
    ("1227", resource_base.PARTIAL_NUMBER),
    ("23456789012", resource_base.PARTIAL_NUMBER),
    ("' OR 1=1 --", resource_base.BAD_NAME),
    ("张%", resource_base.BAD_NAME),
    ("_", resource_base.BAD_NAME),
    ("Robert'); DROP TABLE person;--", resource_base.BAD_NAME),
    ("<script>alert(1)</script>", resource_base.BAD_NAME),
    ("张" * 51, "搜索内容不能超过50个字"),
    ("张" * 10_000, "搜索内容不能超过50个字"),
])
def test_what_is_neither_gets_the_reason(text, message):
    with pytest.raises(ResourceBaseError) as refused:
        parse_query(text)
    assert str(refused.value) == message


@pytest.mark.parametrize("text", [None, "", "   ", "\u200b\u0000"])
def test_an_empty_query_gets_the_guidance(text):
    with pytest.raises(EmptyQuery, match="请输入要查询的人员"):
        parse_query(text)


# -- who sees whom --------------------------------------------------------------------------------------------------


def test_village_staff_see_the_persons_of_their_village_and_no_one_else(session, world):
    ids, hukou = world.ids, world.people.hukou
    found = resource_base.search(session, hukou, "张")
    assert _ids(found) == {ids["zhang_li"]}, "张伟 of 景山街道 is not 多福巷's"
    (row,) = found.rows
    assert (row.name, row.id_number, row.phone) == ("张丽", "110101********1227", "137****0009")
    assert (row.hukou_division, row.residence_division, row.place, row.verified) == (
        A_VILLAGE, "110101001002", A_VILLAGE, True)
    assert found.names[A_VILLAGE] == "多福巷社区居委会"
    assert found.names["110101001002"] == "银闸社区居委会", "named without the levels the reader shares"
    assert found.counts is None
    assert found.names_visible

    assert _ids(resource_base.search(session, hukou, WOMAN_ID)) == {ids["zhang_li"]}
    assert _ids(resource_base.search(session, hukou, MAN_ID)) == {ids["liu_qiang"]}
    assert _ids(resource_base.search(session, hukou, A_NEW_PHONE)) == {ids["zhang_li"]}
    assert _ids(resource_base.search(session, hukou, "13800000001")) == {ids["liu_qiang"]}, "her old phone is his"
    # Another village's persons are answered like nobody: same empty result for a number that exists elsewhere.
    for elsewhere in (B_WOMAN_ID, C_WOMAN_ID, B_MAN_PHONE):
        assert resource_base.search(session, hukou, elsewhere).total == 0
    assert resource_base.search(session, hukou, "张芳").total == 0


def test_a_spouse_from_elsewhere_is_seen_through_the_case_that_names_him(session, world):
    ids = world.ids
    for who in ("longfu", "jingshan", "county"):
        user = getattr(world.people, who)
        assert _ids(resource_base.search(session, user, B_MAN_ID)) == {ids["zhang_wei"]}, who
        assert _ids(resource_base.search(session, user, B_MAN_PHONE)) == {ids["zhang_wei"]}, who
    (row,) = resource_base.search(session, world.people.longfu, "张伟").rows
    assert row.hukou_division == "130623100001"
    assert row.place == B_VILLAGE, "he belongs here through the case's village"
    for who in ("hukou", "other", "township", "hall"):
        assert resource_base.search(session, getattr(world.people, who), B_MAN_ID).total == 0, who


def test_an_unverified_person_is_found_by_number_not_by_name(session, world):
    other = world.people.other
    (row,) = resource_base.search(session, other, C_WOMAN_ID).rows
    assert (row.name, row.masked_name, row.verified, row.place) == (None, "", False, C_VILLAGE)
    assert resource_base.search(session, other, "孙").total == 0, "names come from verified claims only"
    assert _ids(resource_base.search(session, world.people.township, C_WOMAN_ID)) == {world.ids["sun_mei"]}


def test_township_and_service_hall_see_their_townships_villages(session, world):
    ids = world.ids
    for who in ("township", "hall"):
        user = getattr(world.people, who)
        assert _ids(resource_base.search(session, user, "张")) | _ids(resource_base.search(session, user, "刘")) == {
            ids["zhang_li"], ids["liu_qiang"]}
        assert resource_base.search(session, user, "张", division=A_VILLAGE).total == 1
        assert resource_base.search(session, user, "张", division="110101001002").total == 1, "her residence"
        assert resource_base.search(session, user, "张", division=C_VILLAGE).total == 0
        with pytest.raises(Forbidden, match="不在您的辖区内"):
            resource_base.search(session, user, "张", division=B_VILLAGE)
        with pytest.raises(ResourceBaseError, match="区划代码应为"):
            resource_base.search(session, user, "张", division="1101010")


def test_officials_get_counts_by_division_and_rows_without_names(session, world):
    county = world.people.county
    found = resource_base.search(session, county, "张")
    assert found.total == 3
    assert not found.names_visible
    assert [(row.name, row.masked_name) for row in found.rows] == [(None, "张*")] * 3
    assert all("*" in row.id_number and (row.phone is None or "*" in row.phone) for row in found.rows)
    counts = {top.code: (top.count, {part.code: part.count for part in top.parts}) for top in found.counts}
    assert counts == {"110101001": (1, {A_VILLAGE: 1}), "110101002": (2, {B_VILLAGE: 2})}
    assert found.names["110101002"] == "景山街道"
    assert found.names[B_VILLAGE] == "景山街道隆福寺社区居委会"
    dumped = json.dumps([vars(row) for row in found.rows], ensure_ascii=False, default=str)
    for secret in ("张丽", "张伟", "张芳", WOMAN_ID, B_MAN_ID, A_NEW_PHONE, B_MAN_PHONE):
        assert secret not in dumped
    everyone = resource_base.search(session, county, "刘")
    assert everyone.total == 1
    assert [top.code for top in everyone.counts] == ["110101001"]


@pytest.mark.parametrize("who", ["citizen", "policy", "admin", "zhang"])
def test_citizens_and_administrators_are_refused(session, world, who):
    user = getattr(world.people, who)
    assert not resource_base.may_use(user)
    with pytest.raises(Forbidden, match="不能查询信息资源库"):
        resource_base.search(session, user, "张")
    with pytest.raises(Forbidden):
        resource_base.person_page(session, user, world.ids["zhang_li"])
    with pytest.raises(Forbidden):
        resource_base.export(session, user)


def test_staff_without_a_valid_division_see_nothing(session, world):
    hukou = world.people.hukou
    hukou.division_code = None
    with pytest.raises(Forbidden, match="没有有效的辖区"):
        resource_base.search(session, hukou, "张")
    session.rollback()


def test_paging(session, world):
    township = world.people.township
    first = resource_base.search(session, township, "刘", page_size=1)
    assert (first.total, first.pages, len(first.rows)) == (1, 1, 1)
    assert resource_base.search(session, township, "刘", page=2).rows == []
    each = [resource_base.search(session, world.people.county, "张", page=n, page_size=1).rows[0].id for n in (1, 2, 3)]
    assert sorted(each) == sorted([world.ids["zhang_li"], world.ids["zhang_fang"], world.ids["zhang_wei"]])
    for page, size in ((0, 20), (1, 0), (1, 101)):
        with pytest.raises(ResourceBaseError):
            resource_base.search(session, township, "刘", page=page, page_size=size)


# -- one person -----------------------------------------------------------------------------------------------------


def test_the_person_page_shows_verified_details_history_cases_and_children(session, world):
    page = resource_base.person_page(session, world.people.hukou, world.ids["zhang_li"])
    d = page.details
    assert (d["name"], d["id_number"], d["phone"], d["employer"]) == (
        "张丽", "110101********1227", "137****0009", "东城区某医院")
    assert d["birth_date"].isoformat() == "1993-03-07"
    assert page.names_visible
    assert not page.revealed
    assert [(c.case_number, c.type_label, c.status, c.side) for c in page.cases] == [
        (world.cases["a2"].case_number, "二孩登记", "办理中", "woman"),
        (world.cases["a1"].case_number, "一孩登记", "登记成功", "woman")]
    assert [(c.name, c.birth_date.isoformat(), c.relation, c.case_numbers) for c in page.children] == [
        ("刘小0", "2020-01-01", "both", (world.cases["a2"].case_number,))]
    assert page.children[0].document_number == "O1********56"
    assert d["employer_phone"] == "010-****5678"

    latest = {(c.field, c.old, c.new, c.actor_name, c.case_number) for c in page.history[:2]}
    assert latest == {("phone", "138****0001", "137****0009", "李多福", world.cases["a2"].case_number),
                      ("employer", "东城区某公司", "东城区某医院", "李多福", world.cases["a2"].case_number)}
    first = {c.field: (c.old, c.new) for c in page.history if c.case_number == world.cases["a1"].case_number}
    assert first["name"] == (None, "张丽")
    assert first["hukou_division"] == (None, A_VILLAGE)
    assert page.names[A_VILLAGE] == "多福巷社区居委会"


def test_revealing_shows_whole_numbers_and_audits_which_person_and_fields(session, world):
    hukou = world.people.hukou
    page = resource_base.person_page(session, hukou, world.ids["zhang_li"], reveal=True)
    session.commit()
    assert (page.details["id_number"], page.details["phone"], page.details["employer_phone"]) == (
        WOMAN_ID, A_NEW_PHONE, "010-12345678")
    assert page.children[0].document_number == "O11000023456"
    assert {(c.field, c.old, c.new) for c in page.history[:2]} >= {("phone", "13800000001", A_NEW_PHONE)}
    (audit,) = _audits(session, "pii_viewed")
    assert audit.actor == hukou.actor
    assert audit.detail == {"person_id": world.ids["zhang_li"], "via": "web",
                            "fields": ["document_number", "employer_phone", "id_number", "phone"]}
    assert WOMAN_ID not in json.dumps(audit.detail)
    assert A_NEW_PHONE not in json.dumps(audit.detail)
    assert _audits(session, "pii_viewed") == [audit], "reading the page without revealing writes nothing"
    resource_base.person_page(session, hukou, world.ids["zhang_li"])
    session.commit()
    assert len(_audits(session, "pii_viewed")) == 1


def test_officials_see_a_person_masked_until_they_reveal_the_name_too(session, world):
    county = world.people.county
    masked = resource_base.person_page(session, county, world.ids["zhang_wei"])
    assert (masked.details["name"], masked.details["birth_date"], masked.details["employer"]) == ("张*", None, "东*")
    assert masked.details["birth_year"] == 1992
    assert not masked.names_visible
    assert all(c.old in (None, "张*") and c.new in (None, "张*") for c in masked.history if c.field == "name")
    shown = resource_base.person_page(session, county, world.ids["zhang_wei"], reveal=True, via="api")
    session.commit()
    assert (shown.details["name"], shown.details["id_number"], shown.details["phone"]) == ("张伟", B_MAN_ID,
                                                                                         B_MAN_PHONE)
    (audit,) = _audits(session, "pii_viewed")
    assert audit.detail == {"person_id": world.ids["zhang_wei"], "via": "api",
                            "fields": ["document_number", "employer", "employer_phone", "id_number", "name",
                                       "phone"]}


def test_a_person_outside_the_jurisdiction_is_not_found_like_one_that_does_not_exist(session, world):
    ids = world.ids
    for who, person in (("other", "zhang_li"), ("longfu", "liu_qiang"), ("hukou", "zhang_wei"),
                        ("township", "zhang_fang"), ("jingshan", "sun_mei")):
        with pytest.raises(NotFound) as outside:
            resource_base.person_page(session, getattr(world.people, who), ids[person], reveal=True)
        with pytest.raises(NotFound) as missing:
            resource_base.person_page(session, getattr(world.people, who), 987_654)
        assert str(outside.value) == str(missing.value) == resource_base.NOT_FOUND
    with pytest.raises(NotFound):
        resource_base.person_page(session, world.people.county, 2**40)
    assert _audits(session, "pii_viewed") == [], "a refused reveal is no view"


def test_cases_outside_the_jurisdiction_are_left_out_of_a_person_page(session, world):
    """张伟's record was verified through 景山街道's case; 隆福寺 sees it, and the case, the county sees both too."""
    page = resource_base.person_page(session, world.people.longfu, world.ids["zhang_wei"])
    assert [c.case_number for c in page.cases] == [world.cases["b"].case_number]
    assert {c.case_number for c in page.history} == {world.cases["b"].case_number}
    assert page.names["130623100001"] == "河北省保定市涞水县涞水镇南关村居民委员会"


# -- export ---------------------------------------------------------------------------------------------------------


def test_staff_export_their_persons_masked_or_whole_and_every_export_is_audited(session, world):
    hukou = world.people.hukou
    table = resource_base.export(session, hukou, fmt="xlsx")
    assert table.columns[:3] == ["姓名", "身份证号码", "性别"]
    assert [(row[0], row[1]) for row in table.rows] == [("刘强", "110101********1211"), ("张丽", "110101********1227")]
    assert not table.aggregate
    whole = resource_base.export(session, hukou, name="张", full_numbers=True)
    assert [(row[0], row[1], row[6]) for row in whole.rows] == [("张丽", WOMAN_ID, A_NEW_PHONE)]
    assert whole.rows[0][9] == "北京市东城区东华门街道多福巷社区居委会"
    session.commit()
    audits = _audits(session, "resource_base_exported")
    assert [a.detail for a in audits] == [
        {"rows": 2, "persons": 2, "format": "xlsx", "filter": {"name": None, "division": A_VILLAGE},
         "aggregate": False, "full_numbers": False},
        {"rows": 1, "persons": 1, "format": "csv", "filter": {"name": "张", "division": A_VILLAGE},
         "aggregate": False, "full_numbers": True},
    ]
    assert all(a.actor == hukou.actor for a in audits)


def test_officials_export_counts_only_and_only_village_and_township_staff_take_whole_numbers(session, world):
    table = resource_base.export(session, world.people.county)
    assert table.aggregate
    assert table.columns == resource_base.COUNT_COLUMNS
    assert [row[0::2] for row in table.rows] == [
        ["110101001", A_VILLAGE, 2], ["110101001", C_VILLAGE, 2], ["110101002", B_VILLAGE, 2]]
    assert table.rows[0][1] == "东华门街道"
    for who in ("county", "hall"):
        with pytest.raises(Forbidden, match="只有村（居）和乡镇（街道）工作人员"):
            resource_base.export(session, getattr(world.people, who), full_numbers=True)
    with pytest.raises(ResourceBaseError, match="导出只能按姓名筛选"):
        resource_base.export(session, world.people.township, name=WOMAN_ID)
    with pytest.raises(ResourceBaseError, match="导出格式"):
        resource_base.export(session, world.people.township, fmt="pdf")
    session.commit()
    (audit,) = _audits(session, "resource_base_exported")
    assert audit.detail == {"rows": 3, "persons": 6, "format": "csv", "aggregate": True, "full_numbers": False,
                            "filter": {"name": None, "division": "110101"}}


# -- statements per page --------------------------------------------------------------------------------------------


@pytest.fixture
def statements(app):
    """Count the SELECT statements sent to the database while the block runs."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(db.engine, "before_cursor_execute", count)


def test_a_page_costs_the_same_statements_however_many_rows_it_shows(session, world, statements):
    county, township = world.people.county, world.people.township
    sizes = {}
    for label, user, text in (("one", township, "刘"), ("two", world.people.jingshan, "张"),
                              ("officials one", county, "刘"), ("officials three", county, "张"),
                              ("by number", township, WOMAN_ID), ("by phone", county, "13800000001")):
        statements.clear()
        found = resource_base.search(session, user, text)
        sizes[label] = (found.total, len(statements))
    # The page of matches with the total, the page's persons, the division names; officials' counts by division
    # are one statement more. None of it grows with the number of matches.
    officials = {"officials one", "officials three", "by phone"}
    assert {count for label, (_total, count) in sizes.items() if label not in officials} == {3}, sizes
    assert {count for label, (_total, count) in sizes.items() if label in officials} == {4}, sizes
    assert (sizes["one"][0], sizes["two"][0], sizes["officials three"][0]) == (1, 2, 3)

    for person in ("zhang_li", "liu_qiang", "zhang_wei"):
        session.expire_all()
        assert county.role  # loaded again before counting: the request has its user already
        statements.clear()
        resource_base.person_page(session, county, world.ids[person])
        sizes[person] = len(statements)
    assert sizes["zhang_li"] == sizes["liu_qiang"] == sizes["zhang_wei"], sizes
    assert sizes["zhang_li"] <= 8, sizes
