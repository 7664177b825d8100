"""各环节填写的内容: the statistics export of what each step's form recorded, labelled by the forms themselves."""

import csv
import io

import openpyxl
import pytest
from sqlalchemy import select

from engine.models import AuditEventModel
from services import statistics
from tests.fixtures import decide, forget

URL = "/statistics/export/steps/fields"


def _sheets(response) -> dict[str, list[list]]:
    assert response.status_code == 200, response.text
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    return {name: [[cell.value for cell in row] for row in workbook[name].iter_rows()] for name in workbook.sheetnames}


@pytest.fixture
def decided(session, people, submit):
    """A case both villages verified (one with a note that looks like a spreadsheet formula), audited."""
    case = submit()
    case = decide(session, case, "verify_hukou", people.hukou, "verified", "=HYPERLINK(\"http://x\")")
    case = decide(session, case, "verify_residence", people.residence, "verified")
    case = decide(session, case, "township_audit", people.township, "approved")
    for staff in (people.county, people.hukou):  # loaded now: the requests below end the test's session
        assert staff.phone
        assert staff.role
    return case


def test_the_county_exports_every_step_with_its_form_labels_and_values_in_words(session, decided, browser_for):
    county = browser_for("county")
    assert f"{URL}.xlsx" in county.get("/statistics/").text, "the dashboard offers the export"
    sheets = _sheets(county.get(f"{URL}.xlsx"))
    assert list(sheets) == ["户籍地村（居）核实", "现居住地村（居）核实", "乡镇（街道）审核"]
    hukou = sheets["户籍地村（居）核实"]
    assert hukou[0][0].endswith("各环节填写的内容")
    assert hukou[1] == ["受理编号", "申请类型", "户籍地", "办理人", "办理时间", "办理结果", "意见或原因"]
    number, case_type, place, actor, _at, decision, reason = hukou[2]
    assert (number, case_type, actor, decision) == (decided.case_number, "一孩登记", "李多福", "情况属实")
    assert not place.isdigit(), "the hukou place by name"
    assert reason == "'=HYPERLINK(\"http://x\")", "text that looks like a formula stays text"
    assert sheets["乡镇（街道）审核"][2][5] == "通过"

    rows = list(csv.reader(io.StringIO(county.get(f"{URL}.csv").data.decode("utf-8-sig"))))
    assert rows[0] == ["环节", "受理编号", "申请类型", "户籍地", "办理人", "办理时间", "字段", "填写内容"]
    assert ["乡镇（街道）审核", decided.case_number, "一孩登记"] == rows[-1][:3]
    assert rows[-1][-2:] == ["办理结果", "通过"]
    forget(session)
    exports = session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "step_fields_exported")).all()
    assert [(e.detail["format"], e.detail["rows"]) for e in exports] == [("xlsx", 3), ("csv", 3)], "both audited"


def test_outside_the_readers_division_or_role_nothing_is_exported(decided, browser_for):  # noqa: ARG001
    county, village = browser_for("county"), browser_for("hukou")
    assert county.get(f"{URL}.xlsx?division=120101").status_code == 403
    assert village.get(f"{URL}.xlsx").status_code == 403
    assert county.get(f"{URL}.pdf").status_code == 404


def test_too_many_records_are_refused_with_a_chinese_message(decided, browser_for, monkeypatch):  # noqa: ARG001
    monkeypatch.setattr(statistics, "STEP_RECORDS_LIMIT", 2)
    refused = browser_for("county").get(f"{URL}.csv")
    assert refused.status_code == 400
    assert "请缩小月份范围" in refused.text
