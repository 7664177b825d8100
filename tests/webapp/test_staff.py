"""The staff workbench through its pages: inboxes by role and jurisdiction, the task page, decisions."""

import re

from sqlalchemy import select

from engine.models import AuditEventModel
from services import accounts, cases
from services.documents import SlipModel
from tests.applications import MAN_ID, WOMAN_ID
from tests.fixtures import PASSWORD, csrf_token, decide, forget, open_task, refreshed, sms_templates


def _decide(client, task_id, decision, reason=""):
    page = client.get(f"/staff/tasks/{task_id}")
    assert page.status_code == 200, page.text
    return client.post(f"/staff/tasks/{task_id}", data={
        "csrf_token": csrf_token(page.text), "decision": decision, "reason": reason})


def _inbox_rows(client, view="todo"):
    page = client.get(f"/staff/?view={view}")
    assert page.status_code == 200
    return re.findall(r'href="/staff/tasks/(\d+)">([^<]+)</a>', page.text)


def _task_ids(session, case, *bpmn_ids):
    ids = [open_task(session, case, bpmn_id).id for bpmn_id in bpmn_ids]
    session.commit()
    return ids


def test_a_case_is_verified_twice_and_approved_through_the_workbench(session, submit, browser_for):
    case = submit()
    hukou_task, residence_task = _task_ids(session, case, "verify_hukou", "verify_residence")
    hukou, residence, other, township = (browser_for(n) for n in ("hukou", "residence", "other", "township"))

    assert _inbox_rows(hukou) == [(str(hukou_task), "户籍地村（居）核实")]
    assert _inbox_rows(residence) == [(str(residence_task), "现居住地村（居）核实")]
    assert _inbox_rows(other) == []
    assert _inbox_rows(township) == []
    assert other.get(f"/staff/tasks/{hukou_task}").status_code == 403

    page = hukou.get(f"/staff/tasks/{hukou_task}")
    assert case.case_number in page.text
    assert "138****0001" in page.text, "the phone is masked"
    assert "13800000001" not in page.text
    assert 'class="active" data-element="verify_hukou"' in page.text, "the diagram marks the current step"

    assert _decide(hukou, hukou_task, "verified").status_code == 302
    assert "已提交" in hukou.get("/staff/").text
    assert _inbox_rows(township) == [], "the audit waits for both villages"
    _decide(residence, residence_task, "verified")

    forget(session)
    (audit_task,) = _task_ids(session, case, "township_audit")
    assert _inbox_rows(township) == [(str(audit_task), "乡镇（街道）审核")]
    _decide(township, audit_task, "approved")

    assert refreshed(session, case).status == "登记成功"
    assert sms_templates(session, case) == ["audit_approved"]
    assert session.scalar(select(SlipModel).where(SlipModel.case_id == case.id)) is not None
    assert _inbox_rows(hukou, view="done") == [(str(hukou_task), "户籍地村（居）核实")]


def test_a_mismatch_needs_a_reason_and_nothing_is_recorded_without_it(session, submit, browser_for):
    case = submit()
    (task,) = _task_ids(session, case, "verify_hukou")
    hukou = browser_for("hukou")
    refused = _decide(hukou, task, "mismatch", "   ")
    assert refused.status_code == 200
    assert "选择「情况不符」时必须填写意见或原因" in refused.text
    assert _decide(hukou, task, "maybe").status_code == 200
    forget(session)
    assert cases.verifications(session, case) == []
    assert _decide(hukou, task, "mismatch", "户口簿地址与申报不一致").status_code == 302
    forget(session)
    assert [(v.decision, v.reason) for v in cases.verifications(session, case)] == [
        ("mismatch", "户口簿地址与申报不一致")]


def test_a_second_tab_gets_a_clear_already_done_message(session, submit, browser_for):
    case = submit(same_village=True)
    (task,) = _task_ids(session, case, "verify_both")
    hukou = browser_for("hukou")
    first_tab = hukou.get(f"/staff/tasks/{task}")
    second_tab = hukou.get(f"/staff/tasks/{task}")
    hukou.post(f"/staff/tasks/{task}", data={"csrf_token": csrf_token(first_tab.text), "decision": "verified"})
    again = hukou.post(f"/staff/tasks/{task}", data={"csrf_token": csrf_token(second_tab.text),
                                                     "decision": "verified"})
    assert again.status_code == 200
    assert "该任务已经办理完毕" in again.text


def test_a_task_claimed_by_a_colleague_cannot_be_decided(session, people, submit, browser_for):
    people.colleague = accounts.create_user(session, phone="13900000009", name="钱同事", role="village_staff",
                                            password=PASSWORD, division_code=people.hukou.division_code)
    case = submit()
    (task,) = _task_ids(session, case, "verify_hukou")
    mine, theirs = browser_for("hukou"), browser_for("colleague")
    page = mine.get(f"/staff/tasks/{task}")
    mine.post(f"/staff/tasks/{task}/claim", data={"csrf_token": csrf_token(page.text)})
    assert _inbox_rows(theirs) == [], "a claimed task leaves the others' 待办"
    page = theirs.get(f"/staff/tasks/{task}")
    assert "该任务已由其他工作人员认领" in page.text
    forced = theirs.post(f"/staff/tasks/{task}", data={"csrf_token": csrf_token(page.text), "decision": "verified"})
    assert "已由其他工作人员认领" in forced.text
    forget(session)
    assert cases.verifications(session, case) == []


