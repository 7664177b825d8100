"""Statistics agree at every level at every moment: cases submitted and decided through the app, no command run,
and the province, city, county and township pages show the same numbers (the province's and city's from the
tally once the tick has built it, before that counted live, never 0)."""

import re

import pytest

from processes import background
from processes.demo import TOWNSHIP
from processes.roles import PROVINCE_OFFICIAL
from services import accounts, statistics
from tests.fixtures import PASSWORD, decide, sign_in

LEVELS = ("11", "1101", "110101", TOWNSHIP)  # 北京市, 市辖区, 东城区, 东华门街道


@pytest.fixture
def official(session, client):
    """A province official of 北京市, signed in."""
    user = accounts.create_user(session, phone="13900000032", name="孙省厅", role=PROVINCE_OFFICIAL,
                                password=PASSWORD, division_code="11")
    session.commit()
    sign_in(client, user)
    return client


def _cards(page) -> dict[str, int]:
    """Return the numbers of the page's 已受理, 已登记 and 办理中 cards."""
    return {name: int(re.search(rf'id="{name}">(\d+)<', page.text).group(1))
            for name in ("total", "registered", "in-progress")}


def _every_level(client) -> tuple[dict[str, int], str]:
    """Read the cards at every level, check they agree, and return them with the province's source line."""
    pages = {code: client.get(f"/statistics/?division={code}") for code in LEVELS}
    assert all(page.status_code == 200 for page in pages.values())
    cards = {code: _cards(page) for code, page in pages.items()}
    assert all(found == cards["11"] for found in cards.values()), cards
    return cards["11"], pages["11"].text


def _decide_a_round(session, people, submit):
    """Submit four cases and take them to four different points: registered, refused, being corrected, approved."""
    registered = submit()
    for step, crew, decision in (("verify_hukou", people.hukou, "verified"),
                                 ("verify_residence", people.residence, "verified"),
                                 ("township_audit", people.township, "approved")):
        registered = decide(session, registered, step, crew, decision)
    refused = submit(same_village=True)
    refused = decide(session, refused, "verify_both", people.hukou, "verified")
    refused = decide(session, refused, "township_audit", people.township, "rejected", "材料不全")
    mismatched = decide(session, submit(), "verify_hukou", people.hukou, "mismatch", "户籍信息不符")
    mismatched = decide(session, mismatched, "verify_residence", people.residence, "verified")
    approved = submit(case_type="third_child")
    for step, crew, decision in (("verify_hukou", people.hukou, "verified"),
                                 ("township_review", people.township, "passed"),
                                 ("offline_confirmation", people.township, "approved")):
        approved = decide(session, approved, step, crew, decision)
    assert [case.status for case in (registered, refused, mismatched, approved)] == [
        "登记成功", "不予登记", "核实有误", "已批准"]


def test_after_submissions_and_decisions_every_level_agrees_without_a_command(session, people, submit, official):
    statistics.configure(3)
    _decide_a_round(session, people, submit)
    submit()  # and one just in
    cards, province = _every_level(official)
    assert cards == {"total": 5, "registered": 2, "in-progress": 2}  # 登记总数 no longer counts open cases
    assert "数据为实时数据" in province  # no tally yet: counted live, not 0
    assert "flask stats refresh" not in province

    background.tick()  # the schedule, not a person, builds the tally
    cards, province = _every_level(official)
    assert cards == {"total": 5, "registered": 2, "in-progress": 2}
    assert "汇总数据，随每次受理和办理即时更新" in province

    _decide_a_round(session, people, submit)  # followed case by case, between ticks
    cards, province = _every_level(official)
    assert cards == {"total": 9, "registered": 4, "in-progress": 3}
    assert "汇总数据，随每次受理和办理即时更新" in province
    summary = statistics.summarize(session, "11", statistics.Filters(), statistics.timing_for(session))
    assert not summary.live
    assert summary.by_status == statistics.summarize(session, TOWNSHIP, statistics.Filters(),
                                                     statistics.timing_for(session)).by_status
