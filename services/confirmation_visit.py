"""The 现场确认 visit: where the couple goes, when the office is open, what they bring, and by when it is booked.

The place is the township's own address when the administrator has entered it (`CONFIRMATION_PLACES`, by the
9-digit township code), else the township's health office named from the division table; the hours are
`CONFIRMATION_HOURS`. The date shown to the citizen is the office's appointment (the due date of the township's
offline-confirmation task), never a deadline of the citizen's: missing it does not end the application.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from engine.calendar import CST
from engine.models import HumanTaskModel
from services import divisions

# The user task's form key that marks the visit, whatever the diagram calls the step.
VISIT_FORM = "offline_confirmation"
# Originals, brought by both spouses together.
DOCUMENTS = ("身份证", "户口簿", "结婚证")
DEFAULT_HOURS = "工作日上午9:00—12:00、下午14:00—17:00"
APPOINTMENT_NOTE = ("此日期是为您预约的现场确认日期，不是您的办理截止期限；如当天不便前往，"
                    "请在办公时间联系该办公室另约时间，申请不会因此失效。")

# The SMS template fields `sms_fields` fills.
FIELDS = ("place", "hours", "documents")

_hours = {"text": DEFAULT_HOURS}
_places: dict[str, str] = {}  # 9-digit township code -> the office's address


def configure(settings: Mapping[str, object]) -> None:
    """Take the office hours and the townships' addresses from settings (CONFIRMATION_HOURS, CONFIRMATION_PLACES)."""
    hours = str(settings.get("CONFIRMATION_HOURS") or "").strip()
    places = settings.get("CONFIRMATION_PLACES") or {}
    _hours["text"] = hours or DEFAULT_HOURS
    _places.clear()
    _places.update({str(code).strip(): str(text).strip() for code, text in dict(places).items()})


@dataclass(frozen=True)
class Visit:
    """What a citizen needs to go to the 现场确认: place, hours, documents and the booked date (if known)."""

    place: str
    hours: str
    documents: str
    appointment: date | None = None
    note: str = APPOINTMENT_NOTE


def place(session: Session, village_code: str) -> str:
    """Return where the couple confirms: the township's entered address, else its health office's name."""
    office = divisions.township_office(session, village_code)
    address = _places.get(village_code[:9], "")
    return f"{office}（{address}）" if address and address not in office else office


def hours() -> str:
    """Return the office hours of the 现场确认."""
    return _hours["text"]


def documents() -> str:
    """Return what to bring, as a sentence: 身份证、户口簿、结婚证原件."""
    return f"{'、'.join(DOCUMENTS)}原件"


def visit(session: Session, village_code: str, due_at: datetime | None = None) -> Visit:
    """Return the visit for a case under `village_code`, booked for the day of `due_at` (China time) if given."""
    booked = due_at.astimezone(CST).date() if due_at else None
    return Visit(place(session, village_code), hours(), documents(), booked)


def sms_fields(session: Session, village_code: str) -> dict[str, str]:
    """Return the SMS template fields of the visit: `place`, `hours` and `documents`."""
    return {"place": place(session, village_code), "hours": hours(), "documents": documents()}


def open_visit(session: Session, village_code: str, tasks: Iterable[HumanTaskModel]) -> Visit | None:
    """Return the visit a case is waiting for (its 现场确认 task is open), booked for that task's due day."""
    task = next((t for t in tasks if t.status == "open" and t.form_key == VISIT_FORM), None)
    return None if task is None else visit(session, village_code, task.due_at)
