"""What to draw, read from a BPMN file: the chosen diagram's shapes and edges with their semantic elements.

A file may hold several `BPMNDiagram`s (Signavio writes one per view, bpmn-js one per drilled-down sub-process):
one is drawn, the one whose plane shows the executable process (directly or through a collaboration), else the
first.
"""

import math
from dataclasses import dataclass

from lxml import etree

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
BPMN = NS["bpmn"]
CONTAINERS = {"subProcess", "transaction", "adHocSubProcess"}

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Shape:
    """A `BPMNShape`: its element, the element's local tag, bounds, label bounds and DI attributes."""

    element: etree._Element
    tag: str
    bounds: Box
    label: Box | None
    di: etree._Element

    @property
    def id(self) -> str:
        """The BPMN id of the element drawn."""
        return self.element.get("id") or ""


@dataclass(frozen=True)
class Edge:
    """A `BPMNEdge`: its element, the element's local tag, waypoints and label bounds."""

    element: etree._Element
    tag: str
    points: list[tuple[float, float]]
    label: Box | None

    @property
    def id(self) -> str:
        """The BPMN id of the element drawn."""
        return self.element.get("id") or ""


def local(element: etree._Element) -> str:
    """Return the local name of an element's tag ('' for comments and the like)."""
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _number(value: str | None) -> float:
    try:
        number = float(value or 0)
    except ValueError:
        return 0.0
    return number if math.isfinite(number) and abs(number) < 1e7 else 0.0  # NaN and absurd sizes become 0


def bounds(node: etree._Element | None) -> Box | None:
    """Return the `dc:Bounds` of a DI node as (x, y, width, height), or None."""
    found = node.find("dc:Bounds", NS) if node is not None else None
    if found is None:
        return None
    x, y, w, h = (_number(found.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, max(w, 0.0), max(h, 0.0)


def _executable(element: etree._Element | None, index: dict[str, etree._Element]) -> bool:
    if element is None:
        return False
    if local(element) == "process":
        return element.get("isExecutable") == "true"
    if local(element) == "collaboration":
        return any(_executable(index.get(p.get("processRef", "")), index)
                   for p in element.iterfind("bpmn:participant", NS))
    return False


def choose_plane(root: etree._Element, index: dict[str, etree._Element]) -> etree._Element | None:
    """Return the plane to draw: the first showing the executable process, else the first plane."""
    planes = root.findall("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    for plane in planes:
        if _executable(index.get(plane.get("bpmnElement", "")), index):
            return plane
    return planes[0] if planes else None


def depth(element: etree._Element) -> int:
    """Return how many sub-processes contain `element`, so containers are drawn before what they contain."""
    return sum(1 for ancestor in element.iterancestors() if local(ancestor) in CONTAINERS)


def read(root: etree._Element) -> tuple[list[Shape], list[Edge], dict[str, etree._Element]]:
    """Return the shapes and edges of the chosen diagram whose element exists, and the index of elements by id."""
    index: dict[str, etree._Element] = {}
    for element in root.iter():
        if isinstance(element.tag, str) and element.get("id") and element.tag.startswith(f"{{{BPMN}}}"):
            index.setdefault(element.get("id"), element)
    plane = choose_plane(root, index)
    shapes: list[Shape] = []
    edges: list[Edge] = []
    if plane is None:
        return shapes, edges, index
    for node in plane.iter(f"{{{NS['bpmndi']}}}BPMNShape"):
        element, box = index.get(node.get("bpmnElement", "")), bounds(node)
        if element is not None and box is not None:
            label = node.find("bpmndi:BPMNLabel", NS)
            shapes.append(Shape(element, local(element), box, bounds(label), node))
    for node in plane.iter(f"{{{NS['bpmndi']}}}BPMNEdge"):
        element = index.get(node.get("bpmnElement", ""))
        points = [(_number(p.get("x")), _number(p.get("y"))) for p in node.iterfind("di:waypoint", NS)]
        if element is not None and len(points) >= 2:
            label = node.find("bpmndi:BPMNLabel", NS)
            edges.append(Edge(element, local(element), points, bounds(label)))
    return shapes, edges, index
