"""Identity confirmed in person: an ID number registered first by someone else is no dead end for its owner.

刘强's number was registered first by an impostor. 刘强 registers too (his account keeps the number as a claim),
comes to the hall with his ID card, and the township clerk binds the number to his account: the impostor's account
loses it and is told by SMS; everything is audited.
"""

from sqlalchemy import select

from engine.models import AuditEventModel
from services import accounts, identity_check, notifications
from tests.applications import MAN_ID
from tests.fixtures import csrf_token, forget, post_form, sign_in

IMPOSTOR_PHONE, OWNER_PHONE = "13700000001", "13700000002"


def _register(session, phone, name):
    user = accounts.register_citizen(session, phone=phone, name=name, id_number=MAN_ID, password="Test@12345")
    session.commit()
    return user.id


def test_a_number_held_by_another_account_is_kept_as_a_claim_and_bound_at_the_hall(client, session, people):
    impostor_id = _register(session, IMPOSTOR_PHONE, "刘强")
    owner_id = _register(session, OWNER_PHONE, "刘强")
    forget(session)
    assert session.get(accounts.UserModel, impostor_id).holds_id_number
    owner = session.get(accounts.UserModel, owner_id)
    assert not owner.holds_id_number, "the second registration keeps the number as a claim only"
    assert owner.identity_level == identity_check.SELF_ASSERTED

    sign_in(client, session.merge(people.township))
    found = post_form(client, "/staff/hall/identity", "/staff/hall/identity", {"phone": OWNER_PHONE})
    assert found.status_code == 200
    assert "未绑定（需现场核验）" in found.text
    assert MAN_ID not in found.text, "the number is masked on the page"
    refused = client.post("/staff/hall/identity/confirm", data={
        "csrf_token": csrf_token(found.text), "phone": OWNER_PHONE, "name": "刘强", "id_number": MAN_ID})
    assert "请先核对身份证原件与本人" in refused.text
    confirmed = client.post("/staff/hall/identity/confirm", data={
        "csrf_token": csrf_token(found.text), "phone": OWNER_PHONE, "name": "刘强", "id_number": MAN_ID,
        "checked": "y"})
    assert "已完成现场身份核验" in confirmed.text

    forget(session)
    owner, impostor = session.get(accounts.UserModel, owner_id), session.get(accounts.UserModel, impostor_id)
    assert (owner.holds_id_number, owner.identity_level) == (True, identity_check.IN_PERSON)
    assert (impostor.holds_id_number, impostor.identity_level) == (False, identity_check.SELF_ASSERTED)
    assert accounts.holder_of_id_number(session, MAN_ID).id == owner_id
    assert any("现场核验" in text for text in notifications.delivered_to(IMPOSTOR_PHONE))
    [event] = session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "identity_confirmed")).all()
    assert event.detail["user_id"] == owner_id
    assert event.detail["previous_holder_id"] == impostor_id
    assert event.actor == people.township.actor


def test_a_card_that_does_not_fit_the_account_changes_nothing(client, session, people):
    owner_id = _register(session, OWNER_PHONE, "刘强")
    sign_in(client, session.merge(people.township))
    found = post_form(client, "/staff/hall/identity", "/staff/hall/identity", {"phone": OWNER_PHONE})
    answer = client.post("/staff/hall/identity/confirm", data={
        "csrf_token": csrf_token(found.text), "phone": OWNER_PHONE, "name": "刘小强", "id_number": MAN_ID,
        "checked": "y"})
    assert "不一致" in answer.text
    forget(session)
    assert session.get(accounts.UserModel, owner_id).identity_level == identity_check.SELF_ASSERTED
    assert session.scalars(select(AuditEventModel).where(AuditEventModel.kind == "identity_confirmed")).all() == []


def test_only_hall_staff_may_confirm_identities(client, session, people):
    _register(session, OWNER_PHONE, "刘强")
    sign_in(client, session.merge(people.hukou))
    assert client.get("/staff/hall/identity").status_code == 403
    assert client.post("/staff/hall/identity/confirm", data={"phone": OWNER_PHONE}).status_code in {400, 403}
