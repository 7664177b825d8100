"""Printed slips: the PDF itself, its verification page, the applicant's download and the service hall."""

import subprocess
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import AuditEventModel
from processes.roles import CITIZEN, SERVICE_HALL, TOWNSHIP_STAFF
from services import accounts, identity, slips
from services import people as persons
from services.codes import FEMALE, MALE
from services.pdf_fonts import FontUnavailable
from tests.fixtures import csrf_token, decide, forget, refreshed, sign_in

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WOMAN_ID = "11010119900307152" + identity.check_character("11010119900307152")
MAN_ID = "11010119880512341" + identity.check_character("11010119880512341")


def _approve(session, crew, case):
    case = decide(session, case, "verify_hukou", crew.hukou, "verified")
    case = decide(session, case, "verify_residence", crew.residence, "verified")
    return decide(session, case, "township_audit", crew.township, "approved")


def _with_persons(session, case):
    """Name the spouses of a case as persons and keep what was claimed about them, as the application form does."""
    details = {"phone": "13800000001", "employer": "", "employer_phone": "", "marital_status": "21",
               "hukou_division": case.hukou_division, "residence_division": case.residence_division}
    woman = persons.ensure_person(session, WOMAN_ID, date(1990, 3, 7), FEMALE)
    man = persons.ensure_person(session, MAN_ID, date(1988, 5, 12), MALE)
    persons.record_claim(session, case.id, {
        "woman": {**details, "name": case.woman_name, "ethnicity": "01", "id_number": WOMAN_ID},
        "man": {**details, "name": case.man_name, "ethnicity": "11", "id_number": MAN_ID}, "children": []}, "test")
    case.woman_id, case.man_id, case.mother_ethnicity, case.father_ethnicity = woman.id, man.id, "01", "11"
    session.commit()
    return refreshed(session, case)


@pytest.fixture
def issued(session, people, submit):
    """A first-child case naming both spouses as persons, approved (登记成功) through the service layer."""
    case = _approve(session, people, _with_persons(session, submit()))
    assert case.status == "登记成功"
    return case


def _slip(session, case):
    slip = slips.slip_of_case(session, case)
    assert slip is not None
    return slip


def _read_pdf(pdf: bytes, folder: Path) -> tuple[str, str]:
    path = folder / "slip.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    return text, fonts


def _embedded_fonts(fonts: str) -> list[tuple[str, str]]:
    """Return (name, emb) of each font pdffonts lists."""
    rows = fonts.splitlines()[2:]
    return [(row.split()[0], row.split()[-5]) for row in rows if row.strip()]


@pytest.mark.poppler
def test_the_applicant_downloads_a_slip_with_both_spouses_in_an_embedded_chinese_font(
        session, issued, people, client, tmp_path):
    sign_in(client, people.citizen)
    response = client.get(f"/slips/{issued.case_number}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="slip-{issued.case_number}.pdf"'
    forget(session)
    copies = session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "slip_printed")).all()
    assert [(c.actor, c.detail["channel"]) for c in copies] == [(people.citizen.actor, "online")], "audited"

    text, fonts = _read_pdf(response.data, tmp_path)
    for expected in ("生育服务登记单", "张丽", "刘强", issued.case_number, WOMAN_ID, MAN_ID, "汉族", "满族", "一孩登记",
                     "第一个孩子", "北京市东城区东华门街道卫生健康办公室", _slip(session, issued).verification_code):
        assert expected in text, expected
    assert "STSong" not in fonts
    embedded = _embedded_fonts(fonts)
    assert any(name.split("+")[-1].startswith("SlipSans") and emb == "yes" for name, emb in embedded), fonts
    assert all(emb == "yes" for name, emb in embedded if "Slip" in name)

    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", str(tmp_path / "slip.pdf"),
                    str(ARTIFACTS / "slip")], check=True)
    assert (ARTIFACTS / "slip.png").stat().st_size > 10_000


@pytest.mark.poppler
def test_a_case_without_persons_prints_names_only(session, people, submit, tmp_path, app):
    case = submit(case_type="third_child")
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    case = decide(session, case, "township_review", people.township, "passed")
    case = decide(session, case, "offline_confirmation", people.township, "approved")
    assert case.status == "已批准"
    slip = _slip(session, case)
    assert slip.kind == "再生育审批单"
    pdf = slips.render_pdf(slips.facts(session, slip, case), "http://example.test/slips/verify/x",
                           font_setting=None, cache_dir=Path(app.instance_path) / "fonts")
    text, _ = _read_pdf(pdf, tmp_path)
    assert "再生育审批单" in text
    assert "张丽" in text
    assert "第三个孩子" in text


def test_the_verification_page_shows_a_genuine_slip_masked(session, issued, client):
    code = _slip(session, issued).verification_code
    page = client.get(f"/slips/verify/{code}")
    assert page.status_code == 200
    assert "有效" in page.text
    assert "张*" in page.text
    assert "刘*" in page.text
    assert "110101********" + WOMAN_ID[-4:] in page.text
    assert WOMAN_ID not in page.text
    assert MAN_ID not in page.text
    assert "张丽" not in page.text
    assert issued.case_number in page.text
    assert "东华门街道卫生健康办公室" in page.text


def test_an_unknown_code_is_not_genuine(client):
    for code in ("0" * 32, "not-a-code"):
        page = client.get(f"/slips/verify/{code}")
        assert page.status_code == 404
        assert "未找到" in page.text


