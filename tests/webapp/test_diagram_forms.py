"""A new step with new fields, made by a diagram alone: two versions of the registration diagram are uploaded
through the process admin pages, and cases run through their forms on the workbench and through the API."""

import io
import re
import subprocess
from datetime import date, datetime
from pathlib import Path

import jsonschema
import openpyxl
import pytest

from processes import casework
from processes.casework import CaseworkError
from processes.overview import all_tasks
from processes.runtime import RUNTIME
from services import cases
from tests.fixtures import csrf_token, decide, dry_run_done, forget, open_task, refreshed
from tests.webapp.test_api import api  # noqa: F401 - the API client fixture
from tests.webapp.test_process_admin_pages import policy, upload  # noqa: F401 - the policy admin's browser

ROOT = Path(__file__).resolve().parents[2]
DIAGRAMS = ROOT / "tests" / "diagrams"
SPOT_CHECK = DIAGRAMS / "birth_registration_spot_check.bpmn"
VILLAGE_METHOD = DIAGRAMS / "birth_registration_village_method.bpmn"
NEW_FIELDS = ("spot_method", "spot_date", "spot_opinion", "spot_result", "spot_reason", "verify_method",
              "visit_date")
SERVER_PREFIX = "/api/v1"


def deploy_through_the_upload_page(policy, path: Path) -> None:  # noqa: F811 - the fixture's value
    """Upload a version, wait for its review (lint, diff, dry run) and activate it."""
    response = upload(policy, path.read_bytes(), path.name)
    assert response.status_code == 302, response.text
    page = dry_run_done(policy, response.location)
    report = page.text.split('class="card dry-run', 1)[-1][:1500]
    assert "全部路径均正常结束" in report, report
    activated = policy.post(response.location + "/activate", data={"csrf_token": csrf_token(page.text), "confirm": "1"})
    assert activated.status_code == 302


def test_no_python_file_outside_the_tests_names_the_new_fields():
    sources = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    named = {(name, field) for name in sources if not name.startswith("tests/")
             for field in NEW_FIELDS if re.search(rf"\b{field}\b", (ROOT / name).read_text(encoding="utf-8"))}
    assert named == set(), "the new steps' fields are data of the diagram, not code"


def test_a_county_spot_check_added_by_diagram_records_its_fields_through_the_api(
        session, policy, api, submit, people, browser_for):  # noqa: F811 - fixtures
    deploy_through_the_upload_page(policy, SPOT_CHECK)
    case = submit()
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    case = decide(session, case, "verify_residence", people.residence, "verified")
    case = decide(session, case, "township_audit", people.township, "approved")
    task = open_task(session, case, "county_spot_check")
    county = api("county")
    detail = county.get(f"{SERVER_PREFIX}/tasks/{task.id}").get_json()
    form = detail["form"]
    assert [(f["name"], f["label"], f["type"]) for f in form["fields"]] == [
        ("spot_method", "抽查方式", "enum"), ("spot_date", "抽查日期", "date"), ("spot_opinion", "抽查意见", "string"),
        ("spot_result", "抽查结果", "enum"), ("spot_reason", "不合格原因", "string")]
    assert form["fields"][4]["show_if"] == {"field": "spot_result", "operator": "==", "value": "fail"}
    body = {"spot_method": "onsite", "spot_date": "2026-03-02", "spot_opinion": "查看了户口簿原件",
            "spot_result": "fail", "spot_reason": None}
    schema = jsonschema.Draft202012Validator(form["payload_schema"])
    assert not schema.is_valid(body), "the generated schema wants a reason for a failed check"
    url = f"{SERVER_PREFIX}/tasks/{task.id}/complete"
    refused = county.post(url, json_body=body)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {"spot_reason": "此项为必填项"}
    body["spot_reason"] = "户口簿与申报的户籍地不一致"
    schema.validate(body)
    done = county.post(url, json_body=body)
    assert done.status_code == 200, done.text
    assert done.get_json()["message"] == f"已提交：县级抽查「抽查不合格」（受理编号 {case.case_number}）"
    forget(session)
    case = refreshed(session, case)
    assert case.status == "不予登记", "the diagram's gateway tested the new field and ended the case"

    summary = api("township").get(f"{SERVER_PREFIX}/tasks/{open_or_done(session, case, 'township_audit')}")
    summary = summary.get_json()["case"]
    assert summary["decisions"][-1]["decision_label"] == "抽查不合格"
    assert summary["decisions"][-1]["reason"] == "户口簿与申报的户籍地不一致"
    spot = next(r for r in summary["results"] if r["step"] == "county_spot_check")
    assert [(f["label"], f["display"]) for f in spot["fields"]] == [
        ("抽查方式", "实地抽查"), ("抽查日期", "2026-03-02"), ("抽查意见", "查看了户口簿原件"),
        ("抽查结果", "抽查不合格"), ("不合格原因", "户口簿与申报的户籍地不一致")]
    admin_page = policy.get(f"/admin/processes/instances/{case.instance_id}").text
    assert "<dt>抽查方式</dt><dd>实地抽查</dd>" in admin_page, "the process admin reads labelled fields, not JSON"

    sheet = exported_step_sheet(browser_for("county"), "县级抽查")
    assert sheet[1][5:] == ["抽查方式", "抽查日期", "抽查意见", "抽查结果", "不合格原因"], "headed by the form's labels"
    (row,) = [r for r in sheet[2:] if r[0] == case.case_number]
    assert row[3] == "孙区县", "the actor by name"
    assert row[5:] == ["实地抽查", date(2026, 3, 2), "查看了户口簿原件", "抽查不合格", "户口簿与申报的户籍地不一致"]


