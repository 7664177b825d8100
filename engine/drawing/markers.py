"""Small symbols drawn with paths: task type icons, event triggers, activity markers, gateway marks, arrowheads.

Each symbol is a path in its own small coordinate system, placed with a translate/scale transform, so a symbol is
defined once and drawn at any size in any colour. Arrowheads are drawn as polygons, not SVG `<marker>`s, because
markers are referenced by id and two inlined diagrams on one page would share (or hide) each other's ids.
"""

import math

from lxml import etree

from engine.drawing.canvas import PAPER, Canvas, Point, num

# Task type icons in a 16×16 box, drawn at the top-left corner of the task.
TASK_ICONS: dict[str, list[tuple[str, bool]]] = {  # tag -> [(path, filled)]
    "userTask": [("M8,1.5 a3.5,3.5 0 1 0 0.01,0 Z", False), ("M1,16 C1,9.5 15,9.5 15,16 Z", False),
                 ("M5.5,10.5 Q8,13 10.5,10.5", False)],
    "scriptTask": [("M3.5,1 H14 C11,4.5 16,9 13,15 H2.5 C5.5,9 0.5,4.5 3.5,1 Z", False),
                   ("M5.5,4.5 H10.5 M6,7.5 H11.5 M6,10.5 H11 M5.5,13 H10", False)],
    "businessRuleTask": [("M0.5,2 H15.5 V14 H0.5 Z", False), ("M0.5,2 H15.5 V5.5 H0.5 Z", True),
                         ("M5,5.5 V14 M0.5,9.5 H15.5", False)],
    "sendTask": [("M0.5,3 H15.5 V13 H0.5 Z", True), ("M0.5,3 L8,8.5 L15.5,3", None)],
    "receiveTask": [("M0.5,3 H15.5 V13 H0.5 Z", False), ("M0.5,3 L8,8.5 L15.5,3", False)],
    "manualTask": [("M0.5,8.5 L5,4.5 C6,3.5 7.5,4.5 6.5,5.5 L5.5,7 H14 C15.3,7 15.3,9 14,9 H9.5 M13,9 "
                    "C14.3,9 14.3,11 13,11 H9.5 M12,11 C13.3,11 13.3,13 12,13 H9.5 M11,13 C12.3,13 12.3,15 11,15 "
                    "H4 C2,15 0.5,13.5 0.5,12 Z", False)],
}


def _gear(teeth: int = 8, outer: float = 7.5, inner: float = 5.5) -> str:
    points = []
    for i in range(teeth * 4):
        angle = math.pi * 2 * i / (teeth * 4)
        radius = outer if i % 4 in {1, 2} else inner
        points.append(f"{num(8 + radius * math.cos(angle))},{num(8 + radius * math.sin(angle))}")
    return "M" + " L".join(points) + " Z M8,5.5 a2.5,2.5 0 1 0 0.01,0 Z"


TASK_ICONS["serviceTask"] = [(_gear(), False)]

