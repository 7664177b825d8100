"""Draw a BPMN diagram as SVG from its DI (the layout the modeler saved), on the server, with no browser library.

States mark elements for the viewer: `completed`, `active` (waiting for someone) and `failed`; the CSS is embedded,
so the SVG can be inlined in a page or served on its own.
"""

from collections.abc import Mapping
from xml.sax.saxutils import escape

from lxml import etree

from engine.xmlsafe import parse_untrusted_xml

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
STYLE = """
.bpmn text { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; font-size: 12px;
  fill: #222; }
.bpmn .pool, .bpmn .lane { fill: none; stroke: #888; stroke-width: 1; }
.bpmn .task { fill: #fff; stroke: #333; stroke-width: 1.5; }
.bpmn .event { fill: #fff; stroke: #333; stroke-width: 1.5; }
.bpmn .event.end { stroke-width: 4; }
.bpmn .event.boundary { stroke-dasharray: 4 2; }
.bpmn .gateway { fill: #fff; stroke: #333; stroke-width: 1.5; }
.bpmn .flow { fill: none; stroke: #555; stroke-width: 1.2; marker-end: url(#arrow); }
.bpmn .completed .task, .bpmn .completed .event, .bpmn .completed .gateway { fill: #e8f5e9; stroke: #2e7d32; }
.bpmn .active .task, .bpmn .active .event, .bpmn .active .gateway { fill: #fff8e1; stroke: #e65100; stroke-width: 3; }
.bpmn .failed .task, .bpmn .failed .event, .bpmn .failed .gateway { fill: #ffebee; stroke: #c62828; stroke-width: 3; }
"""
TASK_TAGS = {"task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask",
             "receiveTask", "subProcess", "callActivity"}
GATEWAY_MARKERS = {"exclusiveGateway": "×", "parallelGateway": "+", "inclusiveGateway": "○", "eventBasedGateway": "◇"}


def _bounds(shape: etree._Element) -> tuple[float, float, float, float] | None:
    found = shape.find("dc:Bounds", NS)
    if found is None:
        return None
    return tuple(float(found.get(k, 0)) for k in ("x", "y", "width", "height"))


def _wrap(text: str, width: float) -> list[str]:
    per_line = max(int(width // 12), 1)  # CJK glyphs are about as wide as the font is tall
    return [text[i:i + per_line] for i in range(0, len(text), per_line)][:4]


def _text_block(text: str, x: float, y: float, width: float, height: float) -> str:
    lines = _wrap(text, width)
    top = y + height / 2 - (len(lines) - 1) * 7
    return "".join(
        f'<text x="{x + width / 2:.1f}" y="{top + i * 14:.1f}" text-anchor="middle" dominant-baseline="middle">'
        f"{escape(line)}</text>"
        for i, line in enumerate(lines)
    )


def _label(text: str, box: tuple[float, float, float, float]) -> str:
    """Draw an external label centred where the modeler put it, at least wide enough for a short phrase."""
    x, y, w, h = box
    width = max(w, 96.0)
    return _text_block(text, x + w / 2 - width / 2, y, width, h)


def _node(tag: str, element: etree._Element, box: tuple[float, float, float, float]) -> str:
    x, y, w, h = box
    name = (element.get("name") or "").strip()
    if tag in TASK_TAGS:
        return f'<rect class="task" x="{x}" y="{y}" width="{w}" height="{h}" rx="10"/>' + _text_block(name, x, y, w, h)
    if tag in GATEWAY_MARKERS:
        cx, cy = x + w / 2, y + h / 2
        points = f"{cx},{y} {x + w},{cy} {cx},{y + h} {x},{cy}"
        marker = GATEWAY_MARKERS[tag]
        return (f'<polygon class="gateway" points="{points}"/>'
                f'<text x="{cx}" y="{cy}" text-anchor="middle" dominant-baseline="middle">{marker}</text>')
    kind = {"endEvent": "event end", "boundaryEvent": "event boundary"}.get(tag, "event")
    return f'<circle class="{kind}" cx="{x + w / 2}" cy="{y + h / 2}" r="{min(w, h) / 2}"/>'


def render_svg(xml: bytes, states: Mapping[str, str] | None = None) -> str:
    """Return the SVG of the diagram in `xml`; `states` maps element ids to completed, active or failed."""
    states = states or {}
    root = parse_untrusted_xml(xml)
    elements = {e.get("id"): e for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    parts, labels = [], []
    min_x = min_y = float("inf")
    max_x = max_y = 0.0
    for shape in root.iterfind(".//bpmndi:BPMNShape", NS):
        element, box = elements.get(shape.get("bpmnElement")), _bounds(shape)
        if element is None or box is None:
            continue
        x, y, w, h = box
        min_x, min_y, max_x, max_y = min(min_x, x), min(min_y, y), max(max_x, x + w), max(max_y, y + h)
        tag = etree.QName(element).localname
        name = (element.get("name") or "").strip()
        if tag in {"participant", "lane"}:
            parts.insert(0, f'<rect class="{"pool" if tag == "participant" else "lane"}" x="{x}" y="{y}" '
                            f'width="{w}" height="{h}"/>'
                            f'<text transform="translate({x + 15},{y + h / 2}) rotate(-90)" text-anchor="middle">'
                            f"{escape(name)}</text>")
            continue
        state = states.get(element.get("id"), "")
        parts.append(f'<g class="{state}" data-element="{escape(element.get("id"))}">'
                     f"<title>{escape(name or element.get('id'))}</title>{_node(tag, element, box)}</g>")
        label = shape.find("bpmndi:BPMNLabel", NS)
        label_box = _bounds(label) if label is not None else None
        if label_box and name and tag not in TASK_TAGS:
            labels.append(_label(name, label_box))
    for edge in root.iterfind(".//bpmndi:BPMNEdge", NS):
        points = [(float(p.get("x", 0)), float(p.get("y", 0))) for p in edge.iterfind("di:waypoint", NS)]
        if len(points) < 2:
            continue
        path = " ".join(f"{x},{y}" for x, y in points)
        parts.append(f'<polyline class="flow" points="{path}"/>')
        flow = elements.get(edge.get("bpmnElement"))
        label = edge.find("bpmndi:BPMNLabel", NS)
        label_box = _bounds(label) if label is not None else None
        if flow is not None and label_box and (flow.get("name") or "").strip():
            labels.append(_label(flow.get("name").strip(), label_box))
    if min_x == float("inf"):
        min_x = min_y = 0.0
    pad = 10
    width, height = max_x - min_x + 2 * pad, max_y - min_y + 2 * pad
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bpmn" viewBox="{min_x - pad} {min_y - pad} {width} {height}" '
        f'width="{width}" height="{height}" role="img">'
        f"<style>{STYLE}</style>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>'
        + "".join(parts) + "".join(labels) + "</svg>"
    )
