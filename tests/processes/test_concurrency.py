"""Two village offices completing the parallel verifications at the same instant, on PostgreSQL and on SQLite."""

import threading

from sqlalchemy import func, select

from engine.models import HumanTaskModel, ProcessInstanceModel
from processes import casework
from services import cases
from services.accounts import UserModel
from services.db import db
from tests.fixtures import forget, open_task

ROUNDS = 50


def _decide_together(guids_and_users) -> list[BaseException]:
    barrier = threading.Barrier(len(guids_and_users))
    errors: list[BaseException] = []

    def work(guid, user_id):
        with db.factory() as session:
            try:
                user = session.get(UserModel, user_id)
                session.commit()  # ends the read; the user stays loaded (expire_on_commit=False)
                barrier.wait(timeout=10)
                casework.decide(session, guid, user, "verified")
                session.commit()
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                session.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=work, args=pair) for pair in guids_and_users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_simultaneous_village_verifications_lose_nothing_and_join_once(session, people, submit):
    for round_number in range(ROUNDS):
        case = submit()
        pairs = [(open_task(session, case, "verify_hukou").task_guid, people.hukou.id),
                 (open_task(session, case, "verify_residence").task_guid, people.residence.id)]
        version_before = session.get(ProcessInstanceModel, case.instance_id).version_id
        forget(session)
        assert _decide_together(pairs) == [], f"round {round_number}"

        forget(session)
        audits = session.scalar(select(func.count()).select_from(HumanTaskModel).where(
            HumanTaskModel.business_key == case.case_number, HumanTaskModel.bpmn_id == "township_audit"))
        assert audits == 1, f"round {round_number}: township audit appeared {audits} times"
        assert sorted(v.step for v in cases.verifications(session, case)) == ["verify_hukou", "verify_residence"]
        instance = session.get(ProcessInstanceModel, case.instance_id)
        # each completion wrote the instance row once, in turn: neither overwrote the other
        assert instance.version_id == version_before + 2, f"round {round_number}"
        assert instance.status == "running"
