"""The server-drawn diagram: every element of the shipped diagrams, states marked, text escaped."""

from pathlib import Path

import pytest
from lxml import etree

from engine.svg import render_svg

DIAGRAMS = Path(__file__).resolve().parents[2] / "bpmn_diagrams"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("name", ["birth_registration", "third_child_approval"])
def test_every_flow_node_and_flow_is_drawn(name):
    xml = (DIAGRAMS / f"{name}.bpmn").read_bytes()
    svg = etree.fromstring(render_svg(xml).encode())
    process = etree.fromstring(xml).find(f"{BPMN}process")
    not_nodes = {f"{BPMN}sequenceFlow", f"{BPMN}laneSet", f"{BPMN}documentation"}
    nodes = {e.get("id") for e in process if e.tag not in not_nodes and e.get("id")}
    drawn = {g.get("data-element") for g in svg.iter(f"{SVG}g")}
    assert nodes <= drawn
    flows = process.findall(f"{BPMN}sequenceFlow")
    assert len(svg.findall(f".//{SVG}polyline")) == len(flows)
    assert "户籍地村（居）核实" in "".join(svg.itertext())


def test_states_mark_elements():
    xml = (DIAGRAMS / "birth_registration.bpmn").read_bytes()
    svg = etree.fromstring(render_svg(xml, {"verify_hukou": "active", "submitted": "completed",
                                            "render_slip": "failed"}).encode())
    classes = {g.get("data-element"): g.get("class") for g in svg.iter(f"{SVG}g")}
    assert classes["verify_hukou"] == "active"
    assert classes["submitted"] == "completed"
    assert classes["render_slip"] == "failed"
    assert classes["township_audit"] == ""


def test_names_are_escaped():
    hostile = b'name="&lt;script&gt;alert(1)&lt;/script&gt;"'  # the XML of the name <script>alert(1)</script>
    xml = (DIAGRAMS / "birth_registration.bpmn").read_bytes().replace('name="乡镇（街道）审核"'.encode(), hostile, 1)
    svg = render_svg(xml)
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    etree.fromstring(svg.encode())  # still well-formed