def exported_step_sheet(official, step_name: str) -> list[list]:
    """Download 各环节填写的内容 as XLSX, as the statistics page offers it, and return one step's sheet as values."""
    response = official.get("/statistics/export/steps/fields.xlsx")
    assert response.status_code == 200, response.text
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    assert step_name in workbook.sheetnames, workbook.sheetnames
    return [[cell.value.date() if isinstance(cell.value, datetime) and cell.number_format == "yyyy-mm-dd"
             else cell.value for cell in row] for row in workbook[step_name].iter_rows()]


def open_or_done(session, case, bpmn_id: str) -> int:
    """Return the id of the (last) task `bpmn_id` of a case, open or completed."""
    return [t.id for t in all_tasks(session, case) if t.bpmn_id == bpmn_id][-1]


def test_a_village_verification_records_its_method_and_visit_date_on_the_workbench(
        session, policy, submit, browser_for, people):  # noqa: F811 - fixtures
    deploy_through_the_upload_page(policy, VILLAGE_METHOD)
    case = submit()
    task = open_task(session, case, "verify_hukou")
    hukou = browser_for("hukou")
    page = hukou.get(f"/staff/tasks/{task.id}")
    assert "核实方式" in page.text
    assert 'data-show-field="verify_method" data-show-operator="==" data-show-value="home"' in page.text
    assert page.text.index("核实方式") < page.text.index("申请信息"), "the form comes before the case facts"
    posted = {"csrf_token": csrf_token(page.text), "verify_method": "home", "visit_date": "", "decision": "verified"}
    refused = hukou.post(f"/staff/tasks/{task.id}", data=posted)
    assert refused.status_code == 200
    assert "此项为必填项" in refused.text.split("入户日期", 1)[1].split("</div>", 1)[0], "the message is on the date"
    posted["visit_date"] = "2026-03-01"
    assert hukou.post(f"/staff/tasks/{task.id}", data=posted).status_code == 302
    forget(session)
    other = open_task(session, refreshed(session, case), "verify_residence")
    page = browser_for("residence").get(f"/staff/tasks/{other.id}").text
    recorded = page.split("各环节填写的内容", 1)[1]
    expected = "<dt>核实方式</dt><dd>入户</dd><dt>入户日期</dt><dd>2026-03-01</dd><dt>核实结果</dt><dd>情况属实</dd>"
    assert expected in recorded, recorded[:600]

    county = browser_for("county")
    sheet = exported_step_sheet(county, "户籍地村（居）核实")
    (row,) = [r for r in sheet[2:] if r[0] == case.case_number]
    recorded = dict(zip(sheet[1][5:], row[5:], strict=True))
    assert (recorded["核实方式"], recorded["入户日期"], recorded["核实结果"]) == ("入户", date(2026, 3, 1), "情况属实")
    csv_text = county.get("/statistics/export/steps/fields.csv").data.decode("utf-8-sig")
    lines = [line for line in csv_text.splitlines() if case.case_number in line]
    assert any(line.endswith(",核实方式,入户") for line in lines), lines
    assert any(line.endswith(",入户日期,2026-03-01") for line in lines), lines


def test_a_version_that_names_form_keys_only_still_runs_on_the_built_in_forms(session, submit, people):
    shipped = (ROOT / "bpmn_diagrams" / "birth_registration.bpmn").read_text(encoding="utf-8")
    keys_only = re.sub(r"\s*<camunda:formData>.*?</camunda:formData>", "", shipped, flags=re.DOTALL)
    assert "formData" not in keys_only
    definition, _ = RUNTIME.definitions.deploy(session, keys_only.encode(), "test")
    session.commit()
    case = submit()
    assert case.instance.definition_id == definition.id
    task = open_task(session, case, "verify_hukou")
    with pytest.raises(CaseworkError, match="选择「情况不符」时必须填写意见或原因"):
        casework.decide(session, task.task_guid, people.hukou, "mismatch")
    session.rollback()
    case = decide(session, case, "verify_hukou", people.hukou, "verified")
    assert [(v.step, v.decision) for v in cases.verifications(session, case)] == [("verify_hukou", "verified")]
