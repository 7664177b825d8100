"""The staff workbench in a real browser: a case goes from two village verifications through the township audit.

Each person has a browser context of their own and signs in as they would (password, then the SMS code, read here
from the sms_message table as their phone would show it). Every step is saved as a screenshot under
test-artifacts/screenshots/ at 1366 px wide, the inbox also at tablet width, and every check is on what the page
shows: texts, rows, the counts on the tabs.
"""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import select

from services.crypto import blind
from services.notifications import SmsMessageModel
from tests.applications import MAN_ID
from tests.e2e.conftest import TABLET
from tests.fixtures import PASSWORD, forget, last_sms_code, refreshed

pytestmark = pytest.mark.e2e

NO_TASKS = {"待办": 0, "我已认领": 0, "已办": 0, "超期": 0}


def inbox_loaded(page):
    """Wait until the inbox that follows a click has loaded and return its tabs (`.all()` itself does not wait)."""
    tabs = page.locator("ul.tabs a")
    try:
        tabs.first.wait_for(timeout=5000)
    except PlaywrightTimeoutError:
        raise AssertionError("no inbox tabs on this page:\n" + page.content()[-3000:]) from None
    return tabs


def tab_counts(page) -> dict[str, int]:
    """Return the inbox tabs as the user reads them: label → the number shown on it."""
    counts = {}
    for tab in inbox_loaded(page).all():
        number = tab.locator(".count").inner_text().strip()
        label = tab.inner_text().strip()
        counts[label.removesuffix(number).strip()] = int(number)
    return counts


def task_rows(page) -> list[tuple[str, str]]:
    """Return the task cards of the inbox as (task name, case number)."""
    inbox_loaded(page)
    cards = page.locator("li.task-card")
    return [(card.locator(".task-name a").inner_text().strip(), card.locator(".case-number").inner_text().strip())
            for card in cards.all()]


def sign_in(context, person, shoot, who):
    """Open the workbench signed out, sign in with password and SMS code, and land on the inbox."""
    page = context.new_page()
    page.goto("/staff/")
    assert re.search(r"/auth/login\?next=", page.url), page.url
    assert page.get_by_role("heading", name="登录").is_visible()
    assert "请先登录" in page.locator(".alert").inner_text()
    page.get_by_label("手机号码").fill(person.phone)
    page.get_by_label("密码").fill(PASSWORD)
    shoot(page, f"{who}-login")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/auth/verify")
    assert page.get_by_role("heading", name="短信验证").is_visible()
    masked = f"{person.phone[:3]}****{person.phone[-4:]}"
    assert f"验证码已发送至 {masked}" in page.locator(".alert").inner_text()
    page.get_by_label("短信验证码").fill(last_sms_code(person.phone))
    shoot(page, f"{who}-verify")
    page.get_by_role("button", name="验证并登录").click()
    page.wait_for_url("**/staff/")
    assert page.get_by_role("heading", name="工作台").is_visible()
    assert person.name in page.locator(".site-header .who").inner_text()
    return page


def shoot_inbox(page, shoot, who):
    """Save the inbox at desktop and at tablet width."""
    shoot(page, f"{who}-inbox")
    page.set_viewport_size(TABLET)
    shoot(page, f"{who}-inbox-tablet")
    page.set_viewport_size({"width": 1366, "height": 900})


def verify_as_village(page, shoot, who, task_name, case_number):
    """Claim the one task in the inbox, open it, choose 情况属实, submit, and come back to the inbox."""
    assert task_rows(page) == [(task_name, case_number)], "only this village's own task is listed"
    assert tab_counts(page) == {"待办": 1, "我已认领": 0, "已办": 0, "超期": 0}
    shoot_inbox(page, shoot, who)

    page.get_by_label(f"勾选 {case_number}").check()
    page.get_by_role("button", name="认领勾选的任务").click()
    assert "已认领 1 项任务" in page.locator(".alert-success").inner_text()
    assert tab_counts(page) == {"待办": 1, "我已认领": 1, "已办": 0, "超期": 0}
    assert page.locator("li.task-card").first.get_by_text("我已认领").is_visible()
    shoot(page, f"{who}-claimed")

    page.get_by_role("link", name=task_name).click()
    page.wait_for_url("**/staff/tasks/*")
    assert page.get_by_role("heading", name=task_name).is_visible()
    assert f"受理编号 {case_number}" in page.locator("h1").inner_text()
    assert page.get_by_role("button", name="取消认领").is_visible(), "the task page knows it is claimed by me"
    assert "138****0001" in page.content(), "the citizen's phone is masked"
    page.get_by_label("情况属实").check()
    page.get_by_label("意见或原因").fill("已入户核实，与申报一致。")
    shoot(page, f"{who}-task")
    page.get_by_role("button", name="提交", exact=True).click()

    page.wait_for_url("**/staff/")
    assert f"已提交：{task_name}「情况属实」（受理编号 {case_number}）" in page.locator(".alert-success").inner_text()
    assert tab_counts(page) == {"待办": 0, "我已认领": 0, "已办": 1, "超期": 0}
    assert page.get_by_text("待办中没有任务。").is_visible()
    shoot(page, f"{who}-submitted")


