"""Draw each kind of BPMN shape and edge the way the BPMN 2.0 specification (and bpmn.io) shows it.

Every function draws into a group already made for the element; the caller decides the stacking order.
"""

from lxml import etree

from engine.drawing.canvas import LINE, MUTED, PAPER, Canvas, Look, look_for, num, paint
from engine.drawing.markers import (
    ACTIVITY_MARKERS,
    EVENT_MARKERS,
    TASK_ICONS,
    along,
    arrowhead,
    symbol,
)
from engine.drawing.model import CONTAINERS, NS, Edge, Shape, local
from engine.drawing.text import FONT_SIZE, LINE_HEIGHT, wrap

TASKS = {"task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask",
         "receiveTask"}
ACTIVITIES = TASKS | CONTAINERS | {"callActivity"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "complexGateway", "eventBasedGateway"}
DATA = {"dataObjectReference", "dataObject", "dataInput", "dataOutput"}
EXTERNAL_LABELS = EVENTS | GATEWAYS | DATA | {"dataStoreReference"}
LABEL_WIDTH = 90.0  # bpmn.io's width for labels under events, gateways and data, and on flows

GATEWAY_MARKS = {
    "exclusiveGateway": ("M-7,-7 L7,7 M7,-7 L-7,7", 3.5),
    "parallelGateway": ("M0,-11 V11 M-11,0 H11", 3.5),
    "inclusiveGateway": ("M0,-11 a11,11 0 1 0 0.01,0 Z", 2.5),
    "complexGateway": ("M0,-11 V11 M-11,0 H11 M-7.8,-7.8 L7.8,7.8 M7.8,-7.8 L-7.8,7.8", 3.0),
}
EVENT_GATEWAY_RING = "M0,-12 a12,12 0 1 0 0.01,0 Z"
EVENT_GATEWAY_INNER = "M0,-9.5 a9.5,9.5 0 1 0 0.01,0 Z"
PENTAGON = "M0,-6 L5.7,-1.9 L3.5,4.9 H-3.5 L-5.7,-1.9 Z"
PLUS = "M0,-6 V6 M-6,0 H6"
DATA_ARROW = "M1,5 H7 V2 L12,7 L7,12 V9 H1 Z"
MARKER = 14.0  # side of an activity marker


def text_of(element: etree._Element, path: str) -> str:
    """Return the text of the child at `path` ('' when missing)."""
    found = element.find(path, NS)
    return (found.text or "") if found is not None else ""


def centred_text(canvas: Canvas, parent: etree._Element, content: str, box: tuple[float, float, float, float],
                 padding: float = 5.0) -> None:
    """Write `content` wrapped inside `box`, centred both ways (it overflows evenly when it does not fit)."""
    x, y, w, h = box
    width = max(w - 2 * padding, FONT_SIZE)
    lines = len(wrap(content, width))
    canvas.text(parent, content, x + w / 2, y + h / 2 - lines * FONT_SIZE * LINE_HEIGHT / 2, width)


def _outline(canvas: Canvas, parent: etree._Element, box, look: Look, rx: float = 0.0, dash: str | None = None):
    x, y, w, h = box
    attrs = {"x": num(x), "y": num(y), "width": num(w), "height": num(h), **paint(look, dash)}
    if rx:
        attrs["rx"] = num(rx)
    canvas.add(parent, "rect", attrs)
    canvas.reach(x - look.width / 2, y - look.width / 2, w + look.width, h + look.width)


def _activity_markers(shape: Shape, expanded: bool) -> list[str]:
    element, found = shape.element, []
    if element.find("bpmn:standardLoopCharacteristics", NS) is not None:
        found.append("loop")
    multi = element.find("bpmn:multiInstanceLoopCharacteristics", NS)
    if multi is not None:
        found.append("sequential" if multi.get("isSequential") == "true" else "parallel")
    if element.get("isForCompensation") == "true":
        found.append("compensation")
    if shape.tag == "adHocSubProcess":
        found.append("adhoc")
    if (shape.tag in CONTAINERS or shape.tag == "callActivity") and not expanded:
        found.append("collapsed")
    return found


