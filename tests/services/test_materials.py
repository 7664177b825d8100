"""Proof materials: which are required, how an upload is hardened, and files that live and die with their row."""

from io import BytesIO

import pytest
from PIL import ExifTags, Image
from sqlalchemy import func, select

from services import accounts, applications, materials
from services.filestore import DiskFileStore
from services.materials import MaterialModel, required_materials
from services.uploads import UploadLimits, UploadRefused, harden
from tests.samples import (
    ENCRYPTED_PDF,
    MINIMAL_PDF,
    NOT_AN_IMAGE,
    photo,
    png,
    png_claiming,
    truncated_jpeg,
)

LIMITS = UploadLimits(max_bytes=2 * 1024 * 1024, max_pixels=40_000_000)


def _kinds(answers):
    return [kind for kind, _label, _hint in required_materials(answers)]


def _spouses(woman, man, after_birth=False):
    return {"woman": {"name": "张丽", "marital_status": woman}, "man": {"name": "刘强", "marital_status": man},
            "after_birth": after_birth, "children": []}


# -- which materials ----------------------------------------------------------------------------------------------


def test_a_first_marriage_before_the_birth_needs_the_four_basic_materials():
    assert _kinds(_spouses("21", "21")) == ["id_card", "hukou_book", "marriage_certificate", "couple_photo"]
    labels = [label for _kind, label, _hint in required_materials(_spouses("21", "21"))]
    assert labels == ["身份证（夫妻双方）", "户口本", "结婚证", "夫妻近期免冠合影"]


@pytest.mark.parametrize(("woman", "man"), [("22", "21"), ("21", "22"), ("22", "22")])
def test_remarriage_of_either_spouse_asks_for_the_divorce_and_the_earlier_births(woman, man):
    kinds = _kinds(_spouses(woman, man))
    assert "remarriage_proof" in kinds
    assert "birth_history_proof" in kinds


def test_a_reunion_with_the_same_spouse_is_not_a_remarriage():
    assert "remarriage_proof" not in _kinds(_spouses("23", "23"))


def test_the_birth_certificate_is_required_only_after_the_birth():
    assert "birth_certificate" in _kinds(_spouses("21", "21", after_birth=True))
    assert "birth_certificate" not in _kinds(_spouses("21", "21", after_birth=False))


def test_an_unanswered_draft_asks_only_for_the_basic_materials():
    assert _kinds({}) == ["id_card", "hukou_book", "marriage_certificate", "couple_photo"]


# -- hardening ----------------------------------------------------------------------------------------------------


def _refusal(data, allow_pdf=True, limits=LIMITS):
    with pytest.raises(UploadRefused) as refused:
        harden(data, allow_pdf=allow_pdf, limits=limits)
    return refused.value.message


def test_a_tiny_png_claiming_65535_pixels_square_is_refused_before_decoding():
    data = png_claiming(65535, 65535)
    assert len(data) < 100
    assert "像素过多" in _refusal(data)


def test_a_picture_above_pillows_own_cap_is_refused_even_with_a_higher_setting():
    # 100 Mpx is where Pillow only warns; the warning must stop the upload.
    assert "像素过多" in _refusal(png_claiming(10_000, 10_000), limits=UploadLimits(max_pixels=500_000_000))


def test_a_truncated_jpeg_is_refused_as_damaged():
    assert "已损坏或不完整" in _refusal(truncated_jpeg())


def test_a_text_file_is_refused_whatever_its_name():
    assert "无法识别的文件格式" in _refusal(NOT_AN_IMAGE)


def test_a_file_over_the_size_cap_is_refused_with_the_cap_named():
    message = _refusal(b"\xff\xd8" + bytes(3 * 1024 * 1024))
    assert "文件过大" in message
    assert "2 MB" in message


def test_an_empty_file_is_refused():
    assert "空的" in _refusal(b"")


def test_a_photo_comes_back_without_its_gps_position_camera_or_comment():
    original = photo(gps=True, comment=b"taken at home")
    assert Image.open(BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)

    kept = harden(original, allow_pdf=False, limits=LIMITS)
    image = Image.open(BytesIO(kept.content))
    assert image.format == "JPEG"
    assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert ExifTags.Base.Make not in image.getexif()
    assert "comment" not in image.info
    assert b"taken at home" not in kept.content


def test_a_sideways_phone_photo_is_stored_upright():
    kept = harden(photo(40, 20, orientation=6), allow_pdf=False, limits=LIMITS)
    assert (kept.width, kept.height) == (20, 40)
    assert Image.open(BytesIO(kept.content)).size == (20, 40)


def test_a_png_is_accepted_with_its_transparent_part_white_and_a_thumbnail():
    kept = harden(png(600, 400, transparent=True), allow_pdf=False, limits=LIMITS)
    image = Image.open(BytesIO(kept.content))
    assert kept.content_type == "image/jpeg"
    assert image.getpixel((10, 10)) >= (250, 250, 250)
    thumb = Image.open(BytesIO(kept.thumbnail))
    assert thumb.format == "JPEG"
    assert thumb.size == (320, 213)


