"""Diagrams from other modelers on the review page: uploaded for review, then drawn faithfully in a real browser.

Three diagrams that pass lint, each in another modeler's conventions (Camunda 7 with lanes, a group, an annotation
and a data object; Signavio with two pools, message flows and two `BPMNDiagram`s; spiff-arena's `spiffworkflow:`
dialect with a data store), are stored for review and their review page (/admin/processes/<id>) is opened by a
policy administrator. The screenshots are saved as test-artifacts/screenshots/review-<name>.png.
"""

from pathlib import Path

import pytest

from processes import definitions_admin as definitions
from processes.roles import POLICY_ADMIN
from services import accounts
from tests.e2e.conftest import SCREENSHOTS, staff_sign_in
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.e2e

DRAWINGS = Path(__file__).resolve().parents[1] / "engine" / "diagrams" / "drawing"
# Diagram → element ids the review page must show (each drawn once) and a name it must read.
FOREIGN = {
    "camunda7_style": ({"Group_verification", "TextAnnotation_sla", "DataObjectReference_materials",
                        "Event_overdue"}, "村级核实"),
    "signavio_style": ({"sid-POOL-POLICE", "sid-MSG-QUERY", "sid-MSG-REPLY", "sid-POLICE-LOOKUP"}, "核查结果"),
    "spiff_arena_style": ({"DataStoreReference_registry", "TextAnnotation_note", "compute_results"}, "户籍库"),
}


def test_foreign_diagrams_are_drawn_on_the_review_page(session, deployed, browser_context):  # noqa: ARG001
    admin = accounts.create_user(session, phone="13900000091", name="郑流程", role=POLICY_ADMIN,
                                 password=PASSWORD, division_code=None)
    stored = {}
    for name in FOREIGN:
        xml = (DRAWINGS / f"{name}.bpmn").read_bytes()
        assert definitions.validate(session, xml).problems == []
        stored[name], _ = definitions.upload(session, xml, "policy:test")
    session.commit()
    page = browser_context().new_page()
    page.goto("/auth/login?next=/admin/processes/")
    staff_sign_in(page, admin, PASSWORD, "**/admin/processes/")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, (element_ids, text) in FOREIGN.items():
        page.goto(f"/admin/processes/{stored[name].id}")
        diagram = page.locator(".diagram-preview svg")
        assert diagram.count() == 1
        for element_id in element_ids:
            assert diagram.locator(f'g[data-element="{element_id}"]').count() == 1, element_id
        assert text in diagram.text_content()
        box = diagram.bounding_box()
        assert box["width"] > 300
        assert box["height"] > 150
        page.screenshot(path=str(SCREENSHOTS / f"review-{name}.png"), full_page=True)
