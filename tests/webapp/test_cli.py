"""The `flask` command group: init, processes, cases, divisions, holidays and tick, run through Flask's CLI runner."""

import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from engine.calendar import HolidayModel
from engine.models import ProcessDefinitionModel, ProcessInstanceModel
from processes import casework
from processes.demo import DEMO_USERS, TOWNSHIP
from services import accounts, cases, divisions
from services.db import db

SHIPPED = ("birth_registration", "third_child_approval")

HOSTILE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="hostile_definitions" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="hostile_process" name="恶意流程" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="flow_1" sourceRef="start" targetRef="steal" />
    <bpmn:scriptTask id="steal" name="读取环境" scriptFormat="python">
      <bpmn:script>import os
secrets = dict(os.environ)</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="flow_2" sourceRef="steal" targetRef="approve" />
    <bpmn:userTask id="approve" name="黑客审批" camunda:formKey="township_audit" camunda:candidateGroups="hacker" />
    <bpmn:sequenceFlow id="flow_3" sourceRef="approve" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""

DIVISION_HEADER = "code,name,streetCode,provinceCode,cityCode,areaCode"
NEW_VILLAGE = "110101001999"


@pytest.fixture
def runner(app):
    """Flask's CLI runner on the test app."""
    return app.test_cli_runner()


def invoke(runner, *args):
    """Run `flask <args>` and return the result (exit code and combined output)."""
    return runner.invoke(args=list(args))


def _definitions(app, key=None):
    with app.app_context():
        query = select(ProcessDefinitionModel.key, ProcessDefinitionModel.version).order_by(
            ProcessDefinitionModel.key, ProcessDefinitionModel.version)
        if key:
            query = query.where(ProcessDefinitionModel.key == key)
        return [tuple(row) for row in db.session.execute(query)]


def _case_numbers(app):
    with app.app_context():
        return list(db.session.scalars(select(cases.CaseModel.case_number).order_by(cases.CaseModel.id)))


def test_init_deploys_the_shipped_diagrams_once(app, runner):
    result = invoke(runner, "init")
    assert result.exit_code == 0, result.output
    for key in SHIPPED:
        assert f"已部署 {key} v1" in result.output
    assert _definitions(app) == [(key, 1) for key in SHIPPED]

    again = invoke(runner, "init")
    assert again.exit_code == 0, again.output
    for key in SHIPPED:
        assert f"未变化 {key} v1" in again.output
    assert "已部署" not in again.output
    assert _definitions(app) == [(key, 1) for key in SHIPPED], "an unchanged diagram makes no new version"


def test_init_demo_loads_the_demo_accounts_and_three_cases(app, runner):
    result = invoke(runner, "init", "--demo")
    assert result.exit_code == 0, result.output
    assert "演示数据已载入" in result.output
    with app.app_context():
        for phone, name, role, division in DEMO_USERS:
            user = accounts.find_by_phone(db.session, phone)
            assert user is not None, phone
            assert (user.name, user.role, user.division_code) == (name, role, division)
        all_cases = db.session.scalars(select(cases.CaseModel).order_by(cases.CaseModel.id)).all()
        assert [(c.case_type, c.status) for c in all_cases] == [
            ("first_child", "登记成功"), ("second_child", "办理中"), ("first_child", "办理中")]
        assert [c.woman_name for c in all_cases] == ["张丽", "张丽", "王芳"]
        assert all_cases[1].parity == 2, "the second application knows the registered first child"
        for case in all_cases:
            assert case.case_number in result.output


def test_cases_show_prints_the_status_and_open_tasks(app, runner):
    assert invoke(runner, "init", "--demo").exit_code == 0
    _registered, waiting, audited = _case_numbers(app)

    result = invoke(runner, "cases", "show", waiting)
    assert result.exit_code == 0, result.output
    assert f"受理编号 {waiting}" in result.output
    assert "状态：办理中" in result.output
    assert "二孩登记" in result.output
    tasks = result.output.split("待办任务：")[1].split("办理结果：")[0]
    assert "户籍地村（居）核实" in tasks
    assert "现居住地村（居）核实" in tasks
    assert "流程 birth_registration v1" in result.output

    result = invoke(runner, "cases", "show", audited)
    assert result.exit_code == 0, result.output
    tasks = result.output.split("待办任务：")[1].split("办理结果：")[0]
    assert "乡镇（街道）审核" in tasks
    results = result.output.split("办理结果：")[1].split("服务任务：")[0]
    assert "村（居）核实（户籍地与现居住地相同）：情况属实（李多福）" in results, "the decision in words, by whom"
    assert "北京市东城区东华门街道多福巷社区居委会" in result.output, "places are named, not only coded"


