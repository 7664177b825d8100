"""Stored versions load as they were deployed, and `flask processes check` lists what the code no longer names.

A restart after a code change is simulated by a vocabulary without a form key (or an SMS template) and an empty
parsed-definition cache: every stored version is parsed again from its XML, as on a fresh process. The shipped diagrams
carry their forms' fields, so only a version that names a built-in form key alone (as the 2021-style one does)
depends on the code's forms.
"""

from dataclasses import replace
from pathlib import Path

import pytest

from engine.errors import DiagramRejected
from engine.runtime import ServiceCall
from processes import casework
from processes.definitions_admin import DRY_RUN_STARTS
from processes.operators import OPERATOR_SCHEMAS, SMS_SEND, sms_send
from processes.runtime import RUNTIME
from processes.version_check import check_versions
from processes.vocabulary import START_DATA, VOCABULARY
from tests.fixtures import decide, forget, open_steps

KEY_ONLY_FORMS = (Path(__file__).resolve().parents[1] / "diagrams" / "birth_registration_2021.bpmn").read_bytes()


def restart_without(monkeypatch, form_key: str | None = None, template: str | None = None) -> None:
    """Restart the engine as if the code no longer had `form_key` or the SMS `template`."""
    forms = {key: decisions for key, decisions in VOCABULARY.forms.items() if key != form_key}
    allowed = SMS_SEND.parameters["template"].allowed
    sms = replace(SMS_SEND, parameters={**SMS_SEND.parameters, "template": replace(
        SMS_SEND.parameters["template"], allowed=tuple(t for t in allowed if t != template))})
    vocabulary = replace(VOCABULARY, forms=forms, operators={**OPERATOR_SCHEMAS, "sms.send": sms})
    monkeypatch.setattr(RUNTIME.definitions, "vocabulary", vocabulary)
    monkeypatch.setattr(RUNTIME.definitions, "_parsed", {})


@pytest.fixture
def runner(app):
    """Flask's CLI runner on the test app."""
    return app.test_cli_runner()


def test_a_running_case_still_loads_and_its_task_completes_after_its_form_key_left_the_code(
        session, people, submit, monkeypatch):
    case = submit("first_child", same_village=True)
    assert open_steps(session, case) == ["verify_both"]

    restart_without(monkeypatch, form_key="village_verification")
    forget(session)
    assert RUNTIME.element_states(session, case.instance_id)["verify_both"] == "active"
    assert RUNTIME.data(session, case.instance_id)["same_village"] is True
    case = decide(session, case, "verify_both", people.hukou, "verified")
    assert open_steps(session, case) == ["township_audit"]


def test_a_version_that_lost_a_form_key_cannot_be_deployed_again(session, deployed, monkeypatch):
    restart_without(monkeypatch, form_key="village_verification")
    with pytest.raises(DiagramRejected, match="未知表单 village_verification"):
        RUNTIME.definitions.check(session, KEY_ONLY_FORMS)
    shipped = casework.DIAGRAMS_DIR / "birth_registration.bpmn"
    RUNTIME.definitions.check(session, shipped.read_bytes())  # its forms are in the diagram, not in the code
    assert RUNTIME.definitions.parsed(session, deployed["birth_registration"].id,
                                      deployed["birth_registration"].sha256).diagram.process_id


def test_check_versions_lists_what_each_version_in_use_names_that_is_gone(session, deployed, submit, monkeypatch):
    RUNTIME.definitions.deploy(session, KEY_ONLY_FORMS, "policy")  # the newest active version: new cases start on it
    session.commit()
    submit("first_child", same_village=True)
    assert all(check.gaps == [] for check in check_versions(session))

    restart_without(monkeypatch, form_key="village_verification", template="review_failed")
    checks = {(c.definition.key, c.definition.version): c for c in check_versions(session)}
    shipped, birth, third = (checks["birth_registration", 1], checks["birth_registration", 2],
                             checks["third_child_approval", 1])
    assert (shipped.running, birth.running, third.running) == (0, 1, 0)
    assert shipped.gaps == [], "the shipped version's forms are in its diagram"
    assert any("(verify_both)：未知表单 village_verification" in gap for gap in birth.gaps), birth.gaps
    assert any("(notify_review_failed)：操作 sms.send 的参数 template 不能为 review_failed" in gap
               for gap in third.gaps), third.gaps
    assert birth.blocking
    assert not third.blocking, "no case runs on it"


def test_processes_check_names_the_affected_version_and_fails_when_cases_run_on_it(
        session, deployed, submit, runner, monkeypatch):
    RUNTIME.definitions.deploy(session, KEY_ONLY_FORMS, "policy")
    session.commit()
    submit("first_child", same_village=True)
    result = runner.invoke(args=["processes", "check"])
    assert result.exit_code == 0, result.output
    assert "birth_registration v2 运行中 1 个：无缺失" in result.output

    restart_without(monkeypatch, template="review_failed")
    result = runner.invoke(args=["processes", "check"])
    assert result.exit_code == 0, "the affected version has no running case"
    assert "third_child_approval v1 运行中 0 个：有缺失" in result.output
    assert "template 不能为 review_failed" in result.output

    restart_without(monkeypatch, form_key="village_verification")
    result = runner.invoke(args=["processes", "check"])
    assert result.exit_code != 0
    assert "birth_registration v2 运行中 1 个：有缺失" in result.output
    assert "「村（居）核实（户籍地与现居住地相同）」(verify_both)：未知表单 village_verification" in result.output


def test_an_sms_to_an_unknown_recipient_fails_instead_of_going_to_the_applicant():
    # A version stored before lint knew the recipients may still say to=county: its SMS must not reach the citizen.
    call = ServiceCall(None, 1, "birth_registration", "0001", "notify", "通知县里",  # type: ignore[arg-type]
                       {"template": "task_overdue", "to": "county"}, {})
    with pytest.raises(LookupError, match="未知短信接收方：county"):
        sms_send(call)


def test_lint_knows_the_data_every_case_starts_with():
    assert all(set(start) == set(START_DATA) for start in DRY_RUN_STARTS.values())
