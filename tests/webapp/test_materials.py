"""Proof materials through the pages: the applicant's uploads, what is refused and why, who may open the files."""

import re
from io import BytesIO
from pathlib import Path

import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select

from engine.models import AuditEventModel
from processes.roles import CITIZEN
from services import accounts, applications, materials
from services.filestore import DiskFileStore
from services.materials import MaterialModel
from services.uploads import UploadLimits
from tests.fixtures import csrf_token, sign_in
from tests.samples import MINIMAL_PDF, NOT_AN_IMAGE, photo, png, png_claiming, truncated_jpeg
from webapp.config import ConfigurationError, check, from_environment

THUMB = re.compile(r'<img src="/materials/([^"/]+)/thumb"')


@pytest.fixture
def applicant(session):
    """One citizen with a draft whose woman remarried (so the remarriage proofs are required)."""
    user = accounts.create_user(session, phone="13800000009", name="周敏", role=CITIZEN, password="Test@12345")
    application = applications.start(session, user.id, "first_child")
    application.answers = {"woman": {"marital_status": "22"}, "man": {"marital_status": "21"}, "after_birth": False}
    session.commit()
    return user, application


@pytest.fixture
def uploads_dir(app):
    return app.config["UPLOAD_DIR"]


def _files(root):
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _upload(client, token, kind, data, filename="photo.jpg"):
    url = f"/apply/{token}/materials"
    page = client.get(url)
    assert page.status_code == 200
    return client.post(url, data={"csrf_token": csrf_token(page.text), "kind": kind,
                                  "file": (BytesIO(data), filename)}, content_type="multipart/form-data")


def _rows(session):
    session.rollback()
    return session.scalar(select(func.count()).select_from(MaterialModel))


def test_the_applicant_uploads_a_photo_and_sees_it_without_its_gps_position(session, client, applicant):
    user, application = applicant
    sign_in(client, user)
    page = client.get(f"/apply/{application.token}/materials")
    assert "还需上传 6 项必需材料" in page.text
    assert "再婚相关证明" in page.text
    assert "出生医学证明" not in page.text  # no birth yet and no children: not offered

    response = _upload(client, application.token, "id_card", photo(gps=True), "IMG_0001.jpg")
    assert response.status_code == 302
    page = client.get(response.location)
    assert "已上传：身份证（夫妻双方）" in page.text
    assert "还需上传 5 项必需材料" in page.text
    assert "IMG_0001.jpg" in page.text
    (token,) = THUMB.findall(page.text)

    full = client.get(f"/materials/{token}")
    assert full.status_code == 200
    assert full.mimetype == "image/jpeg"
    assert full.headers["X-Content-Type-Options"] == "nosniff"
    assert full.headers["Cache-Control"] == "private, no-store"
    with Image.open(BytesIO(full.data)) as image:
        assert image.size == (640, 480)
        assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    thumb = client.get(f"/materials/{token}/thumb")
    assert thumb.status_code == 200
    assert thumb.headers["Cache-Control"] == "private, no-store"
    with Image.open(BytesIO(thumb.data)) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 320


def test_each_refused_file_is_named_on_the_page_and_nothing_is_stored(session, client, applicant, uploads_dir,
                                                                       app, monkeypatch):
    user, application = applicant
    sign_in(client, user)
    before = _files(uploads_dir)
    monkeypatch.setitem(app.config, "UPLOAD_MAX_MB", 1)
    refusals = [
        ("id_card", png_claiming(65535, 65535), "bomb.png", "图片像素过多，不能超过 40 百万像素"),
        ("id_card", truncated_jpeg(), "cut.jpg", "图片已损坏或不完整"),
        ("id_card", NOT_AN_IMAGE, "photo.jpg", "无法识别的文件格式"),
        ("id_card", b"\xff\xd8\xff" + bytes(1536 * 1024), "big.jpg", "文件过大（1.5 MB），每个文件不能超过 1 MB"),
        ("couple_photo", MINIMAL_PDF, "合影.pdf", "此项材料只接受 JPG 或 PNG 格式的照片，不接受 PDF 文件"),
    ]
    for kind, data, filename, message in refusals:
        response = _upload(client, application.token, kind, data, filename)
        assert response.status_code == 200, filename
        assert message in response.text, filename
        # The message stands under the form of the kind it was meant for.
        section = response.text.split(f'id="kind-{kind}"', 1)[1].split("</section>", 1)[0]
        assert message in section, filename

    assert _rows(session) == 0
    assert _files(uploads_dir) == before


def test_a_pdf_is_accepted_for_a_document_and_always_downloaded(session, client, applicant):
    user, application = applicant
    sign_in(client, user)
    assert _upload(client, application.token, "hukou_book", MINIMAL_PDF, "户口本.pdf").status_code == 302
    assert _upload(client, application.token, "couple_photo", png(), "合影.png").status_code == 302
    (material,) = [m for m in materials.of_application(session, application) if m.kind == "hukou_book"]

    page = client.get(f"/apply/{application.token}/materials")
    assert f'href="/materials/{material.token}"' in page.text
    download = client.get(f"/materials/{material.token}")
    assert download.status_code == 200
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.data.startswith(b"%PDF-")  # the file as rewritten on upload (test_pdf_sanitising.py)
    assert client.get(f"/materials/{material.token}/thumb").status_code == 404


