"""Golden images of the server-drawn diagrams, rasterised by Debian's Chromium and compared with checked-in PNGs.

Each diagram under tests/engine/diagrams/drawing/ (the shipped ones and ones written in the conventions of other
modelers) is drawn by `render_svg`, placed alone on a page and screenshotted. A drawing matches its golden image when
fewer than 0.5 % of the pixels differ by more than a small threshold (anti-aliasing may vary). `UPDATE_GOLDEN=1`
writes the images instead; look at every one before checking it in.
"""

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from engine.svg import render_svg

pytestmark = pytest.mark.e2e

ENGINE_TESTS = Path(__file__).resolve().parents[1] / "engine"
DRAWINGS = ENGINE_TESTS / "diagrams" / "drawing"
GOLDEN = ENGINE_TESTS / "golden"
PIXEL_THRESHOLD = 48  # on the 0–255 scale of the largest channel difference
MAX_DIFFERING = 0.005


def rasterise(chromium, svg: str) -> bytes:
    """Return a PNG of `svg` drawn alone on a white page by Chromium."""
    page = chromium.new_page(viewport={"width": 2400, "height": 1400})
    try:
        page.set_content(f"<!doctype html><html><body style='margin:0;background:#fff'>{svg}</body></html>")
        return page.locator("svg").first.screenshot()
    finally:
        page.close()


def differing_share(actual: Image.Image, expected: Image.Image) -> float:
    """Return the share of pixels whose largest channel difference exceeds the threshold."""
    difference = ImageChops.difference(actual.convert("RGB"), expected.convert("RGB"))
    channels = difference.split()
    largest = ImageChops.lighter(ImageChops.lighter(channels[0], channels[1]), channels[2])
    over = largest.point(lambda value: 255 if value > PIXEL_THRESHOLD else 0)
    return over.histogram()[255] / (actual.width * actual.height)


@pytest.mark.parametrize("name", sorted(p.stem for p in DRAWINGS.glob("*.bpmn")))
def test_drawing_matches_its_golden_image(chromium, name):
    png = rasterise(chromium, render_svg((DRAWINGS / f"{name}.bpmn").read_bytes()))
    golden = GOLDEN / f"{name}.png"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_bytes(png)
        return
    assert golden.exists(), f"no golden image {golden}: run with UPDATE_GOLDEN=1 and look at it"
    actual, expected = Image.open(io.BytesIO(png)), Image.open(golden)
    assert actual.size == expected.size, f"{name}: drawn {actual.size}, golden {expected.size}"
    share = differing_share(actual, expected)
    assert share < MAX_DIFFERING, f"{name}: {share:.2%} of the pixels differ from {golden.name}"
