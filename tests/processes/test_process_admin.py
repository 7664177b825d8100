"""Process administration at the service level: review, activate and retire versions; act on and migrate cases."""

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.errors import TaskConflict
from engine.models import AuditEventModel, HumanTaskModel, ProcessInstanceModel
from processes import casework
from processes import definitions_admin as admin
from processes import instances_admin as instances
from processes.roles import COUNTY_OFFICIAL
from tests.fixtures import decide, forget, open_steps, open_task, refreshed

DIAGRAMS = Path(__file__).resolve().parents[1] / "diagrams"
POLICY_2021 = (DIAGRAMS / "birth_registration_2021.bpmn").read_bytes()
COUNTY_REVIEW = (DIAGRAMS / "birth_registration_county_review.bpmn").read_bytes()
ADMIN = "user:policy"


def put_in_service(session, xml):
    """Upload a diagram for review and activate it, as the policy administrator does."""
    definition, _ = admin.upload(session, xml, ADMIN)
    assert not definition.active
    admin.activate(session, definition)
    session.commit()
    return definition


def test_upload_is_stored_for_review_and_new_cases_start_on_it_only_once_activated(session, deployed):
    definition, created = admin.upload(session, POLICY_2021, ADMIN)
    session.commit()
    assert created
    assert (definition.version, definition.active) == (2, False)
    assert casework.offered_types(session)["third_child"] == "third_child_approval"
    assert admin.current(session, "birth_registration").id == deployed["birth_registration"].id

    admin.activate(session, definition)
    session.commit()
    assert casework.offered_types(session)["third_child"] == "birth_registration"
    assert admin.current(session, "birth_registration").id == definition.id


def test_the_2021_policy_change_without_code(session, people, submit):
    running = submit("third_child", same_village=True)
    assert open_steps(session, running) == ["verify_hukou"]

    put_in_service(session, POLICY_2021)
    new = submit("third_child", same_village=True)
    assert new.process_key == "birth_registration"
    assert open_steps(session, new) == ["verify_both"]

    # The approval case already running finishes under the old process, through its own steps.
    running = decide(session, running, "verify_hukou", people.hukou, "verified")
    running = decide(session, running, "township_review", people.township, "passed")
    running = decide(session, running, "offline_confirmation", people.township, "approved")
    assert running.status == "已批准"
    assert session.get(ProcessInstanceModel, running.instance_id).definition.key == "third_child_approval"

    new = decide(session, new, "verify_both", people.hukou, "verified")
    new = decide(session, new, "township_audit", people.township, "approved")
    assert new.status == "登记成功"


def test_diff_names_the_changes_against_the_current_version(session, deployed):
    instances.save_assignment(session, "县级复核", COUNTY_OFFICIAL, "hukou_division", ADMIN)
    parsed = admin.validate(session, COUNTY_REVIEW).parsed
    assert parsed is not None
    found = admin.diff(session, parsed.diagram, deployed["birth_registration"])
    assert found.added == ["「县级复核」(county_review)"]
    assert found.removed == []
    assert "流程属性 caseTypes：first_child,second_child → first_child,second_child,third_child" in found.changed
    assert admin.diff(session, admin.parsed_of(session, deployed["birth_registration"]).diagram,
                      deployed["birth_registration"]).empty


def test_a_new_lane_is_refused_until_an_assignment_rule_maps_it(session, deployed):  # noqa: ARG001
    problems = admin.validate(session, COUNTY_REVIEW).problems
    assert any("「县级复核」(county_review)：未知角色 县级复核" in p for p in problems), problems
    instances.save_assignment(session, "县级复核", COUNTY_OFFICIAL, "hukou_division", ADMIN)
    assert admin.validate(session, COUNTY_REVIEW).problems == []


def test_county_review_step_added_by_diagram_only(session, people, submit):
    instances.save_assignment(session, "县级复核", COUNTY_OFFICIAL, "hukou_division", ADMIN)
    put_in_service(session, COUNTY_REVIEW)
    case = submit("first_child", same_village=True)
    case = decide(session, case, "verify_both", people.hukou, "verified")
    case = decide(session, case, "township_audit", people.township, "approved")
    task = open_task(session, case, "county_review")
    assert (task.role, task.division_code, task.form_key) == (COUNTY_OFFICIAL, case.hukou_division, "township_audit")
    case = decide(session, case, "county_review", people.county, "approved")
    assert case.status == "登记成功"


