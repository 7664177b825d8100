"""The SVG being drawn: elements built with lxml (so every value is escaped for its context) and their extent.

Presentation is carried by presentation attributes (fill, stroke, ...), never by a `<style>` element or a `style=`
attribute, so the drawing obeys a strict Content-Security-Policy and looks the same inlined or on its own.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from engine.drawing.text import ASCENT, FONT_SIZE, LINE_HEIGHT, text_width, wrap

SVG_NS = "http://www.w3.org/2000/svg"
FONT_FAMILY = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif'
INK = "#222"
LINE = "#333"
PAPER = "#fff"
MUTED = "#888"

Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Look:
    """How an element's outline is painted."""

    fill: str = PAPER
    stroke: str = LINE
    width: float = 1.5


# An element's run state repaints its outline (and its markers take the stroke colour).
STATE_LOOKS = {
    "completed": Look(fill="#e8f5e9", stroke="#2e7d32"),
    "active": Look(fill="#fff8e1", stroke="#e65100", width=3),
    "failed": Look(fill="#ffebee", stroke="#c62828", width=3),
}


def look_for(state: str, width: float = 1.5, fill: str = PAPER) -> Look:
    """Return the look of an outline of base stroke `width` and `fill` in run state `state` ('' for none)."""
    look = STATE_LOOKS.get(state)
    if look is None:
        return Look(fill=fill, width=width)
    return Look(fill=look.fill if fill != "none" else "none", stroke=look.stroke, width=max(look.width, width))


def num(value: float) -> str:
    """Format a coordinate compactly (two decimals at most, never in exponent form)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in {"", "-0"} else text


def paint(look: Look, dash: str | None = None) -> dict[str, str]:
    """Return the presentation attributes of an outline painted with `look`."""
    attrs = {"fill": look.fill, "stroke": look.stroke, "stroke-width": num(look.width)}
    if dash:
        attrs["stroke-dasharray"] = dash
    return attrs


class Canvas:
    """An SVG document under construction that remembers how far its drawing reaches."""

    def __init__(self) -> None:
        self.root = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
        self.min_x = self.min_y = float("inf")
        self.max_x = self.max_y = float("-inf")

    def reach(self, x: float, y: float, w: float = 0.0, h: float = 0.0) -> None:
        """Grow the extent to include the box (x, y, w, h)."""
        self.min_x, self.min_y = min(self.min_x, x), min(self.min_y, y)
        self.max_x, self.max_y = max(self.max_x, x + w), max(self.max_y, y + h)

    def add(self, parent: etree._Element, tag: str, attrs: dict[str, str | float] | None = None,
            text: str | None = None) -> etree._Element:
        """Append an SVG element with `attrs` (numbers formatted) and optional text; lxml escapes every value."""
        element = etree.SubElement(parent, f"{{{SVG_NS}}}{tag}")
        for key, value in (attrs or {}).items():
            element.set(key, value if isinstance(value, str) else num(value))
        if text is not None:
            element.text = text
        return element

    def layer(self) -> etree._Element:
        """Append a group that later drawing of one kind goes into (the order of layers is the stacking order)."""
        return self.add(self.root, "g")

    def polyline(self, parent: etree._Element, points: Iterable[Point], attrs: dict[str, str]) -> etree._Element:
        """Draw an open line through `points`."""
        points = list(points)
        for x, y in points:
            self.reach(x, y)
        return self.add(parent, "polyline", {"points": " ".join(f"{num(x)},{num(y)}" for x, y in points),
                                             "fill": "none", **attrs})

    def text(self, parent: etree._Element, content: str, x: float, top: float, width: float,
             anchor: str = "middle", size: float = FONT_SIZE, rotate: Point | None = None) -> tuple[float, float]:
        """Write `content` wrapped to `width`, its first line's top at `top`; return the block's (width, height).

        `anchor` is where `x` is on each line (start or middle); `rotate` turns the block by -90° about that point,
        for the vertical titles of pools and lanes (the caller accounts for the rotated extent).
        """
        lines = wrap(content, width, size)
        if not lines:
            return 0.0, 0.0
        step = size * LINE_HEIGHT
        attrs: dict[str, str | float] = {"x": x, "y": top + size * ASCENT, "text-anchor": anchor, "fill": INK}
        if size != FONT_SIZE:
            attrs["font-size"] = size
        if rotate is not None:
            attrs["transform"] = f"rotate(-90 {num(rotate[0])} {num(rotate[1])})"
        element = self.add(parent, "text", attrs)
        for i, line in enumerate(lines):
            self.add(element, "tspan", {"x": x, "y": top + size * ASCENT + i * step}, line)
        block = max(text_width(line, size) for line in lines), len(lines) * step
        if rotate is None:
            left = x - block[0] / 2 if anchor == "middle" else x
            self.reach(left, top, *block)
        return block

    def finish(self, pad: float = 12.0) -> str:
        """Set the viewBox to everything drawn plus `pad`, and return the document as text."""
        if self.min_x == float("inf"):
            self.min_x = self.min_y = self.max_x = self.max_y = 0.0
        x, y = self.min_x - pad, self.min_y - pad
        w, h = self.max_x - self.min_x + 2 * pad, self.max_y - self.min_y + 2 * pad
        self.root.set("viewBox", f"{num(x)} {num(y)} {num(w)} {num(h)}")
        self.root.set("width", num(w))
        self.root.set("height", num(h))
        return etree.tostring(self.root, encoding="unicode")
