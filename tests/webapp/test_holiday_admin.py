"""The holiday table in the administration pages: a year entered day by day or imported from the State Council's
notice, the warning before the table runs out, and deadlines past it marked as provisional."""

import io
import logging
import re
from datetime import date, datetime

import pytest
import time_machine
from sqlalchemy import delete, select

from engine.calendar import CST, HolidayModel
from engine.models import AuditEventModel
from processes import background
from processes.roles import SYSTEM_ADMIN
from services import accounts, holidays
from tests.fixtures import PASSWORD, csrf_token, forget, open_task

PROVISIONAL = "（暂按周一至周五计算）"
# The 2027 notice as the State Council might publish it (a few holidays suffice here).
NOTICE_2027 = """日期,类型,名称
2027-01-01,休,元旦
2027-02-05,休,春节
2027-02-06,休,春节
2027-02-07,休,春节
2027-02-08,休,春节
2027-02-09,休,春节
2027-02-10,休,春节
2027-02-11,休,春节
2027-02-13,班,春节调休上班
2027-10-01,休,国庆节
2027-10-02,休,国庆节
2027-10-03,休,国庆节
2027-10-04,休,国庆节
2027-10-05,休,国庆节
2027-10-06,休,国庆节
2027-10-07,休,国庆节
2027-10-09,班,国庆节调休上班
"""


@pytest.fixture(autouse=True)
def shipped_table(session):
    """Every test starts and ends with the shipped holiday table (the table is reference data shared by all)."""
    yield
    forget(session)
    session.execute(delete(HolidayModel))
    holidays.import_holidays(session)
    session.commit()


@pytest.fixture
def admin_account(session, people):
    people.admin = accounts.create_user(session, phone="13700000001", name="管理员", role=SYSTEM_ADMIN,
                                        password=PASSWORD, division_code="11")
    session.commit()
    return people.admin


@pytest.fixture
def admin(admin_account, browser_for):  # noqa: ARG001 - the account must exist to sign in
    return browser_for("admin")


def _problems(html):
    return re.findall(r"<li>([^<]+)</li>", html.split('class="problems"', 1)[1]) if 'class="problems"' in html else []


def _stored(session, year):
    forget(session)
    return [(h.day.isoformat(), h.is_workday, h.name) for h in holidays.year_days(session, year)]


def _upload(client, content: bytes):
    token = csrf_token(client.get("/admin/holidays").text)
    return client.post("/admin/holidays/import", data={"csrf_token": token, "file": (io.BytesIO(content), "2027.csv")},
                       content_type="multipart/form-data")


def _import(client, text, encoding="utf-8"):
    return _upload(client, text.encode(encoding))


def _add(client, year, day, mark, name):
    token = csrf_token(client.get(f"/admin/holidays/{year}").text)
    return client.post(f"/admin/holidays/{year}/days", data={"csrf_token": token, "day": day, "mark": mark,
                                                              "name": name})


def _kinds(session):
    forget(session)
    return [e.kind for e in session.scalars(select(AuditEventModel).where(AuditEventModel.kind.like("holiday%"))
                                            .order_by(AuditEventModel.id))]


# -- who may enter -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["citizen", "hukou", "township", "county"])
def test_only_system_admins_see_or_change_the_table(session, admin, browser_for, name):  # noqa: ARG001
    browser = browser_for(name)
    token = csrf_token(browser.get("/auth/me").text)
    assert browser.get("/admin/holidays").status_code == 403
    assert browser.get("/admin/holidays/2027").status_code == 403
    assert browser.post("/admin/holidays/2027/days", data={"csrf_token": token, "day": "2027-01-01", "mark": "休",
                                                           "name": "元旦"}).status_code == 403
    assert browser.post("/admin/holidays/2026/days/2026-10-01/delete",
                        data={"csrf_token": token}).status_code == 403
    assert browser.post("/admin/holidays/import", data={"csrf_token": token}).status_code == 403
    assert _stored(session, 2027) == []
    assert ("2026-10-01", False, "国庆节") in _stored(session, 2026)


def test_a_post_without_the_csrf_token_changes_nothing(session, admin):
    refused = admin.post("/admin/holidays/2027/days", data={"day": "2027-01-01", "mark": "休", "name": "元旦"})
    assert refused.status_code == 400
    assert _stored(session, 2027) == []


# -- a year day by day ---------------------------------------------------------------------------------------------