def test_dry_run_covers_every_decision_and_reports_each_end(session, deployed):
    instances.save_assignment(session, "县级复核", COUNTY_OFFICIAL, "hukou_division", ADMIN)
    report = admin.dry_run(session, admin.validate(session, COUNTY_REVIEW).parsed)
    assert report.ok, [(p.steps, p.end) for p in report.paths if p.outcome != "completed"]
    ends = {p.end for p in report.paths}
    assert ends == {"登记成功", "不予登记"}
    assert any("县级复核：不通过" in p.steps for p in report.paths)
    assert any("村（居）核实（户籍地与现居住地相同）：情况不符" in p.steps for p in report.paths)
    assert {el.id for el in report.unreached} >= {"verify_both_overdue"}, "timers do not fire in a dry run"
    assert "county_review" not in {el.id for el in report.unreached}
    assert session.scalar(select(ProcessInstanceModel.id)) is None, "a dry run stores nothing"


def test_retiring_the_only_process_of_a_type_is_refused(session, deployed):
    with pytest.raises(admin.RetireRefused, match="一孩登记"):
        admin.retire(session, deployed["birth_registration"])
    assert deployed["birth_registration"].active
    newer = put_in_service(session, POLICY_2021)
    admin.retire(session, newer)  # v1 still serves first and second child; third child goes back to approval
    session.commit()
    assert casework.offered_types(session)["third_child"] == "third_child_approval"


def test_suspend_resume_cancel_and_move_are_audited(session, people, submit):
    case = submit("first_child", same_village=True)
    instance_id = case.instance_id
    instances.act(session, instance_id, "suspend", ADMIN, reason="核查材料")
    session.commit()
    with pytest.raises(TaskConflict, match="暂停"):
        decide(session, case, "verify_both", people.hukou, "verified")
    forget(session)
    instances.act(session, instance_id, "resume", ADMIN)
    session.commit()
    case = decide(session, case, "verify_both", people.hukou, "verified")
    assert open_steps(session, case) == ["township_audit"]

    instances.act(session, instance_id, "move", ADMIN, reason="村里核实有误，重新核实", target="verify_both")
    session.commit()
    case = refreshed(session, case)
    assert open_steps(session, case) == ["verify_both"]

    with pytest.raises(instances.InvalidRequest, match="原因"):
        instances.act(session, instance_id, "cancel", ADMIN, reason=" ")
    instances.act(session, instance_id, "cancel", ADMIN, reason="申请人撤回")
    session.commit()
    case = refreshed(session, case)
    assert open_steps(session, case) == []
    kinds = [e.kind for e in instances.events(session, instance_id) if e.actor == ADMIN]
    assert kinds == ["suspended", "resumed", "token_moved", "cancelled"]


def test_migration_dry_run_migrate_and_revert(session, people, submit):
    at_audit = submit("first_child", same_village=True)
    at_audit = decide(session, at_audit, "verify_both", people.hukou, "verified")
    at_village = submit("first_child", same_village=True)
    instances.save_assignment(session, "县级复核", COUNTY_OFFICIAL, "hukou_division", ADMIN)
    source = admin.current(session, "birth_registration")
    target = put_in_service(session, COUNTY_REVIEW)

    checks = {c.business_key: c for c in instances.migration_dry_run(session, source, target)}
    assert checks[at_audit.case_number].movable
    assert checks[at_village.case_number].movable
    moved, left = instances.migrate_all(session, source, target, ADMIN)
    session.commit()
    assert len(moved) == 2
    assert left == []

    # A migrated case passes through the new step.
    at_audit = decide(session, at_audit, "township_audit", people.township, "approved")
    assert open_steps(session, at_audit) == ["county_review"]

    # The untouched one can go back; the one that moved on cannot.
    done, refused = instances.revert(session, moved, ADMIN)
    session.commit()
    assert done == 1
    assert len(refused) == 1
    assert "新的办理记录" in refused[0]
    forget(session)
    back = session.get(ProcessInstanceModel, at_village.instance_id)
    assert back.definition_id == source.id
    at_village = decide(session, at_village, "verify_both", people.hukou, "verified")
    at_village = decide(session, at_village, "township_audit", people.township, "approved")
    assert at_village.status == "登记成功"
    kinds = [e.kind for e in session.scalars(select(AuditEventModel).where(
        AuditEventModel.instance_id == back.id).order_by(AuditEventModel.id))]
    assert kinds.index("migrated") + 1 == kinds.index("migration_reverted")
    assert session.scalar(select(HumanTaskModel.id).where(HumanTaskModel.bpmn_id == "county_review",
                                                          HumanTaskModel.instance_id == back.id)) is None