def activity(canvas: Canvas, g: etree._Element, shape: Shape, state: str, expanded: bool) -> None:
    """Draw a task, sub-process or call activity: rounded box, type icon, bottom markers and its name."""
    x, y, w, h = shape.bounds
    event_sub = shape.element.get("triggeredByEvent") == "true"
    look = look_for(state, 5.0 if shape.tag == "callActivity" else 2.0 if not event_sub else 1.5)
    _outline(canvas, g, shape.bounds, look, rx=10, dash="2 3" if event_sub else None)
    if shape.tag == "transaction":
        _outline(canvas, g, (x + 3, y + 3, w - 6, h - 6), Look("none", look.stroke, 1.5), rx=7)
    if shape.tag in TASK_ICONS:
        symbol(canvas, g, TASK_ICONS[shape.tag], x + 6, y + 6, look.stroke, filled=True)
    markers = _activity_markers(shape, expanded)
    left = x + w / 2 - (len(markers) * (MARKER + 4) - 4) / 2
    for i, marker in enumerate(markers):
        symbol(canvas, g, ACTIVITY_MARKERS[marker], left + i * (MARKER + 4), y + h - MARKER - 4, look.stroke,
               width=1.5)
    name = shape.element.get("name") or ""
    if expanded:
        canvas.text(g, name, x + w / 2, y + 6, max(w - 12, FONT_SIZE))
    else:
        centred_text(canvas, g, name, (x, y + 4 if shape.tag in TASK_ICONS else y, w, h - (18 if markers else 0)))


def _trigger(element: etree._Element) -> str | None:
    kinds = [local(c)[: -len("EventDefinition")] for c in element if local(c).endswith("EventDefinition")]
    if len(kinds) > 1:
        return "parallelMultiple" if element.get("parallelMultiple") == "true" else "multiple"
    return kinds[0] if kinds and kinds[0] in EVENT_MARKERS else None


def _circle(canvas: Canvas, g: etree._Element, cx: float, cy: float, r: float, look: Look, dash: str | None) -> None:
    canvas.add(g, "circle", {"cx": num(cx), "cy": num(cy), "r": num(max(r, 0.0)), **paint(look, dash)})