def test_cases_show_of_an_unknown_number_fails_with_a_message(runner):
    result = invoke(runner, "cases", "show", "000")
    assert result.exit_code != 0
    assert "没有受理编号为 000 的案件" in result.output


def test_deploying_an_unchanged_diagram_makes_no_new_version(app, runner):
    assert invoke(runner, "init").exit_code == 0
    result = invoke(runner, "processes", "deploy", str(casework.DIAGRAMS_DIR / "birth_registration.bpmn"))
    assert result.exit_code == 0, result.output
    assert "未变化 birth_registration v1 (birth_registration.bpmn)" in result.output
    assert _definitions(app, "birth_registration") == [("birth_registration", 1)]


def test_deploying_a_hostile_diagram_is_refused_listing_each_problem_by_element(app, runner, tmp_path):
    hostile = tmp_path / "hostile.bpmn"
    hostile.write_text(HOSTILE_BPMN, encoding="utf-8")
    result = invoke(runner, "processes", "deploy", str(hostile))
    assert result.exit_code != 0
    assert "hostile.bpmn" in result.output
    assert "流程图未通过检查" in result.output
    assert "「读取环境」(steal)：脚本 不允许 import" in result.output
    assert "「黑客审批」(approve)：未知角色 hacker" in result.output
    assert _definitions(app, "hostile_process") == [], "nothing is stored"


def test_a_rejected_file_in_a_batch_stores_none_of_the_batch(app, runner, tmp_path):
    hostile = tmp_path / "hostile.bpmn"
    hostile.write_text(HOSTILE_BPMN, encoding="utf-8")
    result = invoke(runner, "processes", "deploy", str(casework.DIAGRAMS_DIR / "birth_registration.bpmn"), str(hostile))
    assert result.exit_code != 0
    assert _definitions(app) == []


def test_processes_list_shows_versions_state_and_running_cases(runner):
    assert invoke(runner, "init", "--demo").exit_code == 0
    result = invoke(runner, "processes", "list")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert set(rows) == set(SHIPPED)
    assert re.match(r"birth_registration\s+流程\s+v1\s+启用\s+运行中\s+2\s", rows["birth_registration"])
    assert re.match(r"third_child_approval\s+流程\s+v1\s+启用\s+运行中\s+0\s", rows["third_child_approval"])
    assert rows["birth_registration"].rstrip().endswith("生育登记（一孩、二孩）")
    assert rows["third_child_approval"].rstrip().endswith("三孩再生育审批")


def test_divisions_import_adds_a_village(app, runner, tmp_path):
    villages = tmp_path / "villages.csv"
    villages.write_text(f"{DIVISION_HEADER}\n{NEW_VILLAGE},测试社区居委会,{TOWNSHIP},11,1101,110101\n",
                        encoding="utf-8")
    try:
        result = invoke(runner, "divisions", "import", str(villages))
        assert result.exit_code == 0, result.output
        assert "villages.csv: 1 条" in result.output
        with app.app_context():
            village = divisions.get_division(db.session, NEW_VILLAGE)
            assert village is not None
            assert (village.name, village.level, village.parent_code) == ("测试社区居委会", 5, TOWNSHIP)
            assert divisions.full_name(db.session, NEW_VILLAGE) == "北京市东城区东华门街道测试社区居委会"
    finally:
        with app.app_context():
            db.session.execute(delete(divisions.DivisionModel).where(divisions.DivisionModel.code == NEW_VILLAGE))
            db.session.commit()


