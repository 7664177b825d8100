"""流程管理 lists in words: service tasks, incidents, events and instances name what happened, not keys and ids."""

import re

import pytest
from sqlalchemy import select, update

from engine.models import OutboxModel
from processes.demo import HUKOU_VILLAGE
from processes.roles import POLICY_ADMIN
from processes.runtime import RUNTIME
from services import accounts, notifications
from tests.fixtures import decide, sign_in


@pytest.fixture
def policy(session, people, client, deployed):  # noqa: ARG001 - cases need the shipped diagrams
    """A signed-in policy administrator's browser (the `people` work the cases)."""
    user = accounts.create_user(session, phone="13900000090", name="周流程", role=POLICY_ADMIN,
                                password="Test@12345", division_code=None)
    session.commit()
    sign_in(client, user)
    return client


def _rows(html: str, table_class: str) -> list[list[str]]:
    """Return the cells of a table's body rows as text, tags removed."""
    table = re.search(rf'<table class="tasks {table_class}">(.*?)</table>', html, re.DOTALL)
    assert table, f"no {table_class} table"
    return [[" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row,
                                                                                     re.DOTALL)]
            for row in re.findall(r"<tr>(.*?)</tr>", table.group(1).split("</thead>")[-1], re.DOTALL)]


def test_the_service_tasks_of_a_case_name_their_step_and_what_they_send(session, people, submit, policy):
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    decide(session, case, "township_audit", people.township, "approved")

    page = policy.get(f"/admin/processes/instances/{case.instance_id}").text
    rows = {row[0]: row for row in _rows(page, "outbox-list")}
    operator, status = rows["短信通知登记成功"][1:3]
    assert (operator, status) == ("发送短信 · 登记成功", "已完成")
    assert rows["生成生育服务登记单"][1] == "生成文书 · 生育服务登记单"
    assert "sms.send" not in " ".join(rows["短信通知登记成功"][:-1]), "the operator's key only behind 详情"
    assert "详情 编号" in rows["短信通知登记成功"][-1]


def test_a_failed_service_task_shows_as_an_incident_with_its_error(session, people, submit, policy, monkeypatch):
    def broken(_session, _phone, _text):
        raise ConnectionError("短信网关无响应")

    monkeypatch.setitem(notifications.PROVIDERS, "record", broken)
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    decide(session, case, "township_audit", people.township, "approved")
    row = session.scalar(select(OutboxModel).where(OutboxModel.bpmn_id == "notify_approved"))
    page = policy.get(f"/admin/processes/instances/{case.instance_id}").text
    (shown,) = [r for r in _rows(page, "outbox-list") if r[0] == "短信通知登记成功"]
    assert shown[2] == "重试中"
    assert "短信网关无响应" in shown[6]

    session.execute(update(OutboxModel).where(OutboxModel.id == row.id)
                    .values(attempts=RUNTIME.retry_policy.max_attempts, status="incident"))
    session.commit()
    page = policy.get(f"/admin/processes/instances/{case.instance_id}").text
    (shown,) = [r for r in _rows(page, "outbox-list") if r[0] == "短信通知登记成功"]
    assert shown[2] == "故障"
    assert '<span class="badge badge-bad">故障</span>' in page


def test_the_event_log_names_events_steps_and_people(session, people, submit, policy):
    case = submit(same_village=True)
    decide(session, case, "verify_both", people.hukou, "verified")
    page = policy.get(f"/admin/processes/instances/{case.instance_id}").text
    events = _rows(page, "events")
    done = [e for e in events if e[1] == "办理任务"]
    assert done, events
    assert done[0][2] == "村（居）核实（户籍地与现居住地相同）"
    assert done[0][3] == people.hukou.name
    assert not any(e[1] == "task_completed" or e[3].startswith("user:") for e in events)


def test_the_instance_list_shows_case_numbers_and_process_names_and_picks_divisions_by_name(submit, policy):
    case = submit()
    page = policy.get("/admin/processes/instances").text
    (row,) = _rows(page, "instances")
    assert row[0] == case.case_number
    assert row[1] == "生育登记（一孩、二孩）"
    assert row[-1] == "详情"
    assert 'name="division" value' not in page, "no box to type a code into"
    assert '<option value="11" >北京市</option>' in page
    assert '<option value="birth_registration" >生育登记（一孩、二孩）</option>' in page, "processes chosen by name"

    page = policy.get("/admin/processes/instances?division=110101001").text
    assert '<option value="110101001" selected>' in page
    assert f'<option value="{HUKOU_VILLAGE}" >' in page, "the villages of the chosen township are offered"
    assert [r[0] for r in _rows(page, "instances")] == [case.case_number]
    assert _rows(policy.get("/admin/processes/instances?division=110102").text, "instances") == [
        ["没有符合条件的案件"]]
