"""The applicant's 撤回申请 on the case page: who may, when, after a confirmation, once; the inboxes and statistics."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.db import utcnow
from engine.models import AuditEventModel, HumanTaskModel
from processes.roles import CITIZEN
from services import accounts, statistics
from tests.fixtures import PASSWORD, csrf_token, decide, refreshed, sign_in

CONFIRMED = {"confirm": "1"}


def _case_url(case):
    return f"/my/cases/{case.case_number}"


def _withdraw_url(case):
    return f"/my/cases/{case.case_number}/withdraw"


def _ask(browser, case):
    """Press 撤回申请 on the case page; return the confirmation page."""
    page = browser.get(_case_url(case))
    assert "撤回申请" in page.text
    return browser.post(_withdraw_url(case), data={"csrf_token": csrf_token(page.text)})


def _confirm(browser, case):
    asked = _ask(browser, case)
    return browser.post(_withdraw_url(case), data={"csrf_token": csrf_token(asked.text), **CONFIRMED})


@pytest.fixture
def stranger(session, people):  # noqa: ARG001 - the other accounts must exist first
    """Another citizen, with no case of her own."""
    user = accounts.create_user(session, phone="13800000099", name="钱芳", role=CITIZEN, password=PASSWORD)
    session.commit()
    return user


# -- attacks first -------------------------------------------------------------------------------------------------

def test_another_citizens_case_is_not_found(session, submit, client, stranger):
    case = submit()
    sign_in(client, stranger)
    token = csrf_token(client.get("/my").text)
    for data in ({"csrf_token": token}, {"csrf_token": token, **CONFIRMED}):
        assert client.post(_withdraw_url(case), data=data).status_code == 404
    assert client.get(_case_url(case)).status_code == 404
    assert refreshed(session, case).status == "办理中"


@pytest.mark.parametrize("who", ["hukou", "township", "county"])
def test_a_staff_account_is_refused(session, submit, browser_for, who):
    case = submit()
    staff = browser_for(who)
    token = csrf_token(staff.get("/staff/").text)  # a valid token: the refusal is for who they are
    response = staff.post(_withdraw_url(case), data={"csrf_token": token, **CONFIRMED})
    assert response.status_code == 403
    assert refreshed(session, case).status == "办理中"


def test_a_post_without_the_csrf_token_is_refused(session, submit, browser_for):
    case = submit()
    citizen = browser_for("citizen")
    response = citizen.post(_withdraw_url(case), data=CONFIRMED)
    assert response.status_code == 400
    assert refreshed(session, case).status == "办理中"


def test_after_the_township_decided_the_button_is_gone_and_a_post_is_refused_in_chinese(session, people, submit,
                                                                                         browser_for):
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    decide(session, case, "township_audit", people.township, "approved")
    citizen = browser_for("citizen")
    page = citizen.get(_case_url(case))
    assert 'action="/my/cases/' + case.case_number + '/withdraw"' not in page.text
    response = citizen.post(_withdraw_url(case), data={"csrf_token": csrf_token(citizen.get("/my").text),
                                                       **CONFIRMED}, follow_redirects=True)
    assert "该申请已办结（登记成功），不能撤回" in response.text
    assert refreshed(session, case).status == "登记成功"


def test_while_the_case_awaits_correction_no_withdrawal_is_offered(session, people, submit, browser_for):
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "mismatch", "户口簿信息不符")
    page = browser_for("citizen").get(_case_url(case))
    assert "更正申请" in page.text
    assert f'action="{_withdraw_url(case)}"' not in page.text


def test_a_double_click_withdraws_once(session, submit, browser_for):
    case = submit()
    citizen = browser_for("citizen")
    asked = _ask(citizen, case)
    data = {"csrf_token": csrf_token(asked.text), **CONFIRMED}
    first = citizen.post(_withdraw_url(case), data=data, follow_redirects=True)
    second = citizen.post(_withdraw_url(case), data=data, follow_redirects=True)
    assert "申请已撤回" in first.text
    assert "该申请已撤回，无需重复操作" in second.text
    messages = [e for e in _audit_kinds(session, case) if e == "message"]
    assert messages == ["message"]


def _audit_kinds(session, case):
    return list(session.scalars(select(AuditEventModel.kind).where(AuditEventModel.instance_id == case.instance_id)
                                .order_by(AuditEventModel.id)))


# -- the applicant's way -------------------------------------------------------------------------------------------

def test_the_first_post_only_asks_and_says_what_will_happen(session, submit, browser_for):
    case = submit()
    asked = _ask(browser_for("citizen"), case)
    assert asked.status_code == 200
    assert "请确认：撤回申请" in asked.text
    assert "不再办理" in asked.text
    assert "可以重新提交申请" in asked.text
    assert refreshed(session, case).status == "办理中", "nothing happens before the confirmation"


def test_a_confirmed_withdrawal_ends_the_case_and_empties_the_inboxes(session, people, submit, browser_for):
    case = submit()
    village = browser_for("hukou")
    assert case.case_number in village.get("/staff/").text
    citizen = browser_for("citizen")
    done = _confirm(citizen, case)
    assert done.status_code == 302
    page = citizen.get(done.location)
    assert "已撤回" in page.text
    assert "您已撤回申请" in page.text
    assert f'action="{_withdraw_url(case)}"' not in page.text
    assert refreshed(session, case).status == "已撤回"
    open_rows = session.scalars(select(HumanTaskModel).where(HumanTaskModel.business_key == case.case_number,
                                                             HumanTaskModel.status == "open")).all()
    assert open_rows == []
    assert case.case_number not in village.get("/staff/").text
    assert "已撤回" in citizen.get("/my").text


def test_statistics_count_a_withdrawn_case_as_withdrawn_not_in_progress(session, people, submit, browser_for):
    withdrawn, running = submit(), submit()
    _confirm(browser_for("citizen"), withdrawn)
    timing = statistics.timing_for(session, now=utcnow() + timedelta(days=30))
    summary = statistics.summarize(session, people.county.division_code, statistics.Filters(), timing)
    assert summary.by_status["已撤回"] == 1
    assert summary.in_progress == 1, "only the running case is 办理中"
    assert summary.registered == 0
    assert summary.processing["overdue"] == 1, "a month later the running case is overdue, the withdrawn one is not"
    assert running.case_number != withdrawn.case_number
