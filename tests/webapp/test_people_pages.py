"""The resource-base pages (/staff/people/): search by POST, the person page, audited reveals and exports.

The persons come from the real flows (tests/resource_world.py). Every check is on what a browser receives: the
page's text, the status code, the downloaded file read back, the audit rows the request left.
"""

import csv
import html
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from engine.models import AuditEventModel
from processes import applying
from services import applications
from services.people import find_person
from tests.applications import MAN_ID, WOMAN_ID, answers
from tests.fixtures import csrf_token, decide, forget
from tests.identities import with_wrong_check
from tests.resource_world import A_NEW_PHONE, B_MAN_ID, B_MAN_PHONE, B_WOMAN_ID, build

SEARCH = "/staff/people/"


@pytest.fixture
def world(session, people, deployed):
    return build(session, people, deployed)


def _search(client, query: str, **extra):
    """Open the search page, then POST the search with its CSRF token, as the form does."""
    page = client.get(SEARCH)
    assert page.status_code == 200, page.status_code
    return client.post(SEARCH, data={"csrf_token": csrf_token(page.text), "query": query, **extra})


def _audits(session, kind):
    forget(session)
    return list(session.scalars(select(AuditEventModel).where(AuditEventModel.kind == kind)
                                .order_by(AuditEventModel.id)))


