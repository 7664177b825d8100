"""Staff navigation: each role lands on its home, its one menu opens only pages it may see and is the same on every
page, pages below the top level show where they are; the hall and the officials find cases three ways."""

import re
from datetime import date
from html import unescape

import pytest

from processes.demo import TOWNSHIP
from processes.roles import (
    CITY_OFFICIAL,
    POLICY_ADMIN,
    PROVINCE_OFFICIAL,
    SERVICE_HALL,
    SYSTEM_ADMIN,
)
from services import accounts, identity
from services import people as persons
from services.codes import FEMALE, MALE
from tests.fixtures import _ServerLikeClient, csrf_token, open_task, sign_in

WOMAN_ID = "11010119930307152" + identity.check_character("11010119930307152")
MAN_ID = "11010119910512341" + identity.check_character("11010119910512341")
STRANGER_ID = "11010219800101123" + identity.check_character("11010219800101123")

# Each role's home, as a path, and the menu it sees there (labels, in order).
HOMES = {
    "hukou": ("/staff/", ["工作台", "信息资源库"]),
    "township": ("/staff/", ["工作台", "大厅查询", "现场身份核验", "统计分析", "案件查询", "信息资源库"]),
    "hall": ("/staff/hall", ["大厅查询", "现场身份核验", "统计分析", "案件查询", "信息资源库", "待办任务"]),
    "county": ("/statistics/", ["统计分析", "案件查询", "信息资源库", "待办任务"]),
    "city": ("/statistics/", ["统计分析", "案件查询", "信息资源库", "待办任务"]),
    "province": ("/statistics/", ["统计分析", "案件查询", "信息资源库", "待办任务"]),
    "policy": ("/admin/processes/", ["流程管理"]),
    "system": ("/admin/", ["工作人员账号", "短信与服务任务", "审计记录", "节假日安排", "流程管理"]),
}
MENU = re.compile(r'<nav class="staff-menu"[^>]*>(.*?)</nav>', re.S)
MENU_LINK = re.compile(r'<a href="([^"]+)"( aria-current="(\w+)")?>([^<]+)</a>')
CRUMBS = re.compile(r'<nav class="breadcrumbs"[^>]*>(.*?)</nav>', re.S)


def add_every_staff_role(session, people):
    """Add to the `people` an account of every staff role they lack, at the demo places; return them."""
    for attribute, phone, name, role, division in (
            ("hall", "13900000011", "刘大厅", SERVICE_HALL, TOWNSHIP),
            ("city", "13900000031", "吴市级", CITY_OFFICIAL, "1101"),
            ("province", "13900000041", "郑省级", PROVINCE_OFFICIAL, "11"),
            ("policy", "13900000030", "周流程", POLICY_ADMIN, "11"),
            ("system", "13900000040", "吴系统", SYSTEM_ADMIN, "11")):
        setattr(people, attribute, accounts.create_user(session, phone=phone, name=name, role=role,
                                                        password="Test@12345", division_code=division))
    session.commit()
    return people


@pytest.fixture
def staff(session, people):
    """The `people`, with an account of every other staff role."""
    return add_every_staff_role(session, people)


def menu_of(html: str) -> list[tuple[str, str, str | None]]:
    """Return the menu of a page as (label, href, aria-current) in order; [] when it has none."""
    found = MENU.findall(html)
    assert len(found) <= 1, "a page draws one menu"
    return [(unescape(label), unescape(href), current or None)
            for href, _attr, current, label in MENU_LINK.findall(found[0])] if found else []


def crumbs_of(html: str) -> list[str]:
    """Return the breadcrumb labels of a page."""
    found = CRUMBS.findall(html)
    return [unescape(text) for text in re.findall(r">([^<>]+)</(?:a|span)>", found[0])] if found else []


def _signed_in(app, user):
    """Return a browser of its own for `user`, signed in, and where the sign-in led."""
    client = _ServerLikeClient(app, app.response_class, use_cookies=True)
    return client, sign_in(client, user)


def _client(app, people, who):
    return _signed_in(app, getattr(people, who))


def _follow(client, path):
    page = client.get(path)
    while page.status_code in (301, 302, 303):
        page = client.get(page.location)
    return page


