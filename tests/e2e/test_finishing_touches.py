"""On a phone (390×844) in a real browser: 获取验证码 counts down without reloading the page, and the birth date is
filled from the ID number as it is typed."""

import re

import pytest

from services import applications
from tests.e2e.conftest import PHONE
from tests.fixtures import PASSWORD, last_sms_code
from tests.identities import id_number

pytestmark = pytest.mark.e2e

MOBILE = "13700000077"
MAN_ID = id_number("19920202", "1", serial=1)


def test_the_code_button_counts_down_and_the_form_keeps_what_was_typed(browser_context, screenshots):
    page = browser_context(PHONE).new_page()
    page.goto("/auth/register")
    page.get_by_label("我已阅读并同意以上注册须知").check()
    page.get_by_role("button", name="同意并继续注册").click()
    page.wait_for_url("**/auth/register")
    page.get_by_label("真实姓名").fill("王芳")
    page.get_by_label("密码", exact=True).fill("Xin@2026pw")
    page.get_by_label("手机号码").fill("123")
    page.get_by_role("button", name="获取验证码").click()
    page.locator(".has-error .field-error").wait_for()
    assert page.get_by_role("button", name="获取验证码").is_enabled(), "a refused number does not start a countdown"

    page.get_by_label("手机号码").fill(MOBILE)
    page.evaluate("window.notReloaded = true")
    page.get_by_role("button", name="获取验证码").click()
    page.locator(".alert-info", has_text="验证码已发送至 137****0077").wait_for()
    button = page.locator("button[data-send-code]")
    assert re.fullmatch(r"重新获取（\d+ 秒）", button.inner_text())
    assert button.is_disabled()
    assert page.evaluate("window.notReloaded === true"), "the page was not reloaded"
    assert page.get_by_label("密码", exact=True).input_value() == "Xin@2026pw", "nothing typed is lost"
    assert page.locator(".has-error").count() == 0, "the earlier error is cleared"
    assert last_sms_code(MOBILE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshots(page, "register-code-countdown")


def test_the_birth_date_follows_the_id_number(session, people, browser_context, screenshots):
    draft = applications.start(session, people.citizen.id, "first_child")
    session.commit()
    page = browser_context(PHONE).new_page()
    page.goto(f"/apply/{draft.token}")
    page.get_by_label("手机号码").fill(people.citizen.phone)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"**/apply/{draft.token}")
    man = page.locator("fieldset", has=page.locator("legend:text-is('男方信息')"))
    man.get_by_label("身份证号码").fill(MAN_ID)
    assert man.get_by_label("出生日期").input_value() == "1992-02-02"
    man.get_by_label("身份证号码").fill(MAN_ID[:-3])
    assert man.get_by_label("出生日期").input_value() == "1992-02-02", "a number being corrected clears nothing"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshots(page, "application-birth-date")
