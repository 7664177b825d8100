"""Template filters and globals: masked phone and ID numbers, times in China time, the national code lists."""

from datetime import datetime

from flask import Flask

from engine.calendar import CST
from processes.overview import person_named
from services import identity
from services.codes import CHILD_RELATIONS, ETHNICITIES, MARITAL_STATUSES, SEXES
from services.db import db

# The national code lists by name, for templates that show coded fields.
CODES = {"ethnicities": ETHNICITIES, "marital": MARITAL_STATUSES, "sexes": SEXES, "relations": CHILD_RELATIONS}
# A spouse's facts as case pages and person pages list them: what a claim says and what the resource base holds.
SPOUSE_FIELDS = (("name", "姓名"), ("id_number", "身份证号码"), ("birth_date", "出生日期"), ("ethnicity", "民族"),
                 ("marital_status", "婚姻状况"), ("phone", "联系电话"), ("employer", "工作单位"),
                 ("employer_phone", "单位电话"), ("hukou_division", "户籍地"), ("residence_division", "现居住地"))


def mask_phone(phone: str | None) -> str:
    """Return the phone with its middle four digits hidden, e.g. 138****5678 (a landline keeps its last four)."""
    if not phone:
        return ""
    if len(phone) != 11:
        return "*" * max(len(phone) - 4, 0) + phone[-4:] if len(phone) > 6 else "*" * len(phone)
    return f"{phone[:3]}****{phone[7:]}"


def mask_email(address: str | None) -> str:
    """Return an email address with its local part hidden but for the first character, e.g. w***@example.com."""
    local, at, domain = (address or "").partition("@")
    return f"{local[:1]}***@{domain}" if at else ""


def mask_id(number: str | None) -> str:
    """Return an ID number with its birth date and sequence hidden, e.g. 110101********1234."""
    return identity.mask(number) if number else ""


def china_time(moment: datetime | None) -> str:
    """Return a UTC timestamp as China time, e.g. 2026-03-02 09:30."""
    if moment is None:
        return ""
    return f"{moment.astimezone(CST):%Y-%m-%d %H:%M}"


def person(actor: str | None) -> str:
    """Name the user behind an audit actor such as `user:12` (other actors, like `cli`, as they are)."""
    return person_named(db.session, actor) if actor else ""


def register_filters(app: Flask) -> None:
    """Make the filters available to every template."""
    app.add_template_filter(mask_phone, "mask_phone")
    app.add_template_filter(china_time, "china_time")
    app.add_template_filter(mask_id, "mask_id")
    app.add_template_filter(mask_email, "mask_email")
    app.add_template_filter(person, "person")
    app.add_template_global(CODES, "codes")
    app.add_template_global(SPOUSE_FIELDS, "spouse_fields")
    app.add_template_global(identity.address_warning, "id_address_warning")
