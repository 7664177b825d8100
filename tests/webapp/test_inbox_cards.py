"""The workbench inbox as a clerk reads it: one card per task, 已办 with when and what, divisions chosen by name."""

import re
from datetime import timedelta

from sqlalchemy import select, update

from engine.db import utcnow
from engine.models import HumanTaskModel
from processes.demo import HUKOU_VILLAGE, RESIDENCE_VILLAGE, TOWNSHIP
from processes.roles import VILLAGE_STAFF
from services import accounts
from tests.fixtures import PASSWORD, csrf_token, decide, open_task
from webapp.filters import china_time


def _cards(html: str) -> list[str]:
    """Return the text of each task card of an inbox page, tags removed and spaces collapsed."""
    return [" ".join(re.sub(r"<[^>]+>", " ", card).split())
            for card in re.findall(r'<li class="task-card[^"]*">(.*?)</li>', html, re.DOTALL)]


def _filter(client, **fields):
    """Submit the inbox filter form as a browser does and return the page it leads to."""
    page = client.get("/staff/")
    return client.post("/staff/search", data={"csrf_token": csrf_token(page.text), "view": "todo", **fields},
                       follow_redirects=True)


def test_a_card_shows_the_case_the_spouses_the_type_the_task_the_deadline_and_the_claim(session, submit,
                                                                                       browser_for):
    first, second = submit(), submit("second_child")
    late, today = open_task(session, first, "verify_hukou"), open_task(session, second, "verify_hukou")
    session.execute(update(HumanTaskModel).where(HumanTaskModel.id == late.id)
                    .values(due_at=utcnow() - timedelta(days=1)))
    session.execute(update(HumanTaskModel).where(HumanTaskModel.id == today.id)
                    .values(due_at=utcnow() + timedelta(minutes=1)))
    session.commit()
    hukou = browser_for("hukou")

    overdue_card, today_card = _cards(hukou.get("/staff/").text)
    assert first.case_number in overdue_card
    assert "女方 张丽 男方 刘强" in overdue_card
    assert "一孩登记" in overdue_card
    assert "户籍地村（居）核实" in overdue_card
    assert "已超期" in overdue_card
    assert "今日到期" not in overdue_card
    assert "尚未认领" in overdue_card
    assert second.case_number in today_card
    assert "二孩登记" in today_card
    assert "今日到期" in today_card
    assert "已超期" not in today_card


def test_an_overdue_card_names_the_colleague_who_claimed_it(session, people, submit, browser_for):
    case = submit()
    colleague = accounts.create_user(session, phone="13900000009", name="周同村", role=VILLAGE_STAFF,
                                     password=PASSWORD, division_code=HUKOU_VILLAGE)
    task = open_task(session, case, "verify_hukou")
    session.execute(update(HumanTaskModel).where(HumanTaskModel.id == task.id)
                    .values(claimed_by=colleague.actor, due_at=utcnow() - timedelta(hours=1)))
    session.commit()
    hukou = browser_for("hukou")
    assert _cards(hukou.get("/staff/").text) == [], "待办 leaves out what a colleague claimed"
    (card,) = _cards(hukou.get("/staff/?view=overdue").text)
    assert "认领人 周同村" in card
    assert "已超期" in card


def test_done_shows_when_it_was_done_and_the_decision_not_the_claim_or_deadline(session, people, submit,
                                                                                browser_for):
    case = submit()
    decide(session, case, "verify_hukou", people.hukou, "verified")
    task = session.scalar(select(HumanTaskModel).where(HumanTaskModel.business_key == case.case_number,
                                                       HumanTaskModel.bpmn_id == "verify_hukou"))

    (card,) = _cards(browser_for("hukou").get("/staff/?view=done").text)
    assert case.case_number in card
    assert f"{china_time(task.completed_at)} 办结 · 情况属实" in card
    assert "我已认领" not in card
    assert "期限" not in card


def test_done_shows_a_mismatch_as_such(session, people, submit, browser_for):
    case = submit()
    decide(session, case, "verify_residence", people.residence, "mismatch", "现居住地址不符")
    (card,) = _cards(browser_for("residence").get("/staff/?view=done").text)
    assert "办结 · 情况不符" in card


def test_township_staff_pick_a_village_by_name_and_never_type_a_code(session, submit, browser_for):
    submit()
    township = browser_for("township")
    page = township.get("/staff/").text
    assert 'name="division" value' not in page, "no box to type a code into"
    options = {name: code for code, name in re.findall(r'<option value="(\d{12})"[^>]*>([^<]+)</option>', page)}
    assert options["多福巷社区居委会"] == HUKOU_VILLAGE
    assert options["银闸社区居委会"] == RESIDENCE_VILLAGE
    assert "全部（东华门街道）" in page


def test_the_chosen_village_filters_the_inbox_and_stays_selected(session, submit, browser_for):
    case = submit()
    hukou_task = open_task(session, case, "verify_hukou")
    session.execute(update(HumanTaskModel).where(HumanTaskModel.id == hukou_task.id)
                    .values(role="township_staff"))
    residence_task = open_task(session, case, "verify_residence")
    session.execute(update(HumanTaskModel).where(HumanTaskModel.id == residence_task.id)
                    .values(role="township_staff"))
    session.commit()
    township = browser_for("township")
    assert len(_cards(township.get("/staff/").text)) == 2

    page = _filter(township, division=RESIDENCE_VILLAGE).text
    (card,) = _cards(page)
    assert "现居住地村（居）核实" in card
    assert f'<option value="{RESIDENCE_VILLAGE}" selected>银闸社区居委会</option>' in page


def test_county_officials_cascade_from_township_to_village(browser_for):
    county = browser_for("county")
    page = county.get("/staff/").text
    townships = {name: code for code, name in re.findall(r'<option value="(\d{9})"[^>]*>([^<]+)</option>', page)}
    assert townships["东华门街道"] == TOWNSHIP
    assert not re.search(r'<option value="\d{12}"', page), "villages appear once a township is chosen"

    page = county.get(f"/staff/?division={TOWNSHIP}").text
    assert f'<option value="{TOWNSHIP}" selected>东华门街道</option>' in page
    assert f'<option value="{HUKOU_VILLAGE}" >东华门街道多福巷社区居委会</option>' in page


def test_a_division_outside_the_jurisdiction_is_refused(session, submit, browser_for):
    submit()
    hukou = browser_for("hukou")
    refused = _filter(hukou, division=RESIDENCE_VILLAGE)
    assert f"区划 {RESIDENCE_VILLAGE} 不在您的辖区内，无法查看" in refused.text
    assert len(_cards(refused.text)) == 1, "the inbox is shown unfiltered, with the clerk's own task"
    by_url = hukou.get(f"/staff/?division={RESIDENCE_VILLAGE}")
    assert by_url.status_code == 200
    assert "不在您的辖区内" in by_url.text
    assert f'value="{RESIDENCE_VILLAGE}"' not in by_url.text, "a foreign division is never offered"