# Event triggers around (0, 0) for an event of radius 18; `True` parts are filled when the event throws.
EVENT_MARKERS: dict[str, list[tuple[str, bool]]] = {
    "message": [("M-8,-5.5 H8 V5.5 H-8 Z", True), ("M-8,-5.5 L0,0.5 L8,-5.5", None)],
    "timer": [("M0,-10.5 a10.5,10.5 0 1 0 0.01,0 Z", False),
              ("M0,-10.5 V-8 M0,10.5 V8 M-10.5,0 H-8 M10.5,0 H8 M-5.2,-9 L-4,-7 M5.2,-9 L4,-7 M-5.2,9 L-4,7 "
               "M5.2,9 L4,7 M-9,-5.2 L-7,-4 M9,-5.2 L7,-4 M-9,5.2 L-7,4 M9,5.2 L7,4 M0,0 L1.5,-7.5 M0,0 L5.5,1",
               False)],
    "error": [("M-9.2,3.6 L-1.8,-6.3 L2,1.5 L9.2,-4.5 L3.7,6.3 L0.1,-0.8 Z", True)],
    "escalation": [("M0,-9 L7,9 L0,2.5 L-7,9 Z", True)],
    "signal": [("M0,-9.5 L8.5,6.5 H-8.5 Z", True)],
    "conditional": [("M-6.5,-8.5 H6.5 V8.5 H-6.5 Z", False),
                    ("M-4.5,-5 H4.5 M-4.5,-1.5 H4.5 M-4.5,2 H4.5 M-4.5,5.5 H4.5", False)],
    "compensate": [("M-1,-5.5 L-9,0 L-1,5.5 Z M8,-5.5 L0,0 L8,5.5 Z", True)],
    "link": [("M-8,-3 H1.5 V-7.5 L9,0 L1.5,7.5 V3 H-8 Z", True)],
    "cancel": [("M-6,-8 L0,-2 L6,-8 L8,-6 L2,0 L8,6 L6,8 L0,2 L-6,8 L-8,6 L-2,0 L-8,-6 Z", True)],
    "multiple": [("M0,-8.5 L8.1,-2.6 L5,6.9 H-5 L-8.1,-2.6 Z", True)],
    "parallelMultiple": [("M-2,-8.5 H2 V-2 H8.5 V2 H2 V8.5 H-2 V2 H-8.5 V-2 H-2 Z", False)],
    "terminate": [("M0,-10 a10,10 0 1 0 0.01,0 Z", True)],
}

# Activity markers in a 14×14 box, centred along the bottom edge of the activity.
ACTIVITY_MARKERS: dict[str, list[tuple[str, bool]]] = {
    "loop": [("M10.5,3.5 A5,5 0 1 1 3.5,3.5", False), ("M1,1.5 L3.5,3.7 L1,6", False)],
    "parallel": [("M3,1 V13 M7,1 V13 M11,1 V13", False)],
    "sequential": [("M1,3 H13 M1,7 H13 M1,11 H13", False)],
    "compensation": [("M7,3 L1,7 L7,11 Z M13,3 L7,7 L13,11 Z", False)],
    "adhoc": [("M1,8.5 C3,3.5 5,3.5 7,7 C9,10.5 11,10.5 13,5.5", False)],
    "collapsed": [("M0.5,0.5 H13.5 V13.5 H0.5 Z", False), ("M3.5,7 H10.5 M7,3.5 V10.5", False)],
}


def symbol(canvas: Canvas, parent: etree._Element, parts: list[tuple[str, bool | None]], x: float, y: float,
           color: str, scale: float = 1.0, filled: bool = False, width: float = 1.2) -> None:
    """Draw a symbol's parts at (x, y): True parts filled with `color` when `filled`, None parts stroked in paper."""
    transform = f"translate({num(x)} {num(y)})" + (f" scale({num(scale)})" if scale != 1 else "")
    for path, fillable in parts:
        if fillable is None:
            fill, stroke = "none", PAPER if filled else color
        else:
            fill, stroke = (color if fillable and filled else "none"), color
        canvas.add(parent, "path", {"d": path, "transform": transform, "fill": fill, "stroke": stroke,
                                    "stroke-width": num(width / scale), "stroke-linejoin": "round"})


def arrowhead(tip: Point, before: Point, length: float = 10.0, half: float = 3.5) -> list[Point]:
    """Return the triangle of an arrowhead pointing at `tip` along the segment from `before`."""
    dx, dy = tip[0] - before[0], tip[1] - before[1]
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    base = (tip[0] - ux * length, tip[1] - uy * length)
    return [tip, (base[0] - uy * half, base[1] + ux * half), (base[0] + uy * half, base[1] - ux * half)]


def along(start: Point, toward: Point, distance: float) -> Point:
    """Return the point `distance` from `start` toward `toward`."""
    dx, dy = toward[0] - start[0], toward[1] - start[1]
    norm = math.hypot(dx, dy) or 1.0
    return start[0] + dx / norm * distance, start[1] + dy / norm * distance
