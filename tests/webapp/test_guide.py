"""办事指南 generated from the active process version: steps, handlers, time limits, materials, fees; a new
diagram version changes the guide without any edit."""

import re
from pathlib import Path

from processes import definitions_admin as admin
from processes import guide

DIAGRAMS = Path(__file__).resolve().parents[1] / "diagrams"
SHIPPED = Path(__file__).resolve().parents[2] / "bpmn_diagrams"
ADMIN = "user:policy"


def put_in_service(session, xml: bytes):
    """Upload a diagram for review and activate it, as the policy administrator does."""
    definition, _ = admin.upload(session, xml, ADMIN)
    admin.activate(session, definition)
    session.commit()
    return definition


def steps_of(html: str) -> list[str]:
    """Return the text of each numbered step of a guide page, tags and spacing removed."""
    listing = re.search(r'<ol class="guide-steps">(.*?)</ol>', html, re.S)
    assert listing, "the guide has no steps"
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
            for item in re.findall(r"<li[^>]*>(.*?)</li>", listing.group(1), re.S)]


def test_the_registration_guide_follows_the_diagram(client, deployed):  # noqa: ARG001
    page = client.get("/guide/first_child")
    assert page.status_code == 200
    steps = steps_of(page.text)
    assert steps[0] == "提交申请 办理人：申请人"
    assert steps[1] == "户籍地村（居）核实；现居住地村（居）核实 （同时办理） 办理人：村（居）工作人员 时限：3个工作日"
    assert steps[2] == "乡镇（街道）审核 办理人：乡镇（街道）工作人员 时限：2个工作日"
    assert steps[-1] == "登记成功"
    assert "生成生育服务登记单 办理人：系统自动办理" in steps
    assert "5个工作日（不含申请人更正材料的时间）" in page.text
    assert "不收费" in page.text
    occasional = re.search(r'<ul class="guide-occasional">(.*?)</ul>', page.text, re.S).group(1)
    assert "更正并重新提交" in occasional
    assert "村（居）核实（户籍地与现居住地相同）" in occasional


def test_the_materials_come_from_the_materials_rules(client, deployed):  # noqa: ARG001
    table = re.search(r'<table class="guide-materials">.*?</table>', client.get("/guide/second_child").text, re.S)
    rows = [re.sub(r"<[^>]+>", "|", row) for row in re.findall(r"<tr>(.*?)</tr>", table.group(0), re.S)]
    assert any("结婚证" in row and "必须提供" in row for row in rows)
    assert any("再婚相关证明" in row and "夫妻一方再婚的" in row for row in rows)
    assert any("出生医学证明" in row and "子女已出生后申请的" in row for row in rows)


def test_the_2021_policy_diagram_changes_the_third_child_guide_with_no_edit(session, client, deployed):  # noqa: ARG001
    before = client.get("/guide/third_child").text
    assert "三孩再生育审批" in before
    assert any(step.startswith("现场确认并决定") for step in steps_of(before))
    assert "7个工作日（不含" in before

    definition, _ = admin.upload(session, (DIAGRAMS / "birth_registration_2021.bpmn").read_bytes(), ADMIN)
    session.commit()
    assert client.get("/guide/third_child").text == before, "an uploaded version changes nothing until activated"

    definition = admin.get_definition(session, definition.id)  # the page's request ended the test's session
    admin.activate(session, definition)
    session.commit()
    after = client.get("/guide/third_child").text
    steps = steps_of(after)
    assert "现场确认并决定" not in after
    assert "乡镇（街道）审查" not in after
    assert steps[1].startswith("户籍地村（居）核实；现居住地村（居）核实")
    assert steps[2].startswith("乡镇（街道）审核")
    assert "5个工作日（不含" in after
    assert f"（第 {definition.version} 版）" in after


def test_a_new_time_limit_in_the_diagram_is_the_guide_s_new_limit(session, client, deployed):  # noqa: ARG001
    assert "时限：2个工作日" in steps_of(client.get("/guide/first_child").text)[2]
    xml = (SHIPPED / "birth_registration.bpmn").read_text()
    slower = xml.replace('name="2个工作日未审核"', 'name="4个工作日未审核"').replace(
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P2D</bpmn:timeDuration>',
        '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P4D</bpmn:timeDuration>')
    assert slower != xml
    put_in_service(session, slower.encode())
    page = client.get("/guide/first_child").text
    assert steps_of(page)[2] == "乡镇（街道）审核 办理人：乡镇（街道）工作人员 时限：4个工作日"
    assert "7个工作日（不含" in page


def test_a_type_nobody_takes_has_no_guide_and_an_unknown_type_no_page(session, client, deployed):
    deployed["third_child_approval"].active = False
    session.commit()
    assert guide.guide_for(session, "third_child") is None
    page = client.get("/guide/third_child")
    assert page.status_code == 200
    assert "目前暂不受理三孩审批的网上申请" in page.text
    assert "guide-steps" not in page.text
    assert client.get("/guide/fourth_child").status_code == 404


def test_the_guide_is_built_once_per_version(session, deployed, monkeypatch):  # noqa: ARG001
    first = guide.guide_for(session, "first_child")
    monkeypatch.setattr(guide, "build", lambda *args: (_ for _ in ()).throw(AssertionError("built again")))
    assert guide.guide_for(session, "first_child") is first