def test_names_are_masked_between_first_and_last_character():
    assert [slips.mask_name(n) for n in ("张", "张丽", "张丽华", "欧阳娜娜")] == ["张", "张*", "张*华", "欧**娜"]


def test_only_the_applicant_may_download(session, issued, people, client, app):
    url = f"/slips/{issued.case_number}.pdf"
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous.location.startswith("/auth/login")

    other = accounts.create_user(session, phone="13800000002", name="王芳", role=CITIZEN, password="Test@12345")
    session.commit()
    sign_in(client, other)
    assert client.get(url).status_code == 404
    assert client.get("/slips/20990101000000.pdf").status_code == 404


def test_before_approval_the_download_says_the_slip_is_not_issued(people, submit, client):
    case = submit()
    sign_in(client, people.citizen)
    response = client.get(f"/slips/{case.case_number}.pdf")
    assert response.status_code == 404
    assert "登记单尚未签发" in response.text


def _hall_search(client, **fields):
    page = client.get("/staff/hall")
    assert page.status_code == 200
    return client.post("/staff/hall", data={"csrf_token": csrf_token(page.text), **fields})


def _prints(session):
    session.rollback()
    return session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "slip_printed")).all()


@pytest.mark.poppler
def test_the_service_hall_finds_a_case_by_a_spouse_s_id_number_and_prints_it_with_an_audit_line(
        session, issued, people, browser_for, tmp_path):
    hall = browser_for("township")
    assert "大厅查询" in hall.get("/staff/").text

    for fields in ({"way": "id_number", "id_number": "110101199001011234"},
                   {"way": "case_number", "case_number": "20990101000000"}, {"way": "id_number", "id_number": ""}):
        wrong = _hall_search(hall, **fields)
        assert wrong.status_code == 200
        assert "打印生育服务登记单" not in wrong.text
    unknown = "11010119900101123" + identity.check_character("11010119900101123")
    assert "未找到" in _hall_search(hall, way="id_number", id_number=unknown).text

    found = _hall_search(hall, way="id_number", id_number=MAN_ID.lower())
    assert "登记成功" in found.text
    assert "打印生育服务登记单" in found.text
    printed = hall.post("/staff/hall/print", data={"csrf_token": csrf_token(found.text),
                                                   "case_number": issued.case_number})
    assert printed.status_code == 200
    assert printed.mimetype == "application/pdf"
    assert printed.headers["Content-Disposition"].startswith("inline;")
    text, _ = _read_pdf(printed.data, tmp_path)
    assert issued.case_number in text

    audit = _prints(session)
    assert [(e.actor, e.kind, e.instance_id, e.detail["case_number"]) for e in audit] == [
        (people.township.actor, "slip_printed", issued.instance_id, issued.case_number)]
    assert audit[0].at is not None


def test_the_hall_is_for_the_case_township_only(session, issued, people, client, browser_for, app):
    village = browser_for("hukou")
    assert village.get("/staff/hall").status_code == 403

    elsewhere = accounts.create_user(session, phone="13900000012", name="钱景山", role=TOWNSHIP_STAFF,
                                     password="Test@12345", division_code="110101002")
    hall_clerk = accounts.create_user(session, phone="13900000011", name="刘大厅", role=SERVICE_HALL,
                                      password="Test@12345", division_code="110101001")
    session.commit()
    for user in (elsewhere, hall_clerk):  # loaded now: each request below closes the test's session
        session.refresh(user)
    sign_in(client, elsewhere)
    assert "未找到" in _hall_search(client, way="case_number", case_number=issued.case_number).text
    assert "未找到" in _hall_search(client, way="id_number", id_number=WOMAN_ID).text
    page = client.get("/staff/hall")
    refused = client.post("/staff/hall/print", data={"csrf_token": csrf_token(page.text),
                                                     "case_number": issued.case_number})
    assert refused.status_code == 404
    assert _prints(session) == []

    clerk = client.__class__(app, app.response_class, use_cookies=True)
    sign_in(clerk, hall_clerk)
    assert "打印生育服务登记单" in _hall_search(clerk, way="case_number", case_number=issued.case_number).text


def test_a_font_setting_that_points_nowhere_is_a_clear_error(session, issued, tmp_path):
    facts = slips.facts(session, _slip(session, issued), issued)
    with pytest.raises(FontUnavailable, match=r"PDF_FONT.*不存在.*/nowhere/font\.ttf"):
        slips.render_pdf(facts, "http://example.test/v", font_setting="/nowhere/font.ttf", cache_dir=tmp_path)


def test_a_font_with_postscript_outlines_is_refused_naming_the_setting(session, issued, tmp_path):
    from services.pdf_fonts import noto_sc_path

    facts = slips.facts(session, _slip(session, issued), issued)
    with pytest.raises(FontUnavailable, match=r"PDF_FONT.*TrueType"):
        slips.render_pdf(facts, "http://example.test/v", font_setting=str(noto_sc_path()), cache_dir=tmp_path)


def test_the_download_answers_503_in_chinese_when_the_configured_font_is_missing(issued, people, client, app):
    app.config["PDF_FONT"] = "/nowhere/font.ttf"
    try:
        sign_in(client, people.citizen)
        response = client.get(f"/slips/{issued.case_number}.pdf")
    finally:
        app.config["PDF_FONT"] = ""
    assert response.status_code == 503
    assert "登记单暂时无法生成" in response.text
