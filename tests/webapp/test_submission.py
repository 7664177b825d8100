"""Submission through the pages: materials first, one case per draft, corrections, the couple's second child."""

import re

import pytest
from sqlalchemy import func, select, update

from services import applications, cases, materials
from services.accounts import UserModel
from services.db import db
from services.filestore import DiskFileStore
from services.uploads import UploadLimits
from tests.applications import MAN_ID, WOMAN_ID
from tests.fixtures import csrf_token, decide, forget, open_task, post_form, sign_in
from tests.samples import photo
from tests.webapp.test_application import form_fields, new_draft, post_application

REQUIRED = ("id_card", "hukou_book", "marriage_certificate", "couple_photo")


@pytest.fixture
def citizen(client, people, deployed):  # noqa: ARG001 - the diagrams must be deployed
    sign_in(client, people.citizen)
    post_form(client, "/apply", "/apply", {"read": "y"})
    return client


def draft_with_answers(client, case_type="first_child", children=()):
    url = new_draft(client, case_type)
    assert post_application(client, url, form_fields(children=children)).status_code == 302
    return url, url.rsplit("/", 1)[1]


def upload_all(app, token, kinds=REQUIRED):
    with app.app_context():
        application = db.session.scalar(select(applications.ApplicationModel)
                                        .where(applications.ApplicationModel.token == token))
        for kind in kinds:
            materials.add_material(db.session, DiskFileStore(app.config["UPLOAD_DIR"]), application, kind, photo(),
                                   f"{kind}.jpg", limits=UploadLimits(), max_per_kind=5)
        db.session.commit()


def submit(client, token):
    review = client.get(f"/apply/{token}/review")
    assert review.status_code == 200
    return client.post(f"/apply/{token}/submit", data={"csrf_token": csrf_token(review.text)})


def test_materials_are_required_before_submission(citizen, app):
    _, token = draft_with_answers(citizen)
    review = citizen.get(f"/apply/{token}/review").text
    assert "还需上传：身份证（夫妻双方）、户口本、结婚证、夫妻近期免冠合影" in review
    refused = submit(citizen, token)
    assert refused.location == f"/apply/{token}/review"
    assert db.session.scalar(select(func.count()).select_from(cases.CaseModel)) == 0
    upload_all(app, token)
    assert "还需上传" not in citizen.get(f"/apply/{token}/review").text


def test_a_double_click_makes_one_case(citizen, app):
    _, token = draft_with_answers(citizen)
    upload_all(app, token)
    review = citizen.get(f"/apply/{token}/review")
    first = citizen.post(f"/apply/{token}/submit", data={"csrf_token": csrf_token(review.text)})
    again = citizen.post(f"/apply/{token}/submit", data={"csrf_token": csrf_token(review.text)})
    assert first.location == again.location
    assert first.location.startswith("/my/cases/")
    assert db.session.scalar(select(func.count()).select_from(cases.CaseModel)) == 1
    page = citizen.get(first.location).text
    assert "办理中" in page
    assert "村（居）正在核实您的申请" in page
    assert "正在办理：户籍地村（居）核实" in page


def test_another_citizens_case_is_not_found(citizen, apply, session):
    case = apply()
    other = UserModel(phone="13800000002", name="王芳", role="citizen", password_hash="x")
    session.add(other)
    session.commit()
    assert citizen.get(f"/my/cases/{case.case_number}").status_code == 200
    session.execute(update(cases.CaseModel).values(applicant_id=other.id))
    session.commit()
    assert citizen.get(f"/my/cases/{case.case_number}").status_code == 404
    assert citizen.get(f"/my/cases/{case.case_number}/correct").status_code == 404
    assert citizen.get(f"/slips/{case.case_number}.pdf").status_code == 404


def test_a_mismatch_is_corrected_with_the_reason_shown(citizen, apply, session, people):
    case = apply()
    decide(session, case, "verify_hukou", people.hukou, "mismatch", "户籍地址与户口簿不一致")
    decide(session, case, "verify_residence", people.residence, "verified")
    forget(session)
    page = citizen.get(f"/my/cases/{case.case_number}").text
    assert "核实有误" in page
    assert "原因：户籍地址与户口簿不一致" in page
    correction = citizen.get(f"/my/cases/{case.case_number}/correct")
    assert "户籍地址与户口簿不一致" in correction.text
    assert f'value="{WOMAN_ID}"' in correction.text, "the form opens with what was submitted"
    assert "更正说明" in correction.text, "the correction task's own form, as the diagram defines it"
    sent = citizen.post(f"/my/cases/{case.case_number}/correct", data={
        "csrf_token": csrf_token(correction.text), "action": "next", "task-reason": "工作单位已更正",
        **form_fields(woman={"employer": "东城区另一公司"})})
    assert sent.location == f"/my/cases/{case.case_number}", re.findall(r'field-error">([^<]*)', sent.text)
    forget(session)
    assert open_task(session, cases.get_case(session, case.case_number), "verify_hukou") is not None
    assert cases.verifications(session, case)[-1].reason == "工作单位已更正"
    assert "更正已提交，将重新核实" in citizen.get(sent.location).text


def test_the_second_child_application_knows_the_couple(citizen, apply, session, people):
    first = apply()
    for step, worker in (("verify_hukou", people.hukou), ("verify_residence", people.residence)):
        first = decide(session, first, step, worker, "verified")
    decide(session, first, "township_audit", people.township, "approved")
    session.execute(update(UserModel).where(UserModel.id == people.citizen.id).values(id_number=WOMAN_ID))
    session.commit()

    again = citizen.get(new_draft(citizen, "first_child")).text
    assert f'value="{MAN_ID}"' in again, "the spouse's details come prefilled"
    assert f"一孩登记（受理编号 {first.case_number}，登记成功）" in again, "the registration is known"
    refused = post_application(citizen, new_draft(citizen, "first_child"), form_fields())
    assert (f"系统中已有该夫妻的一孩登记（受理编号 {first.case_number}，登记成功），本次不能再申请一孩登记"
            in refused.text)

    second_child = {"name": "刘小明", "sex": "1", "birth_date": "2025-06-01", "document_number": "O110123456",
                    "relation": "both"}
    url = new_draft(citizen, "second_child")
    assert post_application(citizen, url, form_fields(children=[second_child])).location.endswith("/materials")
