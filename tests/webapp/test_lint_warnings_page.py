"""Lint's warnings reach the policy administrator: on the review page an upload lands on, without blocking it."""

from pathlib import Path

from tests.fixtures import dry_run_done
from tests.webapp.test_process_admin_pages import policy, upload

__all__ = ["policy"]  # a fixture shared with the other 流程管理 page tests: a signed-in policy administrator

GATEWAY_MAY_FAIL = Path(__file__).resolve().parents[1] / "engine" / "diagrams" / "lint_gateway_may_fail.bpmn"


def test_an_upload_with_a_gateway_that_may_fail_is_stored_and_its_review_page_warns(policy):
    response = upload(policy, GATEWAY_MAY_FAIL.read_bytes())
    assert response.status_code == 302, response.text
    page = dry_run_done(policy, response.location)
    assert page.status_code == 200
    assert "提醒（1 条，不影响启用）" in page.text
    assert "「审核结果？」(uncovered)：网关没有默认流，若所有条件都不成立，案件将在此出错停止" in page.text
    assert "(covered)" not in page.text.split("提醒")[1].split("</section>")[0]


def test_a_version_without_warnings_shows_no_warning_block(policy):
    page = dry_run_done(policy, upload(policy, (Path(__file__).resolve().parents[1] / "diagrams"
                                                / "birth_registration_2021.bpmn").read_bytes()).location)
    assert "不影响启用" not in page.text
