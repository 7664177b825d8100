"""Draw a BPMN diagram as SVG from its DI (the layout the modeler saved), on the server, with no browser library.

Diagrams are untrusted (uploaded, possibly from another modeler), so the SVG is built with lxml, which escapes every
id, name and text for its context, and carries no `<style>` and no `style=`: only presentation attributes, so it
works under a strict Content-Security-Policy. States mark elements for the viewer: `completed`, `active` (waiting
for someone) and `failed` repaint the element's outline.

Stacking order, bottom to top: pools and lanes; activities, events, gateways and data, containers before what they
contain and boundary events last; connections; groups and text annotations (no fill); external labels.
"""

from collections.abc import Mapping

from lxml import etree

from engine.drawing import shapes as draw
from engine.drawing.canvas import FONT_FAMILY, Canvas
from engine.drawing.model import CONTAINERS, Edge, Shape, depth, local, read
from engine.drawing.text import FONT_SIZE, LINE_HEIGHT, wrap
from engine.xmlsafe import parse_untrusted_xml


def _element_group(canvas: Canvas, layer: etree._Element, element: etree._Element, state: str) -> etree._Element:
    """Open the group of one element: its state, its id (escaped by lxml), a tooltip and its documentation."""
    element_id = element.get("id") or ""
    name = element.get("name") or ""
    g = canvas.add(layer, "g", {"class": state, "data-element": element_id})
    canvas.add(g, "title", text=name if name.strip() else element_id)
    documentation = draw.text_of(element, "bpmn:documentation")
    if documentation.strip():
        canvas.add(g, "desc", text=documentation)
    return g


def _expanded(shapes: list[Shape]) -> set[str]:
    """Return the ids of sub-processes drawn open: marked so in DI, or (unmarked) with their content on this plane."""
    holding = {ancestor.get("id") for s in shapes for ancestor in s.element.iterancestors()
               if local(ancestor) in CONTAINERS}
    return {s.id for s in shapes if s.tag in CONTAINERS | {"callActivity"}
            and (s.di.get("isExpanded") == "true" or (s.di.get("isExpanded") is None and s.id in holding))}


def _label_name(shape: Shape, index: Mapping[str, etree._Element]) -> str:
    if shape.tag == "group":
        value = index.get(shape.element.get("categoryValueRef", ""))
        return (value.get("value") or "") if value is not None else (shape.element.get("name") or "")
    return shape.element.get("name") or ""


def _shape_label(canvas: Canvas, layer: etree._Element, shape: Shape, name: str) -> None:
    """Write an external label in its DI bounds when the modeler saved them, else where bpmn.io puts it."""
    x, y, w, h = shape.bounds
    if shape.label is not None and shape.label[2] > 0:
        lx, ly, lw, _ = shape.label
        canvas.text(layer, name, lx + lw / 2, ly, max(lw, draw.LABEL_WIDTH))
    elif shape.tag == "group":
        canvas.text(layer, name, x + w / 2, y + 5, max(w - 10, draw.LABEL_WIDTH))
    else:
        canvas.text(layer, name, x + w / 2, y + h + 5, draw.LABEL_WIDTH)


def _edge_label(canvas: Canvas, layer: etree._Element, edge: Edge, name: str) -> None:
    if edge.label is not None and edge.label[2] > 0:
        lx, ly, lw, _ = edge.label
        canvas.text(layer, name, lx + lw / 2, ly, max(lw, draw.LABEL_WIDTH))
        return
    # Without saved bounds: by the middle of the middle segment, as bpmn.io places a new flow's label.
    middle = len(edge.points) // 2
    (ax, ay), (bx, by) = edge.points[middle - 1], edge.points[middle]
    height = len(wrap(name, draw.LABEL_WIDTH)) * FONT_SIZE * LINE_HEIGHT
    if abs(by - ay) > abs(bx - ax):  # beside a vertical segment, above a horizontal one
        canvas.text(layer, name, (ax + bx) / 2 + 5, (ay + by) / 2 - height / 2, draw.LABEL_WIDTH, anchor="start")
    else:
        canvas.text(layer, name, (ax + bx) / 2, (ay + by) / 2 - height - 3, draw.LABEL_WIDTH)


def _draw_shape(canvas: Canvas, g: etree._Element, shape: Shape, state: str,
                index: Mapping[str, etree._Element], expanded: bool) -> None:
    if shape.tag in draw.ACTIVITIES:
        draw.activity(canvas, g, shape, state, expanded)
    elif shape.tag in draw.EVENTS:
        draw.event(canvas, g, shape, state)
    elif shape.tag in draw.GATEWAYS:
        draw.gateway(canvas, g, shape, state)
    elif shape.tag in draw.DATA:
        draw.data(canvas, g, shape, state, index)
    elif shape.tag == "dataStoreReference":
        draw.data_store(canvas, g, shape, state)
    elif shape.tag == "textAnnotation":
        draw.annotation(canvas, g, shape)
    elif shape.tag == "group":
        draw.group(canvas, g, shape)
    else:
        draw.unknown(canvas, g, shape)


def _stack_key(shape: Shape) -> tuple[int, int]:
    return (1 if shape.tag == "boundaryEvent" else 0), depth(shape.element)


def render_svg(xml: bytes, states: Mapping[str, str] | None = None) -> str:
    """Return the SVG of the diagram in `xml`; `states` maps element ids to completed, active or failed."""
    states = states or {}
    shapes, edges, index = read(parse_untrusted_xml(xml))
    canvas = Canvas()
    for key, value in (("class", "bpmn"), ("role", "img"), ("font-family", FONT_FAMILY),
                       ("font-size", str(int(FONT_SIZE)))):
        canvas.root.set(key, value)
    pools, nodes, flows, decorations, labels = (canvas.layer() for _ in range(5))
    expanded = _expanded(shapes)
    bodies = {p.get("processRef") for p in index.values() if local(p) == "participant"} & set(index)

    lanes = [s for s in shapes if s.tag in {"participant", "lane"}]
    for shape in sorted(lanes, key=lambda s: (s.tag == "lane", sum(1 for a in s.element.iterancestors()
                                                                   if local(a) == "lane"))):
        g = _element_group(canvas, pools, shape.element, "")
        draw.pool_or_lane(canvas, g, shape, shape.tag == "lane" or shape.element.get("processRef") in bodies)
    for shape in sorted((s for s in shapes if s not in lanes), key=_stack_key):
        state = states.get(shape.id, "")
        in_front = shape.tag in {"group", "textAnnotation"}
        g = _element_group(canvas, decorations if in_front else nodes, shape.element, state)
        _draw_shape(canvas, g, shape, state, index, shape.id in expanded)
        name = _label_name(shape, index)
        if name.strip() and (shape.tag in draw.EXTERNAL_LABELS or shape.tag == "group"):
            _shape_label(canvas, labels, shape, name)
    for edge in edges:
        g = _element_group(canvas, flows, edge.element, states.get(edge.id, ""))
        draw.edge(canvas, g, edge, index)
        name = edge.element.get("name") or ""
        if name.strip():
            _edge_label(canvas, labels, edge, name)
    return canvas.finish()