def test_revealing_the_phone_is_audited(session, people, submit, browser_for):
    case = submit()
    (task,) = _task_ids(session, case, "verify_hukou")
    hukou = browser_for("hukou")
    page = hukou.get(f"/staff/tasks/{task}")
    shown = hukou.post(f"/staff/tasks/{task}/reveal", data={"csrf_token": csrf_token(page.text)})
    assert "13800000001" in shown.text
    forget(session)
    viewed = session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "pii_viewed")).all()
    assert [(e.element, e.actor) for e in viewed] == [("verify_hukou", people.hukou.actor)]


def test_citizens_and_strangers_are_kept_out(client, people, browser_for):
    assert client.get("/staff/").status_code == 302, "anonymous: to the sign-in page"
    assert browser_for("citizen").get("/staff/").status_code == 403
    assert browser_for("county").get("/staff/").text.count("/staff/tasks/") == 0


def test_comments_are_kept_on_the_case_and_shown_to_staff_only(session, submit, browser_for, client):
    case = submit()
    hukou_task, residence_task = _task_ids(session, case, "verify_hukou", "verify_residence")
    hukou, residence = browser_for("hukou"), browser_for("residence")
    page = hukou.get(f"/staff/tasks/{hukou_task}")
    empty = hukou.post(f"/staff/tasks/{hukou_task}/comments", data={"csrf_token": csrf_token(page.text), "body": " "})
    assert empty.status_code == 400
    assert "请填写意见" in empty.text
    saved = hukou.post(f"/staff/tasks/{hukou_task}/comments",
                       data={"csrf_token": csrf_token(page.text), "body": "户口本首页照片不清晰，已电话联系申请人"})
    assert saved.status_code == 302
    seen = residence.get(f"/staff/tasks/{residence_task}").text
    assert "户口本首页照片不清晰，已电话联系申请人" in seen, "the colleague on the other verification sees it"
    assert "李多福" in seen, "with its author"
    other = browser_for("other")
    assert other.post(f"/staff/tasks/{hukou_task}/comments", data={
        "csrf_token": csrf_token(other.get("/staff/").text), "body": "x"}).status_code == 403


def test_township_staff_reassign_within_their_jurisdiction(session, submit, browser_for, people):
    colleague = accounts.create_user(session, phone="13900000011", name="周街道", role="township_staff",
                                     password=PASSWORD, division_code=people.township.division_code)
    accounts.create_user(session, phone="13900000012", name="吴景山", role="township_staff", password=PASSWORD,
                         division_code="110101002")
    case = submit(same_village=True)
    (village_task,) = _task_ids(session, case, "verify_both")
    assert "转派给" not in browser_for("hukou").get(f"/staff/tasks/{village_task}").text, "village staff cannot"
    decide(session, case, "verify_both", people.hukou, "verified")
    (audit_task,) = _task_ids(session, case, "township_audit")
    township = browser_for("township")
    page = township.get(f"/staff/tasks/{audit_task}")
    assert "周街道" in page.text
    assert "吴景山" not in page.text, "a worker of another township may not act on it"
    assert "陈街道（110101001）" not in page.text, "not to oneself"
    moved = township.post(f"/staff/tasks/{audit_task}/reassign",
                          data={"csrf_token": csrf_token(page.text), "to_user": colleague.id})
    assert moved.status_code == 302
    forget(session)
    assert open_task(session, case, "township_audit").claimed_by == colleague.actor
    assert "已转派给周街道" in township.get("/staff/").text


def test_the_spouses_are_shown_masked_until_revealed_and_officials_read_them_masked(session, apply, browser_for):
    case = apply()
    (hukou_task,) = _task_ids(session, case, "verify_hukou")
    hukou = browser_for("hukou")
    page = hukou.get(f"/staff/tasks/{hukou_task}").text
    assert "女方：张丽" in page
    assert f"{WOMAN_ID[:6]}********{WOMAN_ID[-4:]}" in page
    assert WOMAN_ID not in page
    revealed = hukou.post(f"/staff/tasks/{hukou_task}/reveal", data={"csrf_token": csrf_token(page)})
    assert WOMAN_ID in revealed.text
    assert MAN_ID in revealed.text
    forget(session)
    assert session.scalar(select(AuditEventModel).where(AuditEventModel.kind == "pii_viewed")) is not None

    county = browser_for("county").get(f"/admin/cases/{case.case_number}").text
    assert "男方：刘强" in county
    assert MAN_ID not in county


def test_the_task_page_shows_the_claim_beside_the_verified_record_with_differences_marked(
        session, people, apply, browser_for):
    from tests.applications import answers
    from tests.identities import id_number

    first = decide(session, apply(), "verify_hukou", people.hukou, "verified")
    decide(session, first, "verify_residence", people.residence, "verified")
    # A second couple's case naming the same husband with another phone, and a wife whose address code is unknown.
    claimed = answers(woman_id=id_number("19950101", "2", area="320594"))
    claimed["man"]["phone"] = "13800000077"
    second = apply("first_child", claimed)
    task = _task_ids(session, second, "verify_hukou")[0]
    page = browser_for("hukou").get(f"/staff/tasks/{task}")
    assert page.status_code == 200
    row = re.search(r'<tr class="differs">\s*<th scope="row">联系电话</th>(.*?)</tr>', page.text, re.S)
    assert row, "the phone that differs from the verified record is marked"
    assert "<mark>138****0077</mark>" in row.group(1)
    assert "138****0001" in row.group(1), "the verified value stands beside it"
    assert "地址码 320594 不在现行或历史行政区划代码中" in page.text