@pytest.mark.parametrize("who", sorted(HOMES))
def test_each_role_lands_on_its_home_and_its_menu_opens_only_pages_it_may_see(app, staff, who):
    home, labels = HOMES[who]
    client, landed = _client(app, staff, who)
    assert landed.location == home, "signing in without a page asked for lands on the role's home"

    page = _follow(client, home)
    assert page.status_code == 200
    menu = menu_of(page.text)
    assert [label for label, _href, _current in menu] == labels
    assert [label for label, _href, current in menu if current] == [labels[0]], "the home is the marked item"

    for label, href, _current in menu:
        opened = client.get(href)
        assert opened.status_code == 200, f"{who}: 「{label}」 {href} answers {opened.status_code}"
        assert menu_of(opened.text) == [(lab, h, "page" if lab == label else None) for lab, h, _c in menu], \
            f"{who}: 「{label}」 shows the same menu with itself marked"


@pytest.mark.parametrize("who", sorted(HOMES))
def test_the_brand_leads_home_on_every_page(app, staff, who):
    home, _labels = HOMES[who]
    client, _landed = _client(app, staff, who)
    page = _follow(client, home)
    assert f'<a class="brand" href="{home}">' in page.text
    assert client.get("/auth/me").status_code == 200
    assert f'<a class="brand" href="{home}">' in client.get("/auth/me").text
    assert menu_of(client.get("/auth/me").text) == [(lab, h, None) for lab, h, _c in menu_of(page.text)], \
        "pages outside the menu show it too, nothing marked"


def test_a_page_asked_for_before_signing_in_is_where_staff_land(app, staff):
    client = _ServerLikeClient(app, app.response_class, use_cookies=True)
    assert sign_in(client, staff.county, next_url="/admin/cases").location == "/admin/cases"
    assert client.get("/staff/home").location == "/statistics/"


@pytest.mark.parametrize("who", sorted(HOMES))
def test_the_portal_s_workbench_button_leads_each_role_home(app, staff, who):
    home, _labels = HOMES[who]
    client, _landed = _client(app, staff, who)
    portal = client.get("/")
    button = re.search(r'<a class="button primary" href="([^"]+)">进入工作台</a>', portal.text)
    assert button, "a signed-in staff member is offered the way to work"
    arrived = client.get(button.group(1))
    assert arrived.location == home, f"{who}: 进入工作台 leads to {arrived.location}, not the role's home"


def test_citizens_get_no_staff_menu_and_keep_the_portal(client, people):
    sign_in(client, people.citizen)
    page = client.get("/my")
    assert page.status_code == 200
    assert menu_of(page.text) == []
    assert '<a class="brand" href="/">' in page.text


def test_a_task_page_shows_where_it_lies_and_marks_the_workbench(app, staff, session, submit):
    case = submit()
    task = open_task(session, case, "verify_hukou")
    client, _landed = _client(app, staff, "hukou")
    page = client.get(f"/staff/tasks/{task.id}")
    assert page.status_code == 200
    assert crumbs_of(page.text) == ["工作台", f"案件 {case.case_number}", task.name]
    assert '<a href="/staff/">工作台</a>' in CRUMBS.findall(page.text)[0]
    assert ("工作台", "/staff/", "true") in menu_of(page.text), "the workbench is marked as the task's section"
    assert crumbs_of(client.get("/staff/").text) == [], "a top-level page has no breadcrumbs"


def test_an_official_s_case_page_leads_back_through_the_case_query(app, staff, submit):
    case = submit()
    client, _landed = _client(app, staff, "county")
    page = client.get(f"/admin/cases/{case.case_number}")
    assert crumbs_of(page.text) == ["工作台", "案件查询", f"案件 {case.case_number}"]
    trail = CRUMBS.findall(page.text)[0]
    assert '<a href="/statistics/">工作台</a>' in trail
    assert '<a href="/admin/cases">案件查询</a>' in trail


# -- finding cases ---------------------------------------------------------------------------------------------------


@pytest.fixture
def couple_cases(session, submit):
    """Two cases of the same couple (named as persons) in the demo township."""
    woman = persons.ensure_person(session, WOMAN_ID, date(1993, 3, 7), FEMALE)
    man = persons.ensure_person(session, MAN_ID, date(1991, 5, 12), MALE)
    found = []
    for case_type in ("first_child", "second_child"):
        case = submit(case_type)
        case.woman_id, case.man_id = woman.id, man.id
        found.append(case.case_number)
    session.commit()
    return found


def _search(client, url, **fields):
    page = client.get(url)
    assert page.status_code == 200
    return client.post(url, data={"csrf_token": csrf_token(page.text), **fields})