def assert_empty_inbox(page, shoot, who):
    """The inbox shows no task in any tab."""
    page.reload()
    assert tab_counts(page) == NO_TASKS
    assert page.get_by_text("待办中没有任务。").is_visible()
    assert page.locator("li.task-card").count() == 0
    shoot(page, who)


def read_and_print(county, township, shoot, number):
    """The county official reads the case; the street service hall finds it by an ID number and prints the slip."""
    county.goto(f"/admin/cases/{number}")
    assert number in county.locator("h1").inner_text()
    assert "登记成功" in county.content()
    shoot(county, "county-reads-case")

    # The street service hall finds the case by a spouse's ID number alone, and prints the slip.
    township.get_by_role("link", name="大厅查询").click()
    township.get_by_label("按身份证号码").check()
    township.get_by_label("女方或男方身份证号码").fill(MAN_ID)
    township.get_by_role("button", name="查询").click()
    assert "生育服务登记单，签发于" in township.locator(".hall-case").inner_text()
    shoot(township, "hall-found")
    with township.context.expect_event("response", lambda r: r.url.endswith("/staff/hall/print")) as printed:
        township.get_by_role("button", name="打印生育服务登记单").click()
    assert printed.value.status == 200
    assert printed.value.header_value("content-type") == "application/pdf", "the slip opens in the browser to print"


def test_a_case_is_verified_by_two_villages_and_approved_by_the_township(
        session, people, apply, browser_context, screenshots):
    case = apply()
    number = case.case_number
    hukou, residence, other, township, county = (
        sign_in(browser_context(), getattr(people, who), screenshots, who)
        for who in ("hukou", "residence", "other", "township", "county"))

    # While both villages verify, nobody else has anything to do.
    assert_empty_inbox(other, screenshots, "other-village-empty")
    assert_empty_inbox(county, screenshots, "county-empty")
    assert_empty_inbox(township, screenshots, "township-waiting")

    verify_as_village(hukou, screenshots, "hukou", "户籍地村（居）核实", number)
    assert_empty_inbox(township, screenshots, "township-still-waiting")
    residence.reload()
    assert task_rows(residence) == [("现居住地村（居）核实", number)]
    verify_as_village(residence, screenshots, "residence", "现居住地村（居）核实", number)

    township.reload()
    assert task_rows(township) == [("乡镇（街道）审核", number)]
    assert tab_counts(township) == {"待办": 1, "我已认领": 0, "已办": 0, "超期": 0}
    shoot_inbox(township, screenshots, "township")
    township.get_by_role("link", name="乡镇（街道）审核").click()
    township.wait_for_url("**/staff/tasks/*")
    results = township.locator(".card", has_text="核实与审核结果").inner_text()
    assert "户籍地村（居）核实：情况属实（已入户核实，与申报一致。）" in results
    assert "现居住地村（居）核实：情况属实（已入户核实，与申报一致。）" in results
    township.get_by_label("通过", exact=True).check()
    screenshots(township, "township-audit")
    township.get_by_role("button", name="提交", exact=True).click()
    township.wait_for_url("**/staff/")
    assert f"已提交：乡镇（街道）审核「通过」（受理编号 {number}）" in township.locator(".alert-success").inner_text()
    assert tab_counts(township) == {"待办": 0, "我已认领": 0, "已办": 1, "超期": 0}
    screenshots(township, "township-submitted")

    township.get_by_role("link", name=re.compile("^已办")).click()
    assert task_rows(township) == [("乡镇（街道）审核", number)]
    assert township.locator("li.task-card").first.get_by_text("登记成功").is_visible()
    screenshots(township, "township-done")

    forget(session)
    assert refreshed(session, case).status == "登记成功"
    sent = session.scalars(select(SmsMessageModel.template).where(
        SmsMessageModel.case_number == number, SmsMessageModel.phone_hash == blind(people.citizen.phone))
        .order_by(SmsMessageModel.id)).all()
    assert sent == ["application_submitted", "audit_approved"]

    # Afterwards the third village and the county still see nothing; the villages see their own done task.
    assert_empty_inbox(other, screenshots, "other-village-after")
    assert_empty_inbox(county, screenshots, "county-after")
    hukou.get_by_role("link", name=re.compile("^已办")).click()
    assert task_rows(hukou) == [("户籍地村（居）核实", number)]

    read_and_print(county, township, screenshots, number)