def test_a_pdf_is_kept_as_it_came_for_a_document_and_refused_for_the_couple_photo():
    kept = harden(MINIMAL_PDF, allow_pdf=True, limits=LIMITS)
    assert (kept.content[:5], kept.content_type, kept.thumbnail) == (b"%PDF-", "application/pdf", None)
    assert "不接受 PDF" in _refusal(MINIMAL_PDF, allow_pdf=False)


def test_a_cut_off_or_encrypted_pdf_is_refused():
    assert "不完整" in _refusal(MINIMAL_PDF[:-10])
    assert "加密" in _refusal(ENCRYPTED_PDF)


# -- keeping files with their rows --------------------------------------------------------------------------------


@pytest.fixture
def draft(session):
    applicant = accounts.create_user(session, phone="13800000009", name="周敏", role="citizen", password="Test@12345")
    application = applications.start(session, applicant.id, "first_child")
    application.answers = _spouses("22", "21")
    session.commit()
    return application


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def _add(session, store, application, kind, data, name="photo.jpg", **kwargs):
    options = {"limits": LIMITS, "max_per_kind": 5} | kwargs
    return materials.add_material(session, store, application, kind, data, name, **options)


def _rows(session):
    return session.scalar(select(func.count()).select_from(MaterialModel))


def test_an_accepted_photo_is_stored_under_random_names_and_kept_by_the_commit(session, draft, tmp_path):
    store = DiskFileStore(tmp_path)
    material = _add(session, store, draft, "id_card", photo(gps=True), name="../../etc/身份证.jpg")
    session.commit()

    assert _files(tmp_path) == sorted([store.path(material.stored_name), store.path(material.thumbnail_name)])
    assert "身份证" not in material.stored_name
    assert material.original_name == "../../etc/身份证.jpg"[:200]
    assert (material.width, material.height, material.content_type) == (640, 480, "image/jpeg")
    with Image.open(store.path(material.thumbnail_name)) as thumb:
        assert thumb.size == (320, 240)


def test_a_refused_file_leaves_neither_a_row_nor_a_file(session, draft, tmp_path):
    store = DiskFileStore(tmp_path)
    for bad in (png_claiming(65535, 65535), truncated_jpeg(), NOT_AN_IMAGE, bytes(3 * 1024 * 1024)):
        with pytest.raises(UploadRefused):
            _add(session, store, draft, "id_card", bad)
    with pytest.raises(UploadRefused, match="不接受 PDF"):
        _add(session, store, draft, "couple_photo", MINIMAL_PDF, name="合影.pdf")
    session.commit()
    assert _rows(session) == 0
    assert _files(tmp_path) == []


def test_files_written_in_a_transaction_that_rolls_back_are_removed(session, draft, tmp_path):
    store = DiskFileStore(tmp_path)
    _add(session, store, draft, "id_card", photo())
    assert len(_files(tmp_path)) == 2
    session.rollback()
    assert _files(tmp_path) == []
    assert _rows(session) == 0


def test_a_failed_write_takes_the_row_back(session, draft, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the store's folder should be")
    with pytest.raises(UploadRefused, match="保存失败"):
        _add(session, DiskFileStore(blocked), draft, "id_card", photo())
    session.commit()
    assert _rows(session) == 0


def test_a_deleted_material_loses_its_files_only_when_the_deletion_commits(session, draft, tmp_path):
    store = DiskFileStore(tmp_path)
    material = _add(session, store, draft, "id_card", photo())
    session.commit()

    materials.remove_material(session, store, draft, material.token)
    session.rollback()
    assert len(_files(tmp_path)) == 2

    materials.remove_material(session, store, draft, material.token)
    session.commit()
    assert _files(tmp_path) == []
    assert _rows(session) == 0


def test_each_kind_holds_at_most_the_configured_number_of_files(session, draft, tmp_path):
    store = DiskFileStore(tmp_path)
    for _ in range(2):
        _add(session, store, draft, "id_card", photo(), max_per_kind=2)
    with pytest.raises(UploadRefused, match="最多上传 2 个文件"):
        _add(session, store, draft, "id_card", photo(), max_per_kind=2)
    _add(session, store, draft, "hukou_book", MINIMAL_PDF, name="户口本.pdf", max_per_kind=2)
    session.commit()
    assert _rows(session) == 3


def test_missing_materials_names_every_required_kind_not_uploaded_yet(session, draft, tmp_path):
    store = DiskFileStore(tmp_path)
    assert materials.missing_materials(session, draft) == [
        "身份证（夫妻双方）", "户口本", "结婚证", "再婚相关证明", "夫妻近期免冠合影", "生育情况证明"]
    _add(session, store, draft, "id_card", photo())
    _add(session, store, draft, "remarriage_proof", MINIMAL_PDF, name="离婚证.pdf")
    _add(session, store, draft, "birth_certificate", MINIMAL_PDF, name="出生证.pdf")  # optional here
    assert materials.missing_materials(session, draft) == ["户口本", "结婚证", "夫妻近期免冠合影", "生育情况证明"]


def test_a_submitted_application_keeps_its_materials(session, draft, tmp_path):
    store = DiskFileStore(tmp_path)
    material = _add(session, store, draft, "id_card", photo())
    draft.status = applications.SUBMITTED
    with pytest.raises(UploadRefused, match="已提交"):
        _add(session, store, draft, "hukou_book", photo())
    with pytest.raises(UploadRefused, match="已提交"):
        materials.remove_material(session, store, draft, material.token)
