"""流程管理 pages: hostile uploads refused with a clear report, the review page, activation, roles."""

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import AuditEventModel, ProcessDefinitionModel
from processes import casework
from processes.roles import POLICY_ADMIN, SYSTEM_ADMIN
from services import accounts
from tests.fixtures import csrf_token, dry_run_done, forget, sign_in

DIAGRAMS = Path(__file__).resolve().parents[1] / "diagrams"
SHIPPED = (casework.DIAGRAMS_DIR / "birth_registration.bpmn").read_text(encoding="utf-8")
MINIMAL = (Path(__file__).resolve().parents[1] / "engine" / "diagrams" / "minimal.bpmn").read_text(encoding="utf-8")
INDEX = "/admin/processes/"
# The shipped diagram as versions before inline forms were: each user task names a form key only.
WITHOUT_FORMS = re.sub(r"\s*<camunda:formData>.*?</camunda:formData>", "", SHIPPED, flags=re.DOTALL)


@pytest.fixture
def policy(session, app, client, deployed):  # noqa: ARG001 - the shipped diagrams are the current versions
    """A signed-in policy administrator's browser."""
    user = accounts.create_user(session, phone="13900000090", name="周流程", role=POLICY_ADMIN,
                                password="Test@12345", division_code=None)
    session.commit()
    sign_in(client, user)
    return client


def upload(client, content: bytes, name="diagram.bpmn"):
    """Upload a file through the page's form, with its CSRF token."""
    token = csrf_token(client.get(INDEX).text)
    return client.post(f"{INDEX}upload", data={"csrf_token": token, "diagram": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def with_script(script: str) -> bytes:
    return SHIPPED.replace("<bpmn:script>results = {}</bpmn:script>", f"<bpmn:script>{script}</bpmn:script>").encode()


HOSTILE = {
    "malformed": (b"<bpmn:definitions><unclosed>", "XML 格式错误"),
    "xxe": (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>', "DOCTYPE"),
    "billion_laughs": (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
                       b'<!ENTITY c "&b;&b;&b;&b;&b;&b;">]><l>&c;</l>', "DOCTYPE"),
    "script_import": (with_script("import os"), "「开始核实」(begin_verification)：脚本 不允许 import"),
    "unknown_role": (SHIPPED.replace('camunda:candidateGroups="township_staff"',
                                     'camunda:candidateGroups="mayor"').encode(), "未知角色 mayor"),
    "unknown_form": (WITHOUT_FORMS.replace('camunda:formKey="township_audit"', 'camunda:formKey="quick_yes"').encode(),
                     "「乡镇（街道）审核」(township_audit)：未知表单 quick_yes"),
    "unknown_operator": (SHIPPED.replace('camunda:topic="slip.render"', 'camunda:topic="fax.send"').encode(),
                         "「生成生育服务登记单」(render_slip)：未知操作 fax.send"),
    "gateway_without_default": (SHIPPED.replace(' default="flow_audit_result_to_render_slip"', "").encode(),
                                "「审核结果？」(audit_result)：网关既没有默认流，也没有为每条出口写条件"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_uploads_are_refused_with_a_report_and_nothing_stored(session, policy, kind):
    content, message = HOSTILE[kind]
    response = upload(policy, content)
    assert response.status_code == 422
    assert "未通过检查" in response.text
    assert message in response.text
    assert session.scalar(select(ProcessDefinitionModel.version).where(ProcessDefinitionModel.version > 1)) is None


def test_a_20_mb_upload_is_refused_with_a_clear_message(policy):
    # The body is built by hand: the test client would spool a multipart file of this size to a temporary file.
    token = csrf_token(policy.get(INDEX).text)
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="diagram"; filename="big.bpmn"\r\n\r\n'
            ).encode() + b"<x>" + b"a" * (20 * 1024 * 1024) + f"</x>\r\n--{boundary}--\r\n".encode()
    response = policy.post(f"{INDEX}upload", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    assert "文件过大：流程图文件上限为 2 MB" in response.text


def test_camunda_modeler_diagram_is_reviewed_then_activated(session, policy):
    response = upload(policy, (DIAGRAMS / "birth_registration_2021.bpmn").read_bytes())
    assert response.status_code == 302
    page = dry_run_done(policy, response.location)
    assert page.status_code == 200
    assert "待启用" in page.text
    assert "流程属性 caseTypes：first_child,second_child → first_child,second_child,third_child" in page.text
    assert "全部路径均正常结束" in page.text
    assert "<svg" in page.text
    activated = policy.post(response.location + "/activate", data={"csrf_token": csrf_token(page.text), "confirm": "1"})
    assert activated.status_code == 302
    session.expire_all()
    assert casework.offered_types(session)["third_child"] == "birth_registration"


def test_system_admin_reads_but_cannot_act_and_others_are_refused(session, client, browser_for, deployed):
    reader = accounts.create_user(session, phone="13900000091", name="吴系统", role=SYSTEM_ADMIN,
                                  password="Test@12345", division_code=None)
    session.commit()
    definition_id = deployed["birth_registration"].id
    sign_in(client, reader)
    page = client.get(INDEX)
    assert page.status_code == 200
    assert "上传新版本" not in page.text
    assert client.post(f"{INDEX}{definition_id}/retire", data={"csrf_token": csrf_token(page.text)}).status_code == 403

    assert browser_for("township").get(INDEX).status_code == 403


def test_retiring_the_only_version_shows_why(session, policy, deployed):
    definition_id = deployed["birth_registration"].id
    page = policy.get(f"{INDEX}{definition_id}")
    response = policy.post(f"{INDEX}{definition_id}/retire", data={"csrf_token": csrf_token(page.text), "confirm": "1"},
                           follow_redirects=True)
    assert "停用后将无人受理：一孩登记、二孩登记" in response.text
    session.expire_all()
    assert session.get(ProcessDefinitionModel, definition_id).active


def test_minimal_diagram_shows_its_steps_added_when_new(policy):
    response = upload(policy, MINIMAL.encode())
    page = policy.get(response.location)
    assert "「村（居）核实」(verify)" in page.text


def test_an_instance_page_shows_the_case_its_data_and_diagram_and_suspends_with_an_audit(session, policy, apply):
    case = apply()
    page = policy.get(f"/admin/processes/instances/{case.instance_id}")
    assert page.status_code == 200
    text = page.text
    assert case.case_number in text
    assert "流程数据" in text
    assert "same_village" in text, "the workflow's variables are shown"
    assert 'data-element="verify_hukou"' in text, "the diagram marks the waiting steps"
    suspended = policy.post(f"/admin/processes/instances/{case.instance_id}/suspend",
                            data={"csrf_token": csrf_token(text), "reason": "核查材料真实性"})
    assert suspended.status_code == 302
    forget(session)
    suspension = session.scalar(select(AuditEventModel).where(AuditEventModel.instance_id == case.instance_id,
                                                              AuditEventModel.kind == "suspended"))
    assert suspension.detail == {"reason": "核查材料真实性"}
    assert "已暂停" in policy.get(f"/admin/processes/instances/{case.instance_id}").text
