"""The server-drawn diagram: every element drawn, states marked, untrusted text escaped, faithful to the DI."""

import re
from pathlib import Path

import pytest
from lxml import etree

from engine.drawing.text import text_width, wrap
from engine.svg import render_svg

DIAGRAMS = Path(__file__).resolve().parents[2] / "bpmn_diagrams"
DRAWING = Path(__file__).resolve().parent / "diagrams" / "drawing"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SVG = "{http://www.w3.org/2000/svg}"


def _svg(xml: bytes, states=None) -> etree._Element:
    return etree.fromstring(render_svg(xml, states).encode())


def _groups(svg: etree._Element) -> dict[str, etree._Element]:
    return {g.get("data-element"): g for g in svg.iter(f"{SVG}g") if g.get("data-element") is not None}


@pytest.mark.parametrize("name", ["birth_registration", "third_child_approval"])
def test_every_flow_node_and_flow_is_drawn(name):
    xml = (DIAGRAMS / f"{name}.bpmn").read_bytes()
    svg = _svg(xml)
    process = etree.fromstring(xml).find(f"{BPMN}process")
    not_nodes = {f"{BPMN}sequenceFlow", f"{BPMN}laneSet", f"{BPMN}documentation"}
    nodes = {e.get("id") for e in process if e.tag not in not_nodes and e.get("id")}
    drawn = set(_groups(svg))
    assert nodes <= drawn
    flows = process.findall(f"{BPMN}sequenceFlow")
    assert len(svg.findall(f".//{SVG}polyline")) == len(flows)
    assert {f.get("id") for f in flows} <= drawn
    assert "户籍地村（居）核实" in "".join(svg.itertext())


def test_states_mark_elements_and_repaint_their_outline():
    xml = (DIAGRAMS / "birth_registration.bpmn").read_bytes()
    groups = _groups(_svg(xml, {"verify_hukou": "active", "submitted": "completed", "render_slip": "failed"}))
    assert groups["verify_hukou"].get("class") == "active"
    assert groups["submitted"].get("class") == "completed"
    assert groups["render_slip"].get("class") == "failed"
    assert groups["township_audit"].get("class") == ""
    outline = {key: next(e for e in groups[key] if e.tag not in {f"{SVG}title", f"{SVG}desc"})
               for key in ("verify_hukou", "submitted", "render_slip", "township_audit")}
    assert (outline["verify_hukou"].get("stroke"), outline["verify_hukou"].get("stroke-width")) == ("#e65100", "3")
    assert (outline["submitted"].get("fill"), outline["submitted"].get("stroke")) == ("#e8f5e9", "#2e7d32")
    assert outline["render_slip"].get("stroke") == "#c62828"
    assert outline["township_audit"].get("stroke") == "#333"


def test_names_are_escaped():
    hostile = b'name="&lt;script&gt;alert(1)&lt;/script&gt;"'  # the XML of the name <script>alert(1)</script>
    xml = (DIAGRAMS / "birth_registration.bpmn").read_bytes().replace('name="乡镇（街道）审核"'.encode(), hostile, 1)
    svg = render_svg(xml)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    etree.fromstring(svg.encode())  # still well-formed


def test_an_id_with_a_quote_cannot_add_an_attribute_to_the_page():
    hostile = 'verify_hukou" onmouseover="alert(document.cookie)'
    xml = (DIAGRAMS / "birth_registration.bpmn").read_bytes().replace(
        b'"verify_hukou"', b'"verify_hukou&quot; onmouseover=&quot;alert(document.cookie)"')
    svg = _svg(xml)
    assert not [a for e in svg.iter() for a in e.attrib if a.lower().startswith("on")]
    assert hostile in _groups(svg)


def test_no_inline_style_so_a_strict_content_security_policy_keeps_the_look():
    svg = _svg((DIAGRAMS / "third_child_approval.bpmn").read_bytes(), {"verify_hukou": "active"})
    assert svg.find(f".//{SVG}style") is None
    assert not [e for e in svg.iter() if e.get("style") is not None]
    assert svg.find(f".//{SVG}rect").get("stroke")  # presentation attributes carry the look instead
    assert "font-family" in svg.attrib


def test_a_file_with_several_diagrams_draws_the_one_with_the_executable_process_once():
    svg = _svg((DRAWING / "signavio_style.bpmn").read_bytes())
    groups = [g.get("data-element") for g in svg.iter(f"{SVG}g")]
    assert groups.count("sid-POLICE-LOOKUP") == 1  # present in both diagrams of the file, drawn from one
    assert {"sid-POOL-MAIN", "sid-POOL-POLICE", "sid-MSG-QUERY", "sid-VERIFY"} <= set(groups)


def test_message_flows_are_dashed_with_a_circle_at_the_source_and_a_hollow_arrowhead():
    group = _groups(_svg((DRAWING / "signavio_style.bpmn").read_bytes()))["sid-MSG-QUERY"]
    line, circle, head = group.find(f"{SVG}polyline"), group.find(f"{SVG}circle"), group.find(f"{SVG}polygon")
    assert line.get("stroke-dasharray")
    assert (circle.get("cx"), circle.get("fill")) == ("310", "#fff")
    assert head.get("fill") == "#fff"