def test_the_admin_enters_a_year_day_by_day_and_removes_a_day(session, admin):
    assert "节假日安排" in admin.get("/admin/staff").text, "the menu leads to the table"
    assert admin.get("/admin/holidays/year?year=2027").location == "/admin/holidays/2027"
    assert "2027 年尚未录入节假日安排" in admin.get("/admin/holidays/2027").text

    assert _add(admin, 2027, "2027-10-01", "休", "国庆节").status_code == 302
    assert _add(admin, 2027, "2027-10-02", "休", "国庆节").status_code == 302  # a Saturday inside the holiday
    assert _add(admin, 2027, "2027-10-09", "班", "国庆节调休上班").status_code == 302  # a Saturday worked
    page = admin.get("/admin/holidays/2027").text
    assert "已录入 2027-10-09（星期六） 班：国庆节调休上班" in page
    assert "2027-10-02（星期六）" in page
    assert _stored(session, 2027) == [("2027-10-01", False, "国庆节"), ("2027-10-02", False, "国庆节"),
                                      ("2027-10-09", True, "国庆节调休上班")]

    token = csrf_token(admin.get("/admin/holidays/2027").text)
    removed = admin.post("/admin/holidays/2027/days/2027-10-02/delete", data={"csrf_token": token, "confirm": "1"})
    assert removed.status_code == 302
    assert "已删除 2027-10-02（星期六）：国庆节" in admin.get("/admin/holidays/2027").text
    assert [day for day, _, _ in _stored(session, 2027)] == ["2027-10-01", "2027-10-09"]
    assert _kinds(session) == ["holiday_added"] * 3 + ["holiday_removed"]
    assert "录入节假日" in admin.get("/admin/audit").text, "the audit trail names the change in Chinese"


@pytest.mark.parametrize(("day", "mark", "name", "problem"), [
    ("2027-02-10", "班", "春节调休上班", "2027-02-10（星期三） 本来就是工作日，不能标为「班」"),
    ("2027-05-01", "休", "劳动节", "周末的「休」只能作为某个假期的一部分录入"),
    ("2027-13-01", "休", "元旦", "请选择有效的日期"),
    ("2028-01-01", "休", "元旦", "日期 2028-01-01 不在 2027 年"),
    ("2027-01-01", "休", "", "缺少节日名称"),
    ("2027-01-01", "放", "元旦", "请选择「休」（放假）或「班」（调休上班）"),
])
def test_a_wrong_day_is_refused_with_the_reason(session, admin, day, mark, name, problem):
    refused = _add(admin, 2027, day, mark, name)
    assert refused.status_code == 400
    assert any(problem in shown for shown in _problems(refused.text)), _problems(refused.text)
    assert f'value="{name}"' in refused.text, "what was typed stays in the form"
    assert _stored(session, 2027) == []


def test_a_day_entered_twice_is_refused(session, admin):
    _add(admin, 2027, "2027-01-01", "休", "元旦")
    refused = _add(admin, 2027, "2027-01-01", "休", "新年")
    assert refused.status_code == 400
    assert "2027-01-01（星期五） 已录入；如需修改，请先删除原记录" in _problems(refused.text)
    assert _stored(session, 2027) == [("2027-01-01", False, "元旦")]


# -- the notice as CSV ---------------------------------------------------------------------------------------------


def test_the_admin_imports_the_notice(session, admin):
    response = _import(admin, NOTICE_2027)
    assert response.status_code == 302
    assert response.location == "/admin/holidays/2027"
    assert "已导入 2027 年的节假日安排，共 17 天" in admin.get("/admin/holidays/2027").text
    stored = _stored(session, 2027)
    assert len(stored) == 17
    assert ("2027-02-13", True, "春节调休上班") in stored
    assert ("2027-10-02", False, "国庆节") in stored  # a Saturday inside the National Day holiday
    assert _kinds(session) == ["holidays_imported"]
    listing = admin.get("/admin/holidays").text
    assert re.search(r"<td>2027 年</td><td>15</td><td>2</td>", listing)


def test_a_notice_saved_by_excel_in_gbk_with_slashes_is_read(session, admin):
    assert _import(admin, "2027/1/1,休,元旦\r\n", encoding="gb18030").status_code == 302
    assert _stored(session, 2027) == [("2027-01-01", False, "元旦")]


def test_a_new_import_replaces_the_year(session, admin):
    _import(admin, NOTICE_2027)
    corrected = NOTICE_2027.replace("2027-02-13,班,春节调休上班\n", "")
    assert _import(admin, corrected).status_code == 302
    assert len(_stored(session, 2027)) == 16
    assert ("2027-02-13", True, "春节调休上班") not in _stored(session, 2027)
    assert len(_stored(session, 2026)) == 39, "other years are untouched"