def _text(response) -> str:
    """Return the page as the reader sees it: tags dropped, entities decoded, whitespace collapsed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _reveal(client, person_id: int):
    page = client.get(f"/staff/people/{person_id}")
    return client.post(f"/staff/people/{person_id}/reveal", data={"csrf_token": csrf_token(page.text)})


# -- search ---------------------------------------------------------------------------------------------------------


def test_the_search_page_explains_what_to_type_and_posts_its_form(world, browser_for):
    hukou = browser_for("hukou")
    page = hukou.get(SEARCH)
    assert page.status_code == 200
    assert '<form class="card people-search" method="post"' in page.text
    assert "怎样查询" in page.text
    assert "完整的18位号码" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert "信息资源库" in _text(hukou.get("/staff/")), "the workbench menu offers it"
    empty = _search(hukou, "   ")
    assert empty.status_code == 200
    assert "请输入要查询的人员：完整的18位身份证号码、11位手机号码，或姓名" in _text(empty)


def test_a_village_clerk_finds_a_person_by_name_id_number_and_phone_without_any_number_in_a_url(world, browser_for):
    hukou = browser_for("hukou")
    by_name = _search(hukou, "张")
    text = _text(by_name)
    assert by_name.request.path == SEARCH
    assert not by_name.request.query_string
    assert "姓名「张」：共 1 人" in text
    assert "张丽" in text
    assert "110101********1227" in text
    assert "137****0009" in text
    assert WOMAN_ID not in by_name.text
    assert A_NEW_PHONE not in by_name.text
    assert f'href="/staff/people/{world.ids["zhang_li"]}"' in by_name.text
    assert "张伟" not in text, "景山街道's person is not 多福巷's"

    by_number = _search(hukou, WOMAN_ID.lower())
    assert "身份证号码「110101********1227」：共 1 人" in _text(by_number)
    assert WOMAN_ID not in by_number.text.replace(f'value="{WOMAN_ID}"', ""), "only the form keeps what was typed"
    by_phone = _search(hukou, "138 0000 0001")
    assert "刘强" in _text(by_phone)
    assert "张丽" not in _text(by_phone)
    for elsewhere in (B_WOMAN_ID, B_MAN_PHONE):
        assert "共 0 人" in _text(_search(hukou, elsewhere))


@pytest.mark.parametrize(("query", "message"), [
    (with_wrong_check(WOMAN_ID), "身份证号码校验位不正确，请核对后重新输入"),
    ("1101011993", "请输入完整的18位身份证号码或11位手机号码；号码不支持部分查询"),
    ("张" * 10_000, "搜索内容不能超过50个字"),
    ("' OR '1'='1", "姓名只能包含汉字、字母和间隔号「·」"),
    ("张'; DROP TABLE person; --", "姓名只能包含汉字、字母和间隔号「·」"),
    ("<script>alert(1)</script>", "姓名只能包含汉字、字母和间隔号「·」"),
    ("%", "姓名只能包含汉字、字母和间隔号「·」"),
])
def test_bad_input_gets_a_clear_message_and_nothing_breaks(session, people, browser_for, query, message):
    hukou = browser_for("hukou")
    answered = _search(hukou, query)
    assert answered.status_code == 200
    assert message in _text(answered)
    assert "<script>alert(1)</script>" not in answered.text
    division = _search(hukou, "张", division="abc")
    assert "区划代码应为2、4、6、9或12位数字" in _text(division)
    outside = _search(hukou, "张", division="110102")
    assert "区划 110102 不在您的辖区内" in _text(outside)
    forget(session)
    assert people.hukou.name == "李多福"


def test_a_search_without_its_csrf_token_is_refused(world, browser_for):
    assert browser_for("hukou").post(SEARCH, data={"query": "张"}).status_code == 400


def test_results_are_paged_by_posting_the_search_again(world, browser_for):
    county = browser_for("county")
    first = _search(county, "张", page="1")
    assert "第 1 / 1 页" not in first.text, "one page needs no pager"
    page = county.get(SEARCH)
    second = county.post(SEARCH, data={"csrf_token": csrf_token(page.text), "query": "张", "page": "2"})
    assert "姓名「张」：共 3 人" in _text(second)
    assert "没有找到符合条件的人员" in _text(second), "page 2 of 20 per page is empty"
    assert _search(county, "张", page="abc").status_code == 200


# -- officials ------------------------------------------------------------------------------------------------------


def test_the_county_sees_counts_and_masked_rows_and_reveals_one_person_audited(session, world, browser_for):
    county = browser_for("county")
    found = _search(county, "张")
    text = _text(found)
    assert "按区划汇总" in text
    assert re.search(r"东华门街道 1 多福巷社区居委会 1 景山街道 2 隆福寺社区居委会 2", text), text
    for name in ("张丽", "张伟", "张芳"):
        assert name not in text
    assert text.count("张*") == 3
    assert f'action="/staff/people/{world.ids["zhang_wei"]}/reveal"' in found.text

    masked = county.get(f"/staff/people/{world.ids['zhang_wei']}")
    assert "张伟" not in _text(masked)
    assert "张*" in _text(masked)
    assert "显示姓名和完整号码" in masked.text
    shown = county.post(f"/staff/people/{world.ids['zhang_wei']}/reveal",
                        data={"csrf_token": csrf_token(found.text)})
    assert shown.status_code == 200
    assert "张伟" in _text(shown)
    assert B_MAN_ID in shown.text
    assert B_MAN_PHONE in shown.text
    assert "本次查看已记入审计日志" in _text(shown)
    (audit,) = _audits(session, "pii_viewed")
    assert (audit.actor, audit.detail["person_id"], audit.detail["via"]) == (
        world.people.county.actor, world.ids["zhang_wei"], "web")
    assert "name" in audit.detail["fields"]
    assert "信息资源库" in _text(county.get("/admin/cases")), "officials find it beside cases and statistics"


# -- the person page ------------------------------------------------------------------------------------------------


def test_the_person_page_shows_details_cases_children_and_history_and_reveals_numbers_audited(
        session, world, browser_for):
    hukou = browser_for("hukou")
    url = f"/staff/people/{world.ids['zhang_li']}"
    page = hukou.get(url)
    text = _text(page)
    assert page.headers["Cache-Control"] == "no-store"
    assert "张丽" in text
    assert "110101********1227" in text
    assert "137****0009" in text
    assert WOMAN_ID not in page.text
    assert A_NEW_PHONE not in page.text
    assert "户籍地 多福巷社区居委会" in text
    assert "民族 汉族" in text
    assert "婚姻状况 初婚" in text
    for case in ("a1", "a2"):
        assert world.cases[case].case_number in text
    assert "一孩登记 登记成功 女方" in text
    assert "二孩登记 办理中 女方" in text
    assert "刘小0 男 2020-01-01 夫妻双方亲生" in text
    second = world.cases["a2"].case_number
    assert re.search(rf"李多福 核实（受理编号 {second}） 联系电话 138\*{{4}}0001 → 137\*{{4}}0009 "
                     "工作单位 东城区某公司 → 东城区某医院", text), text
    assert "姓名 （新增） 张丽" in text, "the first verification fills the record"
    assert _audits(session, "pii_viewed") == []

    shown = _reveal(hukou, world.ids["zhang_li"])
    assert shown.status_code == 200
    assert WOMAN_ID in shown.text
    assert A_NEW_PHONE in shown.text
    assert "13800000001 → 13700000009" in _text(shown)
    (audit,) = _audits(session, "pii_viewed")
    assert audit.detail == {"person_id": world.ids["zhang_li"], "via": "web",
                            "fields": ["document_number", "employer_phone", "id_number", "phone"]}
    assert WOMAN_ID not in hukou.get(url).text, "the next visit is masked again"


def test_another_village_gets_404_and_citizens_and_administrators_403(session, world, browser_for, client):
    zhang_li = world.ids["zhang_li"]
    longfu = browser_for("longfu")
    assert longfu.get(f"/staff/people/{zhang_li}").status_code == 404
    assert longfu.get("/staff/people/987654").status_code == 404
    page = longfu.get(SEARCH)
    refused = longfu.post(f"/staff/people/{zhang_li}/reveal", data={"csrf_token": csrf_token(page.text)})
    assert refused.status_code == 404
    assert _audits(session, "pii_viewed") == []
    for who in ("citizen", "admin", "policy"):
        browser = browser_for(who)
        assert browser.get(SEARCH).status_code == 403, who
        assert browser.get(f"/staff/people/{zhang_li}").status_code == 403, who
    assert client.get(SEARCH).status_code == 302, "anonymous: to the sign-in page"
    assert "信息资源库" not in browser_for("citizen").get("/").text


# -- export ---------------------------------------------------------------------------------------------------------


def _export(client, **fields):
    page = client.get(SEARCH)
    return client.post("/staff/people/export", data={"csrf_token": csrf_token(page.text), **fields})


def _csv_rows(response) -> list[list[str]]:
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))


def test_a_clerk_exports_csv_and_xlsx_masked_or_whole_and_each_export_is_audited(session, world, browser_for):
    hukou = browser_for("hukou")
    masked = _export(hukou, file_format="csv")
    assert masked.status_code == 200
    assert 'filename="people-110101001001-' in masked.headers["Content-Disposition"]
    rows = _csv_rows(masked)
    assert rows[0][:3] == ["姓名", "身份证号码", "性别"]
    assert [(r[0], r[1], r[6]) for r in rows[1:]] == [("刘强", "110101********1211", "138****0001"),
                                                       ("张丽", "110101********1227", "137****0009")]
    whole = _export(hukou, file_format="xlsx", name="张", full_numbers="y")
    assert whole.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(whole.data)).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][0].startswith("信息资源库 北京市东城区东华门街道多福巷社区居委会")
    assert values[2][:2] == ["张丽", WOMAN_ID]
    assert values[2][6] == A_NEW_PHONE
    assert len(values) == 3
    audits = _audits(session, "resource_base_exported")
    assert [(a.detail["format"], a.detail["rows"], a.detail["full_numbers"], a.detail["filter"]["name"])
            for a in audits] == [("csv", 2, False, None), ("xlsx", 1, True, "张")]


def test_officials_export_counts_and_the_hall_cannot_take_whole_numbers(session, world, browser_for):
    county = browser_for("county")
    assert _export(county, file_format="csv", full_numbers="y").status_code == 302, "whole numbers: not officials"
    rows = _csv_rows(_export(county, file_format="csv"))
    assert rows[0] == ["区划代码", "区划名称", "下级区划代码", "下级区划名称", "人数"]
    assert rows[1] == ["110101001", "东华门街道", "110101001001", "东华门街道多福巷社区居委会", "2"]
    assert not any(name in ",".join(",".join(r) for r in rows) for name in ("张丽", "刘强", "张伟"))
    hall = browser_for("hall")
    refused = _export(hall, file_format="csv", full_numbers="y")
    assert refused.status_code == 302
    assert "只有村（居）和乡镇（街道）工作人员可以导出完整号码" in _text(hall.get(SEARCH))
    assert "导出完整的身份证号码" not in hall.get(SEARCH).text, "the hall is not offered the choice"
    assert [a.detail["aggregate"] for a in _audits(session, "resource_base_exported")] == [True]


def test_exported_text_never_runs_as_a_spreadsheet_formula(session, people, deployed, browser_for):  # noqa: ARG001
    given = answers()
    given["woman"]["employer"] = '=HYPERLINK("http://example.com","点我")'
    draft = applications.start(session, people.citizen.id, "first_child")
    case = applying.submit(session, people.citizen, draft.token, given)
    session.commit()
    decide(session, case, "verify_hukou", people.hukou, "verified")
    assert people_record_employer(session) == given["woman"]["employer"]
    hukou = browser_for("hukou")
    (row,) = [r for r in _csv_rows(_export(hukou, file_format="csv"))[1:] if r[0] == "张丽"]
    assert row[7] == "'" + given["woman"]["employer"]
    sheet = load_workbook(io.BytesIO(_export(hukou, file_format="xlsx").data)).active
    linked = [cell for row in sheet.iter_rows(values_only=True) for cell in row
              if isinstance(cell, str) and "HYPERLINK" in cell]
    assert linked == ["'" + given["woman"]["employer"]]


def people_record_employer(session) -> str:
    """Return 张丽's verified employer."""
    forget(session)
    return find_person(session, WOMAN_ID).employer


def test_an_export_without_its_csrf_token_or_with_a_bad_filter_changes_nothing(session, world, browser_for):
    hukou = browser_for("hukou")
    assert hukou.post("/staff/people/export", data={"file_format": "csv"}).status_code == 400
    assert _export(hukou, file_format="csv", name=MAN_ID).status_code == 302
    assert "导出只能按姓名筛选" in _text(hukou.get(SEARCH))
    assert _audits(session, "resource_base_exported") == []