def test_the_hall_finds_cases_by_id_number_alone_and_lists_them_without_full_names(app, staff, couple_cases):
    client, _landed = _client(app, staff, "hall")
    found = _search(client, "/staff/hall", way="id_number", id_number=MAN_ID.lower())
    assert found.status_code == 200
    assert "找到 2 件申请，请选择" in found.text
    for number in couple_cases:
        assert number in found.text
    listed = found.text[found.text.index('class="hall-choices"'):]
    assert "张* / 刘*" in listed
    assert "张丽" not in listed, "the list shows only what tells cases apart"
    assert MAN_ID not in listed

    picked = _search(client, "/staff/hall", way="case_number", case_number=couple_cases[0])
    assert f"受理编号 {couple_cases[0]}" in picked.text
    assert "张丽 / 刘强" in picked.text


def test_the_hall_finds_cases_by_name_and_birth_date_and_by_number(app, staff, couple_cases):
    client, _landed = _client(app, staff, "hall")
    by_name = _search(client, "/staff/hall", way="name", name="张丽", birth_date="1993-03-07")
    assert "找到 2 件申请" in by_name.text
    wrong_day = _search(client, "/staff/hall", way="name", name="张丽", birth_date="1993-03-08")
    assert "未找到" in wrong_day.text
    missing_day = _search(client, "/staff/hall", way="name", name="张丽")
    assert "请输入出生日期" in missing_day.text
    by_number = _search(client, "/staff/hall", way="case_number", case_number=couple_cases[1],
                        id_number="not looked at")
    assert f"受理编号 {couple_cases[1]}" in by_number.text, "only the chosen way's fields count"


def test_the_hall_finds_nothing_outside_its_township(app, session, staff, couple_cases):
    far = accounts.create_user(session, phone="13900000012", name="钱景山", role=SERVICE_HALL,
                               password="Test@12345", division_code="110101002")
    session.commit()
    session.refresh(far)
    client, _landed = _signed_in(app, far)
    for fields in ({"way": "id_number", "id_number": WOMAN_ID}, {"way": "case_number", "case_number": couple_cases[0]},
                   {"way": "name", "name": "张丽", "birth_date": "1993-03-07"}):
        answer = _search(client, "/staff/hall", **fields)
        assert "未找到" in answer.text
        assert "hall-case" not in answer.text
        assert "hall-choices" not in answer.text
    unknown = _search(client, "/staff/hall", way="id_number", id_number=STRANGER_ID)
    assert "未找到" in unknown.text


def test_the_hall_form_keeps_id_numbers_out_of_urls(app, staff, couple_cases):  # noqa: ARG001
    client, _landed = _client(app, staff, "hall")
    page = client.get("/staff/hall")
    forms = re.findall(r"<form\b[^>]*>", page.text)
    assert all('method="post"' in form for form in forms if "case-lookup" in form)
    fields = re.findall(r'<input\b[^>]*\bname="(?:case_number|id_number|name|birth_date)"[^>]*>', page.text)
    assert len(fields) == 4
    assert not [f for f in fields if "required" in f], "a browser must send the form with other ways left empty"
    found = _search(client, "/staff/hall", way="id_number", id_number=WOMAN_ID)
    assert found.status_code == 200, "the result is drawn on the POST's response, not at a URL"
    assert found.location is None


def test_the_county_query_finds_by_number_id_number_and_name(app, staff, couple_cases):
    client, _landed = _client(app, staff, "county")
    by_id = _search(client, "/admin/cases", way="id_number", id_number=WOMAN_ID)
    assert "找到 2 件案件" in by_id.text
    by_name = _search(client, "/admin/cases", way="name", name="刘强")
    assert "找到 2 件案件" in by_name.text, "officials may search by name alone"
    one = _search(client, "/admin/cases", way="case_number", case_number=couple_cases[1])
    assert one.location == f"/admin/cases/{couple_cases[1]}"
    none = _search(client, "/admin/cases", way="id_number", id_number=STRANGER_ID)
    assert "未找到符合条件的案件" in none.text


def test_the_county_query_keeps_to_the_county(app, session, staff, couple_cases):
    far = accounts.create_user(session, phone="13900000021", name="周西城", role="county_official",
                               password="Test@12345", division_code="110102")
    session.commit()
    session.refresh(far)
    client, _landed = _signed_in(app, far)
    for fields in ({"way": "id_number", "id_number": WOMAN_ID}, {"way": "name", "name": "张丽"}):
        answer = _search(client, "/admin/cases", **fields)
        assert "未找到符合条件的案件" in answer.text
        assert couple_cases[0] not in answer.text


def test_the_township_uses_the_same_hall_search(app, staff, couple_cases):
    client, _landed = _client(app, staff, "township")
    found = _search(client, "/staff/hall", way="id_number", id_number=WOMAN_ID)
    assert "找到 2 件申请" in found.text
