"""Registration on a phone-sized screen (390×844) in a real browser: the notice, the SMS code read from the recorded
outbox as the phone would show it, one ID-number mistake with its message, the fix, and landing signed in."""

import pytest

from services.identity import check_character
from tests.e2e.conftest import PHONE
from tests.fixtures import last_sms_code

pytestmark = pytest.mark.e2e

FIRST17 = "11010119900307002"
ID_NUMBER = FIRST17 + check_character(FIRST17)
WRONG_ID_NUMBER = FIRST17 + ("0" if ID_NUMBER[-1] != "0" else "1")


def test_a_citizen_registers_on_a_phone(browser_context, screenshots):
    context = browser_context(PHONE)
    try:
        page = context.new_page()
        page.goto("/auth/login")
        page.get_by_role("link", name="注册新账号").click()
        page.wait_for_url("**/auth/register")
        assert page.get_by_role("heading", name="注册须知").is_visible()
        assert "夫妻近期免冠合影" in page.locator(".notice").inner_text()
        screenshots(page, "register-notice")

        page.get_by_role("button", name="同意并继续注册").click()
        assert "请先阅读并勾选同意注册须知" in page.locator(".field-error").inner_text()
        page.get_by_label("我已阅读并同意以上注册须知").check()
        page.get_by_role("button", name="同意并继续注册").click()
        page.wait_for_url("**/auth/register")
        assert page.get_by_role("heading", name="实名注册").is_visible()

        page.get_by_label("手机号码").fill("13700000001")
        page.get_by_role("button", name="获取验证码").click()
        page.wait_for_load_state()
        assert "验证码已发送至 137****0001" in page.locator(".alert").inner_text()
        page.get_by_label("短信验证码").fill(last_sms_code("13700000001"))
        page.get_by_label("真实姓名").fill("王芳")
        page.get_by_label("身份证号码").fill(WRONG_ID_NUMBER)
        page.get_by_label("密码", exact=True).fill("Xin@2026pw")
        page.get_by_label("确认密码").fill("Xin@2026pw")
        screenshots(page, "register-form")
        page.get_by_role("button", name="注册", exact=True).click()
        page.wait_for_load_state()
        error = page.locator(".has-error .field-error")
        assert error.inner_text() == "身份证号码校验位不正确，请核对后重新输入"
        screenshots(page, "register-id-mistake")

        page.get_by_label("身份证号码").fill(ID_NUMBER)
        page.get_by_label("密码", exact=True).fill("Xin@2026pw")
        page.get_by_label("确认密码").fill("Xin@2026pw")
        page.get_by_role("button", name="注册", exact=True).click()
        page.wait_for_url("**/apply")
        assert "注册成功，您已登录" in page.locator(".alert").inner_text()
        assert "王芳" in page.locator(".site-header .who").inner_text()
        screenshots(page, "register-signed-in")

        page.goto("/auth/me")
        assert "110101********" + ID_NUMBER[-4:] in page.locator(".facts").inner_text()
        # Nothing spills sideways on a phone: the page is no wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshots(page, "register-profile")
    finally:
        context.close()