def test_a_bad_division_file_names_the_line_and_writes_nothing(app, runner, tmp_path):
    villages = tmp_path / "villages.csv"
    villages.write_text(
        f"{DIVISION_HEADER}\n{NEW_VILLAGE},测试社区居委会,{TOWNSHIP},11,1101,110101\n"
        f"11010100199,缺一位社区居委会,{TOWNSHIP},11,1101,110101\n",
        encoding="utf-8",
    )
    try:
        with app.app_context():
            before = db.session.scalar(select(func.count()).select_from(divisions.DivisionModel))
        result = invoke(runner, "divisions", "import", str(villages))
        assert result.exit_code != 0
        assert "villages.csv 第 3 行" in result.output
        assert "11010100199" in result.output
        assert "12 位数字" in result.output
        with app.app_context():
            assert divisions.get_division(db.session, NEW_VILLAGE) is None, "the good first row is not written either"
            assert db.session.scalar(select(func.count()).select_from(divisions.DivisionModel)) == before
    finally:
        with app.app_context():
            db.session.execute(delete(divisions.DivisionModel).where(divisions.DivisionModel.code == NEW_VILLAGE))
            db.session.commit()


def test_holidays_import_loads_a_small_file(app, runner, tmp_path):
    days = [date(2099, 1, 1), date(2099, 1, 3)]
    holidays_file = tmp_path / "holidays.csv"
    holidays_file.write_text("date,is_workday,name\n2099-01-01,0,元旦\n2099-01-03,1,元旦调休上班\n", encoding="utf-8")
    try:
        result = invoke(runner, "holidays", "import", str(holidays_file))
        assert result.exit_code == 0, result.output
        assert "2 条" in result.output
        with app.app_context():
            stored = db.session.scalars(select(HolidayModel).where(HolidayModel.day.in_(days))
                                        .order_by(HolidayModel.day)).all()
            assert [(h.day, h.is_workday, h.name) for h in stored] == [
                (date(2099, 1, 1), False, "元旦"), (date(2099, 1, 3), True, "元旦调休上班")]
    finally:
        with app.app_context():
            db.session.execute(delete(HolidayModel).where(HolidayModel.day.in_(days)))
            db.session.commit()


def test_a_bad_holidays_file_names_the_line_and_writes_nothing(app, runner, tmp_path):
    holidays_file = tmp_path / "holidays.csv"
    holidays_file.write_text("date,is_workday,name\n2099-01-01,0,元旦\n2099-02-30,0,不存在的日子\n", encoding="utf-8")
    try:
        result = invoke(runner, "holidays", "import", str(holidays_file))
        assert result.exit_code != 0
        assert "第 3 行" in result.output
        assert "2099-02-30" in result.output
        with app.app_context():
            assert db.session.get(HolidayModel, date(2099, 1, 1)) is None
    finally:
        with app.app_context():
            db.session.execute(delete(HolidayModel).where(HolidayModel.day == date(2099, 1, 1)))
            db.session.commit()


def test_tick_prints_what_it_did(app, runner):
    assert invoke(runner, "init", "--demo").exit_code == 0
    result = invoke(runner, "tick")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "{'timers': 0, 'outbox': 0}"
    with app.app_context():
        running = db.session.scalar(select(func.count()).select_from(ProcessInstanceModel)
                                    .where(ProcessInstanceModel.status == "running"))
    assert running == 2, "nothing was due, so nothing moved"


def test_processes_validate_diff_dry_run_activate_retire(app, runner):
    assert invoke(runner, "init").exit_code == 0
    policy = str(Path(__file__).resolve().parents[1] / "diagrams" / "birth_registration_2021.bpmn")
    bad = Path(app.instance_path) / "bad.bpmn"
    bad.write_text("<bpmn:definitions", encoding="utf-8")
    refused = invoke(runner, "processes", "validate", str(bad))
    assert refused.exit_code == 1
    assert "XML 格式错误" in refused.output
    assert "检查通过：birth_registration" in invoke(runner, "processes", "validate", policy).output
    assert "流程属性 caseTypes" in invoke(runner, "processes", "diff", policy).output
    dry = invoke(runner, "processes", "dry-run", policy)
    assert dry.exit_code == 0
    assert "⇒ 登记成功" in dry.output
    assert invoke(runner, "processes", "deploy", policy).exit_code == 0
    retired = invoke(runner, "processes", "retire", "birth_registration", "2")
    assert "已停用 birth_registration v2" in retired.output
    assert "停用后将无人受理" in invoke(runner, "processes", "retire", "birth_registration", "1").output
    assert "已启用 birth_registration v2" in invoke(runner, "processes", "activate", "birth_registration", "2").output
    assert "可迁移 0 个" in invoke(runner, "processes", "migrate", "birth_registration", "1", "2").output