def event(canvas: Canvas, g: etree._Element, shape: Shape, state: str) -> None:
    """Draw an event: thin (start), thick (end) or double (intermediate, boundary) ring, dashed when it does not
    interrupt, with its trigger, filled when the event throws."""
    x, y, w, h = shape.bounds
    cx, cy, r = x + w / 2, y + h / 2, min(w, h) / 2
    element, tag = shape.element, shape.tag
    interrupting = element.get("cancelActivity" if tag == "boundaryEvent" else "isInterrupting") != "false"
    dash = None if interrupting else "5 3"
    look = look_for(state, {"startEvent": 2.0, "endEvent": 4.0}.get(tag, 1.5))
    _circle(canvas, g, cx, cy, r, look, dash)
    if tag in {"intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}:
        _circle(canvas, g, cx, cy, r - 3, Look("none", look.stroke, 1.5), dash)
    canvas.reach(x - look.width, y - look.width, w + 2 * look.width, h + 2 * look.width)
    trigger = _trigger(element)
    if trigger:
        throws = tag in {"endEvent", "intermediateThrowEvent"} or trigger == "terminate"
        symbol(canvas, g, EVENT_MARKERS[trigger], cx, cy, look.stroke, scale=r / 18, filled=throws)


def gateway(canvas: Canvas, g: etree._Element, shape: Shape, state: str) -> None:
    """Draw a gateway: a diamond with its type's mark (the exclusive X only when the modeler shows it)."""
    x, y, w, h = shape.bounds
    cx, cy = x + w / 2, y + h / 2
    look = look_for(state, 2.0)
    points = f"{num(cx)},{num(y)} {num(x + w)},{num(cy)} {num(cx)},{num(y + h)} {num(x)},{num(cy)}"
    canvas.add(g, "polygon", {"points": points, **paint(look), "stroke-linejoin": "round"})
    canvas.reach(x - look.width, y - look.width, w + 2 * look.width, h + 2 * look.width)
    scale = min(w, h) / 50
    if shape.tag == "eventBasedGateway":
        parts = [(EVENT_GATEWAY_RING, False)]
        if shape.element.get("instantiate") != "true":
            parts.append((EVENT_GATEWAY_INNER, False))
        parts.append((PLUS if shape.element.get("eventGatewayType") == "Parallel" else PENTAGON, False))
        symbol(canvas, g, parts, cx, cy, look.stroke, scale=scale, width=1.5)
    elif shape.tag in GATEWAY_MARKS and (shape.tag != "exclusiveGateway" or shape.di.get("isMarkerVisible") == "true"):
        path, width = GATEWAY_MARKS[shape.tag]
        symbol(canvas, g, [(path, False)], cx, cy, look.stroke, scale=scale, width=width * scale)


def data(canvas: Canvas, g: etree._Element, shape: Shape, state: str, index: dict[str, etree._Element]) -> None:
    """Draw a data object (page with a folded corner), marked as input, output or collection."""
    x, y, w, h = shape.bounds
    fold = min(10.0, w / 3, h / 3)
    look = look_for(state, 1.5)
    page = (f"M{num(x)},{num(y)} H{num(x + w - fold)} L{num(x + w)},{num(y + fold)} V{num(y + h)} H{num(x)} Z "
            f"M{num(x + w - fold)},{num(y)} V{num(y + fold)} H{num(x + w)}")
    canvas.add(g, "path", {"d": page, **paint(look), "stroke-linejoin": "round"})
    canvas.reach(x - 1, y - 1, w + 2, h + 2)
    if shape.tag in {"dataInput", "dataOutput"}:
        symbol(canvas, g, [(DATA_ARROW, True)], x + 2, y + 2, look.stroke, filled=shape.tag == "dataOutput")
    target = index.get(shape.element.get("dataObjectRef", "")) if shape.tag == "dataObjectReference" else None
    if "true" in {shape.element.get("isCollection"), target.get("isCollection") if target is not None else None}:
        symbol(canvas, g, ACTIVITY_MARKERS["parallel"], x + w / 2 - MARKER / 2, y + h - MARKER - 2, look.stroke,
               width=1.5)


def data_store(canvas: Canvas, g: etree._Element, shape: Shape, state: str) -> None:
    """Draw a data store as a cylinder."""
    x, y, w, h = shape.bounds
    rx, ry = w / 2, min(8.0, h / 6)
    look = look_for(state, 1.5)
    arc = f"A{num(rx)},{num(ry)} 0 0,0 {num(x + w)}"
    body = (f"M{num(x)},{num(y + ry)} V{num(y + h - ry)} {arc},{num(y + h - ry)} V{num(y + ry)} "
            f"A{num(rx)},{num(ry)} 0 0,0 {num(x)},{num(y + ry)} Z")
    canvas.add(g, "path", {"d": body, **paint(look)})
    rims = "".join(f"M{num(x)},{num(y + ry + k * 5)} {arc},{num(y + ry + k * 5)} " for k in (0, 1, 2))
    canvas.add(g, "path", {"d": rims.strip(), **paint(Look("none", look.stroke, look.width))})
    canvas.reach(x - 1, y - 1, w + 2, h + 2)


def annotation(canvas: Canvas, g: etree._Element, shape: Shape) -> None:
    """Draw a text annotation: an open bracket with the text beside it, top-left aligned."""
    x, y, w, h = shape.bounds
    bracket = f"M{num(x + 10)},{num(y)} H{num(x)} V{num(y + h)} H{num(x + 10)}"
    canvas.add(g, "path", {"d": bracket, "fill": "none", "stroke": LINE, "stroke-width": "1.5"})
    canvas.reach(x, y, w, h)
    canvas.text(g, text_of(shape.element, "bpmn:text"), x + 5, y + 5, max(w - 10, FONT_SIZE), anchor="start")


def group(canvas: Canvas, g: etree._Element, shape: Shape) -> None:
    """Draw a group: a dashed rounded rectangle with no fill, so it never hides what it surrounds."""
    _outline(canvas, g, shape.bounds, Look("none", "#555", 1.5), rx=10, dash="10 4 1 4")


def unknown(canvas: Canvas, g: etree._Element, shape: Shape) -> None:
    """Draw an element this renderer has no picture for: a neutral dashed outline with its name."""
    _outline(canvas, g, shape.bounds, Look("none", MUTED, 1.0), rx=4, dash="4 3")
    centred_text(canvas, g, shape.element.get("name") or shape.tag, shape.bounds)


def pool_or_lane(canvas: Canvas, g: etree._Element, shape: Shape, has_body: bool) -> None:
    """Draw a pool (participant) or lane with its title: vertical in a 30 px band for horizontal ones.

    A pool with no process (a black box, e.g. an outside party) has no band: its name is centred.
    """
    x, y, w, h = shape.bounds
    pool = shape.tag == "participant"
    _outline(canvas, g, shape.bounds, Look(PAPER if pool else "none", LINE, 1.5 if pool else 1.0))
    name = shape.element.get("name") or ""
    horizontal = shape.di.get("isHorizontal") != "false"
    if not has_body:
        centred_text(canvas, g, name, shape.bounds)
        return
    if pool:
        band = f"M{num(x + 30)},{num(y)} V{num(y + h)}" if horizontal else f"M{num(x)},{num(y + 30)} H{num(x + w)}"
        canvas.add(g, "path", {"d": band, "fill": "none", "stroke": LINE, "stroke-width": "1.5"})
    if horizontal:
        lines = len(wrap(name, max(h - 20, FONT_SIZE)))
        cx, cy = x + 15, y + h / 2
        top = cy - lines * FONT_SIZE * LINE_HEIGHT / 2
        canvas.text(g, name, cx, top, max(h - 20, FONT_SIZE), rotate=(cx, cy))
    else:
        canvas.text(g, name, x + w / 2, y + 8, max(w - 20, FONT_SIZE))


def _flow_decorations(canvas: Canvas, g: etree._Element, edge: Edge, index: dict[str, etree._Element]) -> None:
    points = edge.points
    source = index.get(edge.element.get("sourceRef", ""))
    if source is not None and source.get("default") == edge.id:
        a, b = along(points[0], points[1], 8), along(points[0], points[1], 14)
        dx, dy = b[0] - a[0], b[1] - a[1]
        canvas.add(g, "path", {"d": f"M{num(a[0] - dy * 0.9)},{num(a[1] + dx * 0.9)} "
                                    f"L{num(b[0] + dy * 0.9)},{num(b[1] - dx * 0.9)}",
                               "fill": "none", "stroke": LINE, "stroke-width": "1.5"})
    elif (source is not None and local(source) in ACTIVITIES
          and edge.element.find("bpmn:conditionExpression", NS) is not None):
        tip, far = points[0], along(points[0], points[1], 16)
        mid = along(points[0], points[1], 8)
        side = (far[1] - tip[1]) * 0.3, (tip[0] - far[0]) * 0.3
        diamond = [tip, (mid[0] + side[0], mid[1] + side[1]), far, (mid[0] - side[0], mid[1] - side[1])]
        canvas.add(g, "polygon", {"points": " ".join(f"{num(px)},{num(py)}" for px, py in diamond),
                                  "fill": PAPER, "stroke": LINE, "stroke-width": "1.2"})


def _open_arrow(canvas: Canvas, g: etree._Element, tip, before, color: str) -> None:
    _, left, right = arrowhead(tip, before, 9, 5)
    canvas.add(g, "path", {"d": f"M{num(left[0])},{num(left[1])} L{num(tip[0])},{num(tip[1])} "
                                f"L{num(right[0])},{num(right[1])}",
                           "fill": "none", "stroke": color, "stroke-width": "1.5", "stroke-linecap": "round"})


def _solid_arrow(canvas: Canvas, g: etree._Element, tip, before, fill: str) -> None:
    triangle = arrowhead(tip, before, 11, 4)
    canvas.add(g, "polygon", {"points": " ".join(f"{num(px)},{num(py)}" for px, py in triangle),
                              "fill": fill, "stroke": LINE, "stroke-width": "1", "stroke-linejoin": "round"})


def edge(canvas: Canvas, g: etree._Element, edge: Edge, index: dict[str, etree._Element]) -> None:
    """Draw a connection: sequence flow (solid, filled arrow), message flow (dashed, circle to hollow arrow),
    association and data association (dotted), anything else as a plain grey line."""
    points, tag = edge.points, edge.tag
    dotted = {"stroke-dasharray": "1 4", "stroke-linecap": "round"}
    if tag == "sequenceFlow":
        canvas.polyline(g, points, {"stroke": LINE, "stroke-width": "1.5", "stroke-linejoin": "round"})
        _flow_decorations(canvas, g, edge, index)
        _solid_arrow(canvas, g, points[-1], points[-2], LINE)
    elif tag == "messageFlow":
        canvas.polyline(g, points, {"stroke": LINE, "stroke-width": "1.5", "stroke-dasharray": "10 6"})
        start = along(points[0], points[1], 4.5)
        canvas.add(g, "circle", {"cx": num(start[0]), "cy": num(start[1]), "r": "4", "fill": PAPER,
                                 "stroke": LINE, "stroke-width": "1.5"})
        _solid_arrow(canvas, g, points[-1], points[-2], PAPER)
    elif tag in {"association", "dataInputAssociation", "dataOutputAssociation"}:
        canvas.polyline(g, points, {"stroke": LINE, "stroke-width": "1.5", **dotted})
        direction = edge.element.get("associationDirection", "None" if tag == "association" else "One")
        if direction in {"One", "Both"}:
            _open_arrow(canvas, g, points[-1], points[-2], LINE)
        if direction == "Both":
            _open_arrow(canvas, g, points[0], points[1], LINE)
    else:
        canvas.polyline(g, points, {"stroke": MUTED, "stroke-width": "1"})
