"""What the citizen is told: a confirmation of each submission and correction, and how to go to 现场确认."""

import re

import pytest
from sqlalchemy import select

from services import cases, confirmation_visit, notifications
from services.accounts import UserModel
from tests.fixtures import csrf_token, decide, forget, open_task, sign_in
from tests.webapp.test_application import form_fields
from tests.webapp.test_submission import citizen, draft_with_answers, upload_all  # noqa: F401 - fixture

THIRD_CHILD = "third_child"


def _sent(session, case_number, template):
    forget(session)
    return list(session.scalars(select(notifications.SmsMessageModel).where(
        notifications.SmsMessageModel.case_number == case_number, notifications.SmsMessageModel.template == template)))


def _notices(page: str) -> str:
    found = re.search(r'<section class="card" id="notices">(.*?)</section>', page, re.S)
    assert found, "the case page has a 通知 section"
    return found.group(1)


def test_a_submission_is_confirmed_by_one_sms_with_its_number_shown_on_the_case_page(citizen, app, session,  # noqa: F811
                                                                                     people):
    _, token = draft_with_answers(citizen)
    upload_all(app, token)
    review = citizen.get(f"/apply/{token}/review")
    first = citizen.post(f"/apply/{token}/submit", data={"csrf_token": csrf_token(review.text)})
    again = citizen.post(f"/apply/{token}/submit", data={"csrf_token": csrf_token(review.text)})
    assert first.location == again.location
    case_number = first.location.rsplit("/", 1)[1]

    [message] = _sent(session, case_number, "application_submitted")
    assert message.phone == people.citizen.phone
    expected = f"您的一孩登记申请已提交，受理编号{case_number}，可登录系统在「我的申请」或「进度查询」中查询办理进度。"
    assert expected in message.text
    assert [t for t in notifications.delivered_to(people.citizen.phone) if case_number in t] == [message.text]
    assert expected in _notices(citizen.get(first.location).text)


def test_a_resubmitted_correction_is_confirmed_once_and_shown_on_the_case_page(citizen, apply, session,  # noqa: F811
                                                                              people):
    case = apply()
    decide(session, case, "verify_hukou", people.hukou, "mismatch", "户籍地址与户口簿不一致")
    decide(session, case, "verify_residence", people.residence, "verified")
    assert _sent(session, case.case_number, "correction_resubmitted") == []
    url = f"/my/cases/{case.case_number}/correct"
    correction = citizen.get(url)
    fields = {"csrf_token": csrf_token(correction.text), "action": "next",
              **form_fields(woman={"employer": "东城区另一公司"})}
    assert citizen.post(url, data=fields).location == f"/my/cases/{case.case_number}"
    assert citizen.post(url, data=fields).status_code == 302, "sent again: nothing left to correct"

    [message] = _sent(session, case.case_number, "correction_resubmitted")
    assert message.phone == people.citizen.phone
    assert f"您更正后的一孩登记申请已重新提交，受理编号{case.case_number}，将重新核实" in message.text
    assert len(_sent(session, case.case_number, "application_submitted")) == 1
    notices = _notices(citizen.get(f"/my/cases/{case.case_number}").text)
    assert notices.index("申请已提交") < notices.index("核实情况不符") < notices.index("已重新提交")


@pytest.fixture
def township_address():
    """An address and office hours entered for the demo township (东华门街道)."""
    confirmation_visit.configure({"CONFIRMATION_HOURS": "周一至周五 8:30—11:30、13:30—16:30",
                                  "CONFIRMATION_PLACES": {"110101001": "东城区东华门大街10号二层"}})
    yield
    confirmation_visit.configure({})


def test_the_on_site_confirmation_says_where_when_what_to_bring_and_that_the_date_is_an_appointment(
        client, session, people, submit, township_address):  # noqa: ARG001 - the address must be entered
    case = submit(case_type=THIRD_CHILD)
    decide(session, case, "verify_hukou", people.hukou, "verified")
    case = decide(session, case, "township_review", people.township, "passed")
    assert case.status == "待现场确认"
    number = case.case_number
    booked = open_task(session, case, "offline_confirmation").due_at.astimezone(confirmation_visit.CST).date()
    place = "北京市东城区东华门街道卫生健康办公室（东城区东华门大街10号二层）"

    [message] = _sent(session, number, "offline_confirmation")
    assert place in message.text
    assert "周一至周五 8:30—11:30、13:30—16:30" in message.text
    assert "身份证、户口簿、结婚证原件" in message.text
    assert "不是您的截止期限" in message.text

    sign_in(client, people.citizen)
    page = client.get(f"/my/cases/{number}").text
    visit = re.search(r'<div class="alert alert-info" id="visit">(.*?)</div>', page, re.S).group(1)
    assert f"<dt>预约日期</dt><dd>{booked.isoformat()}</dd>" in visit
    assert f"<dt>地点</dt><dd>{place}</dd>" in visit
    assert "<dt>办公时间</dt><dd>周一至周五 8:30—11:30、13:30—16:30</dd>" in visit
    assert "身份证、户口簿、结婚证原件" in visit
    assert "此日期是为您预约的现场确认日期，不是您的办理截止期限" in visit
    assert f"预约现场确认日期：{booked.isoformat()}（不是您的截止期限）" in page
    assert f"办理期限：{booked.isoformat()}" not in page, "the booking is not shown as a deadline"
    assert place in _notices(page)


def test_without_an_entered_address_the_visit_names_the_township_office_and_default_hours(client, session, people,
                                                                                          submit):
    case = submit(case_type=THIRD_CHILD)
    decide(session, case, "verify_hukou", people.hukou, "verified")
    case = decide(session, case, "township_review", people.township, "passed")
    number, township_id = case.case_number, people.township.id
    sign_in(client, people.citizen)
    page = client.get(f"/my/cases/{number}").text
    assert "<dt>地点</dt><dd>北京市东城区东华门街道卫生健康办公室</dd>" in page
    assert f"<dt>办公时间</dt><dd>{confirmation_visit.DEFAULT_HOURS}</dd>" in page
    township = session.get(UserModel, township_id)  # the page requests ended the session people were loaded in
    decide(session, cases.get_case(session, number), "offline_confirmation", township, "approved")
    assert 'id="visit"' not in client.get(f"/my/cases/{number}").text, "shown only while it is awaited"
    assert cases.get_case(session, number).status == "已批准"
