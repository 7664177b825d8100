"""The engine tests' fixture diagrams (tests/engine/diagrams), and parsing one that must be refused."""

from pathlib import Path

import pytest

from engine.definitions import parse
from engine.errors import DiagramRejected
from processes.vocabulary import VOCABULARY

DIAGRAMS = Path(__file__).resolve().parent / "diagrams"


def diagram(name: str) -> bytes:
    """Return the bytes of a fixture diagram."""
    return (DIAGRAMS / f"{name}.bpmn").read_bytes()


def problems_of(xml: bytes) -> list[str]:
    """Parse a diagram that must be refused and return its problems."""
    with pytest.raises(DiagramRejected) as caught:
        parse(xml, VOCABULARY)
    return caught.value.problems
