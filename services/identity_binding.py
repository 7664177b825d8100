"""Identity confirmed in person: a service hall checks the ID card and binds the number to the person's account.

An account registered with an ID number that another account already holds keeps the number only as a claim. The
person comes to a hall with their ID card; staff find the account by its phone, check the card and the name, and
confirm: the number moves to this account at the in-person level, the previous holder keeps theirs as a claim only
(seeing nothing of that person any more) and is told by SMS. Confirming an account that already holds its number
just raises its level. Every confirmation is audited.
"""

from sqlalchemy.orm import Session

from services import accounts, audit, identity_check, notifications
from services.accounts import UserModel


class BindingRefused(Exception):
    """Nothing was changed; the message says why, in Chinese."""


def confirm_in_person(session: Session, staff: UserModel, account: UserModel, id_number: str, name: str,
                      office: str) -> UserModel | None:
    """Bind `id_number` to `account` at the in-person level; return the previous holder, if any (flush only).

    `id_number` and `name` are what staff read from the ID card in front of them; they must be what the account
    registered with, so a clerk cannot hand one person's number to another account by mistake.
    """
    if account.role != "citizen" or not account.active:
        raise BindingRefused("该账号不是有效的申请人账号")
    if account.id_number != id_number or account.name != name.strip():
        raise BindingRefused("证件上的姓名或身份证号码与该账号注册时填写的不一致，请申请人核对或重新注册")
    previous = accounts.holder_of_id_number(session, id_number)
    if previous is not None and previous.id != account.id:
        previous.id_number_hash, previous.identity_level = None, identity_check.SELF_ASSERTED
        session.flush()  # the unique hash must leave the old holder before it reaches the new one
        notifications.send_sms(session, [previous.phone], "identity_rebound", {"office": office})
    else:
        previous = None
    accounts.bind_id_number(account, id_number)
    account.identity_level = identity_check.IN_PERSON
    audit.record(session, staff.actor, "identity_confirmed", user_id=account.id,
                 previous_holder_id=previous.id if previous else None, division=staff.division_code)
    return previous
