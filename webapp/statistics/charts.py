"""Charts drawn on the server as inline SVG (no script, no CDN): horizontal bars, a donut, month lines.

Every text is escaped; the labels use the page's CJK font. Each chart has a <title> and role="img" for screen
readers; the numbers themselves are in the table beside it.
"""

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = ("#c62828", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#546e7a",
           "#9e9d24")
FONT = "font-family=\"'WenQuanYi Micro Hei','Noto Sans CJK SC','Microsoft YaHei',sans-serif\""


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    # Every part was built from numbers and escape()d labels above.
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'class="chart" {FONT} font-size="13"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _nice_max(value: int) -> int:
    """Return a round axis maximum at or above `value`."""
    if value <= 0:
        return 1
    magnitude = 10 ** int(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude) or 1
    return value


def _integer_ticks(value: int, most: int = 4) -> list[int]:
    """Return evenly spaced whole-number axis ticks from 0 up to at least `value`, at most `most` steps apart.

    The step is 1, 2 or 5 times a power of ten (or 25 times one, from 250 up), never a fraction: counts of cases
    have no halves, and labels rounded from fractional ticks would repeat (0, 1, 1, 2, 2).
    """
    needed = max(value, 1) / most
    magnitude = 10 ** max(int(math.log10(needed)), 0) if needed >= 1 else 1
    step = next(int(factor * magnitude) for factor in (1, 2, 2.5, 5, 10)
                if factor * magnitude >= needed and float(factor * magnitude).is_integer())
    return [step * index for index in range(math.ceil(max(value, 1) / step) + 1)]


def bar_chart(title: str, rows: Sequence[tuple[str, int]]) -> Markup:
    """Draw horizontal bars, one per (label, value), the value written after each bar."""
    label_width, bar_room, row_height, width = 120, 300, 28, 480
    top = _nice_max(max((value for _, value in rows), default=0))
    body = []
    for index, (label, value) in enumerate(rows):
        y = index * row_height + 4
        length = bar_room * value / top
        body.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" fill="#333">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 2}" width="{length:.1f}" height="{row_height - 10}" '
            f'fill="{PALETTE[index % len(PALETTE)]}" rx="2"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}" fill="#333">{value:,}</text>'
        )
    return _svg(width, max(len(rows), 1) * row_height + 8, title, body)


def donut_chart(title: str, rows: Sequence[tuple[str, int]]) -> Markup:
    """Draw a donut of shares, with a legend of labels and percentages beside it."""
    total = sum(value for _, value in rows)
    cx = cy = 90
    outer, inner = 80, 48
    body = []
    if total == 0:
        body.append(f'<circle cx="{cx}" cy="{cy}" r="{(outer + inner) / 2}" fill="none" stroke="#ddd" '
                    f'stroke-width="{outer - inner}"/>')
    angle = -math.pi / 2
    shown = [(label, value) for label, value in rows if value > 0]
    for index, (_label, value) in enumerate(shown):
        color = PALETTE[index % len(PALETTE)]
        if value == total:  # a full ring cannot be drawn as one arc
            body.append(f'<circle cx="{cx}" cy="{cy}" r="{(outer + inner) / 2}" fill="none" stroke="{color}" '
                        f'stroke-width="{outer - inner}"/>')
            continue
        sweep = 2 * math.pi * value / total
        end = angle + sweep
        large = 1 if sweep > math.pi else 0
        points = [(cx + r * math.cos(a), cy + r * math.sin(a)) for r, a in
                  ((outer, angle), (outer, end), (inner, end), (inner, angle))]
        body.append(
            f'<path d="M{points[0][0]:.2f},{points[0][1]:.2f} A{outer},{outer} 0 {large} 1 '
            f'{points[1][0]:.2f},{points[1][1]:.2f} L{points[2][0]:.2f},{points[2][1]:.2f} '
            f'A{inner},{inner} 0 {large} 0 {points[3][0]:.2f},{points[3][1]:.2f} Z" fill="{color}"/>'
        )
        angle = end
    body.append(f'<text x="{cx}" y="{cy + 5}" text-anchor="middle" font-size="15" fill="#333">{total:,}</text>')
    for index, (label, value) in enumerate(shown[:10]):
        y = 20 + index * 22
        share = f"{value / total:.1%}" if total else ""
        body.append(
            f'<rect x="200" y="{y - 11}" width="12" height="12" fill="{PALETTE[index % len(PALETTE)]}"/>'
            f'<text x="218" y="{y}" fill="#333">{escape(label)} {share}</text>'
        )
    return _svg(480, max(190, 20 + min(len(shown), 10) * 22), title, body)


def line_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> Markup:
    """Draw one line per (name, values) over the x labels (months), with a legend and a y axis."""
    width, height, left, right, top_pad, bottom = 480, 240, 48, 28, 28, 36
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    ticks = _integer_ticks(max((max(values, default=0) for _, values in series), default=0))
    top = ticks[-1]
    body = []
    for value in ticks:
        y = top_pad + plot_h - plot_h * value / top
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666" font-size="11">'
                    f'{value:,}</text>')
    count = len(labels)

    def x_of(index: int) -> float:
        return left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    every = max(1, math.ceil(count / 8))
    for index, label in enumerate(labels):
        if index % every == 0 or index == count - 1:
            body.append(f'<text x="{x_of(index):.1f}" y="{height - bottom + 16}" text-anchor="middle" fill="#666" '
                        f'font-size="11">{escape(label)}</text>')
    for number, (name, values) in enumerate(series):
        color = PALETTE[number % len(PALETTE)]
        points = " ".join(f"{x_of(i):.1f},{top_pad + plot_h - plot_h * v / top:.1f}" for i, v in enumerate(values))
        if points:
            body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        body.append(f'<rect x="{left + number * 110}" y="6" width="12" height="12" fill="{color}"/>'
                    f'<text x="{left + number * 110 + 16}" y="16" fill="#333">{escape(name)}</text>')
    return _svg(width, height, title, body)