def _viewbox(svg):
    x, y, w, h = (float(v) for v in svg.get("viewBox").split())
    return x, y, x + w, y + h


@pytest.mark.parametrize("name", sorted(p.stem for p in DRAWING.glob("*.bpmn")))
def test_the_canvas_holds_every_shape_and_every_label(name):
    svg = _svg((DRAWING / f"{name}.bpmn").read_bytes())
    left, top, right, bottom = _viewbox(svg)
    for text in svg.iter(f"{SVG}text"):
        if text.get("transform"):
            continue  # pool and lane titles, inside their pool
        for span in text.iter(f"{SVG}tspan"):
            x, y, width = float(span.get("x")), float(span.get("y")), text_width(span.text)
            start = x - width / 2 if text.get("text-anchor") == "middle" else x
            assert left <= start, span.text
            assert start + width <= right, span.text
            assert top <= y - 12, span.text
            assert y <= bottom, span.text
    for rect in svg.iter(f"{SVG}rect"):
        x, y = float(rect.get("x")), float(rect.get("y"))
        assert left <= x
        assert x + float(rect.get("width")) <= right
        assert top <= y
        assert y + float(rect.get("height")) <= bottom


def _lines(svg, element_id):
    return [s.text for s in _groups(svg)[element_id].iter(f"{SVG}tspan")]


def test_latin_names_wrap_at_spaces_and_long_words_are_never_cut():
    svg = _svg((DRAWING / "long_labels.bpmn").read_bytes())
    lines = _lines(svg, "t_en")
    assert len(lines) > 3
    assert " ".join(lines) == "Verify the applicant's household registration against the national population " \
                              "database before the township review"
    assert _lines(svg, "t_word") == ["Pneumonoultramicroscopicsilicovolcanoconiosis-check"]


def test_chinese_names_wrap_between_characters_within_the_box():
    svg = _svg((DRAWING / "long_labels.bpmn").read_bytes())
    name = ("核对申请人户籍登记信息与全国人口信息系统是否一致，"
            "并在三个工作日内将核实结果报送乡镇（街道）卫生健康办公室审核")
    lines = _lines(svg, "t_zh")
    assert "".join(lines) == name
    assert all(text_width(line) <= 130 for line in lines)
    assert not any(line[0] in "，。）" for line in lines)  # closing marks never start a line


def test_wrapping_keeps_explicit_line_breaks_and_mixed_text():
    assert wrap("第一行\n second line", 200) == ["第一行", "second line"]
    assert wrap("调用 PopulationRegistryService 接口", 60) == ["调用", "PopulationRegistryService", "接口"]


def test_every_kind_of_element_is_drawn_and_unknown_ones_are_outlined_with_their_name():
    xml = (DRAWING / "every_element.bpmn").read_bytes()
    svg = _svg(xml)
    groups = _groups(svg)
    shown = {s.get("bpmnElement") for s in etree.fromstring(xml).iter("{*}BPMNShape", "{*}BPMNEdge")}
    assert shown <= set(groups)
    unknown = groups["Conversation_1"].find(f"{SVG}rect")
    assert (unknown.get("fill"), unknown.get("stroke-dasharray")) == ("none", "4 3")
    assert "会话" in "".join(groups["Conversation_1"].itertext())
    group = groups["Group_1"].find(f"{SVG}rect")
    assert group.get("fill") == "none"
    assert group.get("stroke-dasharray")
    assert "数据分组" in "".join(svg.itertext())
    assert groups["CallActivity_1"].find(f"{SVG}rect").get("stroke-width") == "5"
    assert groups["B_timer"].find(f"{SVG}circle").get("stroke-dasharray")  # non-interrupting
    assert groups["B_error"].find(f"{SVG}circle").get("stroke-dasharray") is None
    assert len(groups["SubProcess_collapsed"].findall(f"{SVG}path")) == 2  # the + marker: square and cross


def test_containers_are_drawn_before_their_content_and_groups_after_everything():
    svg = _svg((DRAWING / "every_element.bpmn").read_bytes())
    order = [g.get("data-element") for g in svg.iter(f"{SVG}g") if g.get("data-element")]
    assert order.index("SubProcess_expanded") < order.index("Sub_task")
    assert order.index("T_userTask") < order.index("B_timer")
    assert order.index("Group_1") > max(order.index(k) for k in ("DS_1", "DO_ref", "Sub_f1", "MF_1"))


def test_labels_use_the_bounds_the_modeler_saved():
    svg = _svg((DRAWING / "camunda7_style.bpmn").read_bytes())
    label = next(t for t in svg.iter(f"{SVG}text") if "".join(t.itertext()) == "3个工作日未核实")
    assert float(label.get("x")) == 555  # centre of <dc:Bounds x="510" width="90">
    assert re.fullmatch(r"36[0-9](\.\d+)?", label.get("y"))  # first baseline just under y="350"
