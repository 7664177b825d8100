"""Submitting an application twice, one click after the other or both at once, makes one case and shows it to both."""

import threading
import time

import pytest
from sqlalchemy import func, select, text

from services import applications, cases
from services.db import db
from tests.fixtures import csrf_token, sign_in
from tests.webapp.test_submission import draft_with_answers, upload_all

ALREADY = "已提交，无需重复提交"


@pytest.fixture
def ready(client, people, deployed, app):  # noqa: ARG001 - the diagrams must be deployed
    """A citizen signed in, with a complete draft and every material uploaded; returns the draft's token."""
    sign_in(client, people.citizen)
    client.post("/apply", data={"csrf_token": csrf_token(client.get("/apply").text), "read": "y"})
    _, token = draft_with_answers(client)
    upload_all(app, token)
    return token


def _submit(client, csrf, token):
    return client.post(f"/apply/{token}/submit", data={"csrf_token": csrf})


def test_a_second_click_after_the_first_landed_shows_the_case_with_a_notice(client, ready):
    csrf = csrf_token(client.get(f"/apply/{ready}/review").text)
    first = _submit(client, csrf, ready)
    again = _submit(client, csrf, ready)
    assert first.location.startswith("/my/cases/")
    assert again.location == first.location
    page = client.get(again.location).text
    assert ALREADY in page
    assert "请勿重复申请" not in page
    assert db.session.scalar(select(func.count()).select_from(cases.CaseModel)) == 1


def _waiting_for_locks(session, count: int, timeout: float = 20.0) -> None:
    ends_at = time.monotonic() + timeout
    while time.monotonic() < ends_at:
        waiting = session.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                       "AND datname = current_database()")).scalar()
        if waiting >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} submissions never waited for the draft's lock")


@pytest.mark.postgres
def test_two_simultaneous_submissions_make_one_case_and_both_land_on_it(browser_for, ready, session):
    # Two browsers of the same citizen: two sign-ins, two sessions, the same draft.
    clients = [browser_for("citizen"), browser_for("citizen")]
    csrfs = [csrf_token(browser.get(f"/apply/{ready}/review").text) for browser in clients]
    responses: list = [None, None]

    def click(index):
        responses[index] = _submit(clients[index], csrfs[index], ready)

    # Hold the draft locked while both requests arrive, so that both are under way before either may proceed.
    with db.engine.connect() as holder:
        holder.execute(select(applications.ApplicationModel.id).where(applications.ApplicationModel.token == ready)
                       .with_for_update())
        threads = [threading.Thread(target=click, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        _waiting_for_locks(session, 2)
        holder.rollback()
    for thread in threads:
        thread.join(timeout=60)

    locations = {response.location for response in responses}
    assert len(locations) == 1, [(r.status_code, r.location) for r in responses]
    location = locations.pop()
    assert location.startswith("/my/cases/")
    pages = [browser.get(location).text for browser in clients]
    assert sum(ALREADY in page for page in pages) == 1, "the later click is told the case exists already"
    assert sum("申请已提交，受理编号 " in page for page in pages) == 1, "the first click is told it submitted"
    session.rollback()
    assert session.scalar(select(func.count()).select_from(cases.CaseModel)) == 1
