"""Template filters: masked phone numbers and times in China time."""

from datetime import datetime

from flask import Flask

from engine.calendar import CST


def mask_phone(phone: str | None) -> str:
    """Return the phone with its middle four digits hidden, e.g. 138****5678."""
    if not phone:
        return ""
    if len(phone) != 11:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[7:]}"


def china_time(moment: datetime | None) -> str:
    """Return a UTC timestamp as China time, e.g. 2026-03-02 09:30."""
    if moment is None:
        return ""
    return f"{moment.astimezone(CST):%Y-%m-%d %H:%M}"


def register_filters(app: Flask) -> None:
    """Make the filters available to every template."""
    app.add_template_filter(mask_phone, "mask_phone")
    app.add_template_filter(china_time, "china_time")
