"""The materials step through its pages: several files per pick, 下一步 refused with the list of what is missing,
only the relevant kinds offered, and a review without empty parentheses."""

import re
from io import BytesIO

import pytest

from processes import applying
from processes.roles import CITIZEN
from services import accounts, applications, materials
from tests.applications import answers
from tests.fixtures import csrf_token, post_form, sign_in
from tests.samples import NOT_AN_IMAGE, photo, png

BASIC = ("id_card", "hukou_book", "marriage_certificate", "couple_photo")


@pytest.fixture
def applicant(session):
    """A citizen with a draft of a first marriage, before the birth, no children: four materials required."""
    user = accounts.create_user(session, phone="13800000019", name="周敏", role=CITIZEN, password="Test@12345")
    application = applications.start(session, user.id, "first_child")
    application.answers = {"woman": {"marital_status": "21"}, "man": {"marital_status": "21"}, "after_birth": False,
                           "children": []}
    session.commit()
    return user, application


def _page(client, application):
    return client.get(f"/apply/{application.token}/materials")


def _post_files(client, application, kind, files, **headers):
    page = _page(client, application)
    return client.post(f"/apply/{application.token}/materials", headers=headers, content_type="multipart/form-data",
                       data={"csrf_token": csrf_token(page.text), "kind": kind,
                             "file": [(BytesIO(data), name) for name, data in files]})


def _next(client, application):
    url = f"/apply/{application.token}/materials"
    return post_form(client, url, f"{url}/next", {})


def test_next_without_the_required_materials_is_refused_with_their_list(session, client, applicant):
    user, application = applicant
    sign_in(client, user)
    _post_files(client, application, "id_card", [("a.jpg", photo())])

    response = _next(client, application)
    assert response.status_code == 422
    refusal = response.text.split('id="next-refused"', 1)[1].split("</div>", 1)[0]
    assert "暂不能进入下一步" in refusal
    assert re.findall(r"<li>([^<]+)</li>", refusal) == ["户口本", "结婚证", "夫妻近期免冠合影"]

    for kind in BASIC[1:]:
        _post_files(client, application, kind, [("b.png", png())])
    response = _next(client, application)
    assert response.status_code == 302
    assert response.location.endswith(f"/apply/{application.token}/review")


def test_next_needs_its_csrf_token(client, applicant):
    user, application = applicant
    sign_in(client, user)
    assert client.post(f"/apply/{application.token}/materials/next").status_code == 400


def test_several_files_chosen_at_once_are_all_kept(session, client, applicant):
    user, application = applicant
    sign_in(client, user)
    response = _post_files(client, application, "id_card", [("正面.jpg", photo()), ("反面.jpg", photo())])
    assert response.status_code == 302
    assert "已上传：身份证（夫妻双方）（2 个文件）" in client.get(response.location).text
    assert [m.original_name for m in materials.of_application(session, application)] == ["正面.jpg", "反面.jpg"]


def test_a_refused_file_among_several_is_named_and_the_others_are_kept(session, client, applicant):
    user, application = applicant
    sign_in(client, user)
    response = _post_files(client, application, "id_card", [("正面.jpg", photo()), ("坏.jpg", NOT_AN_IMAGE)])
    assert response.status_code == 200
    section = response.text.split('id="kind-id_card"', 1)[1].split("</section>", 1)[0]
    assert "坏.jpg：无法识别的文件格式" in section
    assert "正面.jpg" in section
    session.rollback()
    assert [m.original_name for m in materials.of_application(session, application)] == ["正面.jpg"]


def test_the_pages_script_gets_the_new_item_the_count_and_what_is_missing(session, client, applicant):
    user, application = applicant
    sign_in(client, user)
    response = _post_files(client, application, "hukou_book", [("户口本.jpg", photo())], Accept="application/json")
    assert response.status_code == 200
    body = response.get_json()
    assert body["count"] == 1
    assert body["missing"] == ["身份证（夫妻双方）", "结婚证", "夫妻近期免冠合影"]
    (item,) = body["items"]
    assert "户口本.jpg" in item
    assert "删除" in item

    refused = _post_files(client, application, "couple_photo", [("x.jpg", NOT_AN_IMAGE)], Accept="application/json")
    assert refused.status_code == 422
    assert "无法识别的文件格式" in refused.get_json()["error"]
    session.rollback()
    assert len(materials.of_application(session, application)) == 1


def test_the_page_marks_what_is_required_and_offers_only_relevant_kinds(session, client, applicant):
    user, application = applicant
    sign_in(client, user)
    page = _page(client, application).text
    assert page.count('<span class="tag tag-required">必传</span>') == 4 + 1  # four cards and the explanation
    assert "再婚相关证明" not in page
    assert "出生医学证明" not in page
    assert 'accept="image/*,application/pdf"' in page
    assert 'capture="environment"' in page
    assert re.search(r'<input[^>]*id="file-id_card"[^>]*multiple', page)

    draft = applications.of_applicant(session, user.id, application.token)
    draft.answers = {**draft.answers, "woman": {"marital_status": "22"}, "children": [{"name": "刘小一"}]}
    session.commit()
    page = _page(client, application).text
    remarriage = page.split('id="kind-remarriage_proof"', 1)[1].split("</h2>", 1)[0]
    assert "必传" in remarriage
    birth = page.split('id="kind-birth_certificate"', 1)[1].split("</h2>", 1)[0]
    assert "选填" in birth


def test_the_review_shows_no_empty_parentheses(session, client, applicant):
    user, application = applicant
    filled = answers()
    filled["woman"].update(employer="个体", employer_phone="无")
    filled["man"].update(employer="无", employer_phone="无")
    application.answers = applying.stored(filled)
    session.commit()
    sign_in(client, user)
    page = client.get(f"/apply/{application.token}/review").text
    assert "（无）" not in page
    assert "个体" in page
    assert "010-12345678" not in page


def test_the_application_form_marks_its_required_fields(session, client, applicant):
    user, application = applicant
    sign_in(client, user)
    page = client.get(f"/apply/{application.token}").text
    assert re.search(r'<input[^>]*name="woman-name"[^>]*required', page)
    assert "application.css" in page
    assert "为必填项" in page