def test_the_applicant_deletes_an_upload_and_its_files_go(session, client, applicant, uploads_dir):
    user, application = applicant
    sign_in(client, user)
    before = _files(uploads_dir)
    _upload(client, application.token, "marriage_certificate", photo())
    assert len(_files(uploads_dir) - before) == 2
    page = client.get(f"/apply/{application.token}/materials")
    (token,) = THUMB.findall(page.text)

    response = client.post(f"/apply/{application.token}/materials/{token}/delete",
                           data={"csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    assert "已删除一份「结婚证」" in client.get(response.location).text
    assert _files(uploads_dir) == before
    assert _rows(session) == 0
    assert client.get(f"/materials/{token}").status_code == 404


def test_uploads_need_the_csrf_token(client, applicant):
    user, application = applicant
    sign_in(client, user)
    response = client.post(f"/apply/{application.token}/materials", data={
        "kind": "id_card", "file": (BytesIO(photo()), "a.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "页面已过期" in response.text


def test_a_submitted_application_shows_its_materials_but_takes_no_more(session, client, applicant):
    user, application = applicant
    application.status = applications.SUBMITTED
    session.commit()
    sign_in(client, user)
    page = client.get(f"/apply/{application.token}/materials")
    assert "申请已提交，材料不能再修改" in page.text
    assert 'enctype="multipart/form-data"' not in page.text
    response = client.post(f"/apply/{application.token}/materials", data={
        "csrf_token": csrf_token(page.text), "kind": "id_card", "file": (BytesIO(photo()), "a.jpg")},
        content_type="multipart/form-data")
    assert "申请已提交，材料不能再修改" in response.text
    assert _rows(session) == 0


# -- who may open the files ---------------------------------------------------------------------------------------


@pytest.fixture
def case_with_materials(app, session, people, submit):
    """A submitted case whose application holds a photo and a PDF."""
    case = submit()
    application = applications.start(session, people.citizen.id, "first_child")
    application.case_id = case.id
    store = DiskFileStore(app.config["UPLOAD_DIR"])
    limits = UploadLimits()
    photo_row = materials.add_material(session, store, application, "id_card", photo(), "id.jpg", limits=limits,
                                       max_per_kind=5)
    pdf_row = materials.add_material(session, store, application, "marriage_certificate", MINIMAL_PDF, "m.pdf",
                                     limits=limits, max_per_kind=5)
    application.status = applications.SUBMITTED
    session.commit()
    return case, application, photo_row, pdf_row


def _audited_views(session, case):
    session.rollback()
    return session.scalars(select(AuditEventModel.actor).where(
        AuditEventModel.instance_id == case.instance_id, AuditEventModel.kind == "material_viewed")).all()


def test_who_may_open_a_material(session, client, people, browser_for, case_with_materials):
    case, application, photo_row, _pdf_row = case_with_materials
    full, thumb = f"/materials/{photo_row.token}", f"/materials/{photo_row.token}/thumb"

    anonymous = client.get(full)
    assert anonymous.status_code == 302
    assert anonymous.location.startswith("/auth/login")

    owner = browser_for("citizen")
    assert owner.get(full).status_code == 200
    assert owner.get(thumb).status_code == 200
    assert _audited_views(session, case) == []  # the applicant's own views are not audited

    stranger = accounts.create_user(session, phone="13800000099", name="吴某", role=CITIZEN, password="Test@12345")
    session.commit()
    sign_in(client, stranger)
    assert client.get(full).status_code == 404
    assert client.get(thumb).status_code == 404
    assert client.get(f"/apply/{application.token}/materials").status_code == 404

    hukou = browser_for("hukou")  # the village with a task on the case
    assert hukou.get(thumb).status_code == 200
    assert _audited_views(session, case) == []  # thumbnails are not audited
    assert hukou.get(full).status_code == 200
    assert _audited_views(session, case) == [people.hukou.actor]

    other = browser_for("other")  # a village with no task on the case
    assert other.get(full).status_code == 403
    assert other.get(thumb).status_code == 403

    county = browser_for("county")  # an official who reads the cases of her county
    assert county.get(full).status_code == 200
    assert _audited_views(session, case) == [people.hukou.actor, people.county.actor]


def test_the_staff_task_page_and_the_case_view_show_the_materials(session, people, browser_for,
                                                                  case_with_materials):
    case, _application, photo_row, pdf_row = case_with_materials
    from tests.fixtures import open_task

    task_id = open_task(session, case, "verify_hukou").id
    session.commit()
    for page in (browser_for("hukou").get(f"/staff/tasks/{task_id}"),
                 browser_for("county").get(f"/admin/cases/{case.case_number}")):
        assert page.status_code == 200
        assert "证明材料" in page.text
        assert "身份证（夫妻双方）（1 份）" in page.text
        assert "结婚证（1 份）" in page.text
        assert THUMB.findall(page.text) == [photo_row.token]
        assert f'href="/materials/{pdf_row.token}"' in page.text


# -- settings -------------------------------------------------------------------------------------------------------


def test_uploads_live_under_the_instance_folder_unless_told_otherwise(app, tmp_path):
    assert app.config["UPLOAD_DIR"] == Path(app.instance_path) / "uploads"
    settings = from_environment() | {"INSTANCE_DIR": tmp_path, "SECRET_KEY": "x", "UPLOAD_DIR": str(tmp_path / "f")}
    check(settings)
    assert settings["UPLOAD_DIR"] == tmp_path / "f"
    with pytest.raises(ConfigurationError, match="UPLOAD_MAX_MB"):
        check(settings | {"UPLOAD_MAX_MB": 20, "MAX_REQUEST_MB": 20})
