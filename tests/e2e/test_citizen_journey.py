"""The citizen's whole journey on a phone (390×844) in a real browser.

Register with the SMS code read from the recorded outbox, sign in again, read the notice, fill in both spouses with
one ID-number mistake, upload the materials, submit and see 办理中; the staff decisions are made through the
service layer; then see 登记成功 and download the slip, whose text and embedded fonts are checked with poppler.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE
from services import cases
from tests.e2e.conftest import PHONE, SCREENSHOTS, citizen_sign_in
from tests.fixtures import decide, forget, last_sms_code
from tests.identities import id_number, with_wrong_check
from tests.samples import photo

pytestmark = [pytest.mark.e2e, pytest.mark.poppler]

MOBILE = "13700000066"
PASSWORD = "Xin@2026pw"
WOMAN_ID = id_number("19950816", "2", serial=2)
MAN_ID = id_number("19920202", "1", serial=1)
PATH = {HUKOU_VILLAGE: ("11", "1101", "110101", "110101001", HUKOU_VILLAGE),
        RESIDENCE_VILLAGE: ("11", "1101", "110101", "110101001", RESIDENCE_VILLAGE)}


def _fits(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "nothing spills sideways"


def _pick(section, label, village):
    """Choose a village with the cascading picker, level by level, as a person would."""
    for level, code in zip(("省", "市", "县（区）", "乡镇（街道）", "村（居）"), PATH[village], strict=True):
        section.locator(f"select[aria-label='{label} {level}']").select_option(code)


def _spouse(page, legend, *, name=None, number=None, birth=None, hukou, residence):
    section = page.locator("fieldset", has=page.locator(f"legend:text-is('{legend}')"))
    if name:
        section.get_by_label("姓名").fill(name)
    if number:
        section.get_by_label("身份证号码").fill(number)
    if birth:
        section.get_by_label("出生日期").fill(birth)
    section.get_by_label("民族").select_option("01")
    section.get_by_label("婚姻状况").select_option("21")
    section.get_by_label("联系电话").fill(MOBILE)
    section.get_by_label("工作单位").fill("北京市东城区某单位")
    section.get_by_label("单位电话").fill("010-65120000")
    _pick(section, "户籍地", hukou)
    _pick(section, "现居住地", residence)
    return section


def _register(page, screenshots):
    page.goto("/")
    page.get_by_role("link", name="注册并申请").click()
    page.get_by_label("我已阅读并同意以上注册须知").check()
    page.get_by_role("button", name="同意并继续注册").click()
    page.get_by_label("手机号码").fill(MOBILE)
    page.get_by_role("button", name="获取验证码").click()
    page.locator(".alert-info", has_text="验证码已发送至").wait_for()  # sent in the background, no reload
    page.get_by_label("短信验证码").fill(last_sms_code(MOBILE))
    page.get_by_label("真实姓名").fill("王芳")
    page.get_by_label("身份证号码").fill(WOMAN_ID)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_label("确认密码").fill(PASSWORD)
    screenshots(page, "journey-register")
    page.get_by_role("button", name="注册", exact=True).click()
    page.wait_for_url("**/apply")
    page.get_by_role("button", name="退出").click()
    citizen_sign_in(page, MOBILE, PASSWORD)
    page.wait_for_url("**/")
    page.get_by_role("link", name="我要申请").click()


def _apply(page, screenshots):
    assert "一次备齐" in page.content()
    page.get_by_label("我已阅读并知晓以上申报须知").check()
    screenshots(page, "journey-notice")
    page.get_by_role("button", name="下一步：选择申请类型").click()
    screenshots(page, "journey-types")
    page.get_by_role("button", name="申请一孩登记").click()
    page.wait_for_url("**/apply/*")
    woman = page.locator("fieldset", has=page.locator("legend:text-is('女方信息')"))
    assert woman.get_by_label("姓名").input_value() == "王芳", "known from the registration, not asked again"
    assert woman.get_by_label("身份证号码").input_value() == WOMAN_ID
    _spouse(page, "女方信息", hukou=HUKOU_VILLAGE, residence=RESIDENCE_VILLAGE)
    _spouse(page, "男方信息", name="李建国", number=with_wrong_check(MAN_ID), birth="1992-02-02",
            hukou=HUKOU_VILLAGE, residence=RESIDENCE_VILLAGE)
    _fits(page)
    page.get_by_role("button", name="下一步：上传材料").click()
    error = page.locator(".has-error .field-error")
    assert error.first.inner_text() == "身份证号码校验位不正确，请核对后重新输入"
    screenshots(page, "journey-id-mistake")
    man = page.locator("fieldset", has=page.locator("legend:text-is('男方信息')"))
    man.get_by_label("身份证号码").fill(MAN_ID)
    page.get_by_role("button", name="下一步：上传材料").click()
    page.wait_for_url("**/materials")


def _upload(page, screenshots, tmp_path):
    for kind in ("id_card", "hukou_book", "marriage_certificate", "couple_photo"):
        file = tmp_path / f"{kind}.jpg"
        file.write_bytes(photo(1200, 900, gps=True))
        section = page.locator(f"#kind-{kind}")
        section.locator(f"#file-{kind}").set_input_files(str(file))  # sent at once by the page's script
        section.locator(".material-count", has_text="已传 1 份").wait_for()
    assert "必需材料已全部上传" in page.locator(".alert").last.inner_text() or "必需材料已全部上传" in page.content()
    _fits(page)
    screenshots(page, "journey-materials")
    page.get_by_role("button", name="下一步：确认提交").click()
    screenshots(page, "journey-review")
    page.get_by_role("button", name="确认提交").click()
    page.wait_for_url("**/my/cases/*")


def test_a_citizen_registers_applies_and_prints_the_slip(session, people, deployed, browser_context,  # noqa: ARG001
                                                          screenshots, tmp_path):
    context = browser_context(PHONE, accept_downloads=True)
    try:
        page = context.new_page()
        _register(page, screenshots)
        _apply(page, screenshots)
        _upload(page, screenshots, tmp_path)
        assert page.locator(".status").first.inner_text() == "办理中"
        number = page.locator(".status-line strong").inner_text()
        _fits(page)
        screenshots(page, "journey-submitted")

        forget(session)
        case = session.scalar(select(cases.CaseModel).where(cases.CaseModel.case_number == number))
        assert (case.woman_name, case.man_name, case.parity) == ("王芳", "李建国", 1)
        decide(session, case, "verify_hukou", people.hukou, "verified")
        decide(session, case, "verify_residence", people.residence, "verified")
        decide(session, case, "township_audit", people.township, "approved")

        page.reload()
        assert page.locator(".status").first.inner_text() == "登记成功"
        screenshots(page, "journey-registered")
        with page.expect_download() as download:
            page.get_by_role("link", name="下载《生育服务登记单》（PDF）").click()
        pdf = SCREENSHOTS.parent / "citizen-slip.pdf"
        download.value.save_as(pdf)
    finally:
        context.close()

    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("王芳", "李建国", number, "生育服务登记单"):
        assert expected in text, expected
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    embedded = [line for line in fonts.splitlines()[2:] if line.split()[-5:-4] == ["yes"] or " yes " in line]
    assert embedded, fonts
    assert "STSong" not in fonts
    assert shutil.which("pdftoppm")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf), str(Path(pdf).with_suffix(""))],
                   check=True)