def test_a_bad_notice_imports_nothing_and_lists_every_problem(session, admin):
    bad = NOTICE_2027 + "\n".join([
        "2027-02-30,休,春节",            # no such day
        "2027-10-01,休,国庆节",          # already listed above
        "2027-03-10,班,春节调休上班",    # a Wednesday is a working day anyway
        "2027-05-01,休,劳动节",          # a Saturday, and 劳动节 gives no weekday off
        "2027-06-14,假,端午节",          # neither 休 nor 班
        "2027-06-15,休",                 # a column missing
    ]) + "\n"
    refused = _import(admin, bad)
    assert refused.status_code == 400
    assert "文件未导入，已录入的数据没有任何改动" in refused.text
    problems = _problems(refused.text)
    assert problems[:3] == [
        "第 19 行：日期「2027-02-30」无效，应为 2027-01-01 这样的日期",
        "第 23 行：第 2 列应为「休」（放假）或「班」（调休上班），实际为「假」",
        "第 24 行：应有 3 列（日期,休/班,名称），实际为 2 列",
    ]
    # The rows that parse are checked only once the whole file reads: fix those first, then see the rest.
    refused = _import(admin, NOTICE_2027 + "2027-10-01,休,国庆节\n2027-03-10,班,春节调休上班\n"
                                           "2027-05-01,休,劳动节\n")
    assert _problems(refused.text) == [
        "第 19 行：日期 2027-10-01 重复（第 11 行）",
        "第 20 行：2027-03-10（星期三） 本来就是工作日，不能标为「班」：调休上班日只能是周六或周日",
        "第 21 行：2027-05-01（星期六） 本来就是休息日；周末的「休」只能作为某个假期的一部分录入，"
        "但「劳动节」在 2027 年没有工作日放假的日期，请先录入这些日期或核对名称",
    ]
    assert _stored(session, 2027) == []
    assert _kinds(session) == []


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "请选择要导入的 CSV 文件"),
    ("日期,类型,名称\n".encode(), "文件中没有日期"),
    (b"\xff\xfe\x00\x01garbage\xff", "文件编码无法识别，请另存为 UTF-8 编码的 CSV 文件"),
])
def test_an_empty_or_unreadable_file_is_refused(session, admin, content, problem):
    refused = _upload(admin, content)
    assert refused.status_code == 400
    assert _problems(refused.text) == [problem]


# -- the warning before the table runs out -------------------------------------------------------------------------


@pytest.mark.parametrize(("today", "warned"), [
    (date(2026, 10, 31), False),   # 61 days left
    (date(2026, 11, 1), True),     # 60 days left
    (date(2026, 12, 31), True),
    (date(2027, 1, 2), True),      # already past the table
])
def test_the_warning_starts_sixty_days_before_the_table_ends(session, today, warned):
    warning = holidays.table_warning(session, today)
    assert (warning is not None) == warned
    if warned:
        assert "节假日表只录入到 2026 年" in warning


def test_admin_pages_warn_until_next_year_is_entered(session, admin_account, browser_for):  # noqa: ARG001
    with time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=CST)):
        admin = browser_for("admin")
        page = admin.get("/admin/staff").text
        assert "节假日表只录入到 2026 年（还剩 30 天）" in page
        assert "请及时录入 2027 年的法定节假日和调休安排" in page
        _import(admin, NOTICE_2027)
        assert "节假日表只录入到" not in admin.get("/admin/staff").text


def test_the_tick_logs_the_warning_once_a_day(session, caplog):
    holidays._logged.clear()
    with caplog.at_level(logging.WARNING, logger="services.holidays"), \
            time_machine.travel(datetime(2026, 12, 1, 9, 0, tzinfo=CST)) as clock:
        background.tick()
        background.tick()
        clock.move_to(datetime(2026, 12, 2, 9, 0, tzinfo=CST))
        background.tick()
    warnings = [r.getMessage() for r in caplog.records if r.name == "services.holidays"]
    assert len(warnings) == 2
    assert "节假日表只录入到 2026 年（还剩 30 天）" in warnings[0]
    assert "还剩 29 天" in warnings[1]


# -- provisional deadlines -----------------------------------------------------------------------------------------


def test_a_deadline_past_the_table_is_marked_provisional(session, submit, browser_for):
    with time_machine.travel(datetime(2026, 12, 30, 9, 0, tzinfo=CST), tick=False):
        late = submit()
        late_task = open_task(session, late, "verify_hukou")
        assert late_task.due_at.astimezone(CST).year == 2027
    early = submit()
    early_task = open_task(session, early, "verify_hukou")
    session.commit()
    hukou = browser_for("hukou")

    cards = re.findall(r'<span class="case-number"[^>]*>(\d{14})</span>(.*?)</li>', hukou.get("/staff/?view=todo").text,
                       re.S)
    rows = dict(cards)
    assert PROVISIONAL in rows[late.case_number]
    assert PROVISIONAL not in rows[early.case_number]
    assert PROVISIONAL in hukou.get(f"/staff/tasks/{late_task.id}").text
    assert PROVISIONAL not in hukou.get(f"/staff/tasks/{early_task.id}").text

    session.add(HolidayModel(day=date(2027, 1, 1), is_workday=False, name="元旦"))
    session.commit()
    assert PROVISIONAL not in hukou.get(f"/staff/tasks/{late_task.id}").text, "2027 is now in the table"
