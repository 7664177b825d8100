"""Any id, name or documentation in an uploaded diagram comes out of the drawing as text, never as markup.

Property test: generated ids, names and documentation (quotes, `<`, `&`, the control characters XML allows, CJK,
emoji, very long words) are drawn; the SVG parses, carries only the attributes the renderer writes, and every text
it shows is exactly the input.
"""

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from engine.svg import render_svg

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI = {"bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI", "dc": "http://www.omg.org/spec/DD/20100524/DC",
      "di": "http://www.omg.org/spec/DD/20100524/DI"}
SVG = "{http://www.w3.org/2000/svg}"
STROKE = {"fill", "stroke", "stroke-width", "stroke-dasharray", "stroke-linejoin", "stroke-linecap"}
ALLOWED = {
    "svg": {"class", "role", "font-family", "font-size", "viewBox", "width", "height"},
    "g": {"class", "data-element"},
    "title": set(), "desc": set(), "tspan": {"x", "y"},
    "text": {"x", "y", "text-anchor", "fill", "font-size", "transform"},
    "rect": {"x", "y", "width", "height", "rx"} | STROKE,
    "circle": {"cx", "cy", "r"} | STROKE,
    "path": {"d", "transform"} | STROKE,
    "polyline": {"points"} | STROKE,
    "polygon": {"points"} | STROKE,
}
FIXED_IDS = {"p", "gw", "note", "f", "d", "p_di", "gw_di", "note_di", "f_di", "t_di", "a", "a_di"}


def _xml_char(c: str) -> bool:
    code = ord(c)
    return c in "\t\n\r" or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000


TRICKY = ['"', "'", "<", ">", "&", "&amp;", "]]>", "<script>alert(1)</script>", '" onload="x', "\t", "\n", "\r",
          "户籍地村（居）核实", "审核。", "👶🏻", "👨‍👩‍👧", "Supercalifragilisticexpialidocious" * 3, " ", "\u00a0",
          "\u200b", "ﷺ", "\u0301"]
texts = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(st.characters(codec="utf-8").filter(_xml_char),
                                                             max_size=12)), max_size=6).map("".join)


def _diagram(task_id: str, name: str, documentation: str, note: str, flow_name: str) -> bytes:
    definitions = etree.Element(f"{{{BPMN}}}definitions", nsmap={"bpmn": BPMN, **DI})
    process = etree.SubElement(definitions, f"{{{BPMN}}}process", id="p", isExecutable="true")
    task = etree.SubElement(process, f"{{{BPMN}}}userTask", id=task_id, name=name)
    etree.SubElement(task, f"{{{BPMN}}}documentation").text = documentation
    etree.SubElement(process, f"{{{BPMN}}}exclusiveGateway", id="gw", name=name)
    etree.SubElement(process, f"{{{BPMN}}}sequenceFlow", id="f", name=flow_name, sourceRef=task_id, targetRef="gw")
    etree.SubElement(etree.SubElement(process, f"{{{BPMN}}}textAnnotation", id="note"), f"{{{BPMN}}}text").text = note
    etree.SubElement(process, f"{{{BPMN}}}association", id="a", sourceRef="note", targetRef=task_id)
    diagram = etree.SubElement(definitions, f"{{{DI['bpmndi']}}}BPMNDiagram", id="d")
    plane = etree.SubElement(diagram, f"{{{DI['bpmndi']}}}BPMNPlane", id="pl", bpmnElement="p")
    for element, box in ((task_id, (100, 100, 100, 80)), ("gw", (300, 115, 50, 50)), ("note", (100, 10, 150, 40))):
        shape = etree.SubElement(plane, f"{{{DI['bpmndi']}}}BPMNShape", id=f"{element}_di", bpmnElement=element)
        etree.SubElement(shape, f"{{{DI['dc']}}}Bounds", dict(zip(("x", "y", "width", "height"), map(str, box),
                                                                      strict=True)))
    for element, points in (("f", ((200, 140), (300, 140))), ("a", ((150, 50), (150, 100)))):
        edge = etree.SubElement(plane, f"{{{DI['bpmndi']}}}BPMNEdge", id=f"{element}_di", bpmnElement=element)
        for x, y in points:
            etree.SubElement(edge, f"{{{DI['di']}}}waypoint", x=str(x), y=str(y))
    return etree.tostring(definitions, xml_declaration=True, encoding="UTF-8")


def _squeezed(text: str) -> str:
    return "".join(text.split())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_id=texts.filter(bool), name=texts, documentation=texts, note=texts, flow_name=texts)
def test_untrusted_text_is_drawn_as_text_only(task_id, name, documentation, note, flow_name):
    assume(task_id not in FIXED_IDS)
    svg = etree.fromstring(render_svg(_diagram(task_id, name, documentation, note, flow_name)).encode())
    for element in svg.iter():
        assert element.tag.startswith(SVG), element.tag
        tag = element.tag[len(SVG):]
        assert set(element.attrib) <= ALLOWED[tag], (tag, element.attrib)
    groups = {g.get("data-element"): g for g in svg.iter(f"{SVG}g") if g.get("data-element") is not None}
    task, note_group, flow = groups[task_id], groups["note"], groups["f"]
    assert task.find(f"{SVG}title").text == (name if name.strip() else task_id)
    if documentation.strip():
        assert task.find(f"{SVG}desc").text == documentation
    drawn_name = "".join("".join(t.itertext()) for t in task.iter(f"{SVG}text"))
    assert _squeezed(drawn_name) == _squeezed(name)
    assert _squeezed("".join("".join(t.itertext()) for t in note_group.iter(f"{SVG}text"))) == _squeezed(note)
    assert flow.find(f"{SVG}title").text == (flow_name if flow_name.strip() else "f")
    labels = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text") if t.getparent().get("data-element") is None]
    assert sorted(_squeezed(label) for label in labels) == sorted(_squeezed(t) for t in (name, flow_name) if t.strip())
