"""Work calendar: public holidays, adjusted working days and deadlines counted in working days (at most
MAX_TIMER_YEARS ahead)."""

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone

from sqlalchemy import Boolean, Date, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from engine.budget import MAX_TIMER_YEARS, horizon
from engine.db import Base, utcnow
from engine.errors import BudgetExceeded

# China Standard Time has had no DST since 1991, so a fixed offset is exact and needs no tz database.
CST = timezone(timedelta(hours=8), "CST")


def china_today() -> date:
    """Return today's date in China, whatever the server's time zone (before 08:00 UTC it is already tomorrow)."""
    return utcnow().astimezone(CST).date()


class HolidayModel(Base):
    """A day whose working status differs from the Monday–Friday rule."""

    __tablename__ = "holiday"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    # False: a public holiday (day off); True: an adjusted working day (调休) falling on a weekend.
    is_workday: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(50))

    def __repr__(self) -> str:
        return f"HolidayModel(day={self.day.isoformat()}, is_workday={self.is_workday}, name={self.name!r})"


class WorkCalendar:
    """Decide which days are working days and compute deadlines counted in working days."""

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        """Build the calendar from `{day: is_workday}` overrides of the Monday–Friday rule."""
        self._overrides: dict[date, bool] = dict(overrides or {})

    def is_working_day(self, d: date) -> bool:
        """Return whether `d` is a working day: the override if any, else Monday to Friday."""
        override = self._overrides.get(d)
        if override is not None:
            return override
        return d.weekday() < 5

    def deadline(self, start: datetime, working_days: int) -> datetime:
        """Return the end of the Nth working day strictly after the start's date in China, as an aware UTC datetime.

        The deadline is the last microsecond (23:59:59.999999 CST) of that working day, so "due by the end of the
        Nth working day" means `now <= deadline`, and converting it back to CST shows the due day itself.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("start must be a timezone-aware datetime")
        if working_days < 1:
            raise ValueError(f"working_days must be at least 1, got {working_days}")
        day = start.astimezone(CST).date()
        # Never walk further than the timer horizon, however many working days are asked for.
        last = horizon(day)
        if working_days > (last - day).days:
            raise BudgetExceeded(f"期限 {working_days} 个工作日超过 {MAX_TIMER_YEARS} 年")
        remaining = working_days
        while remaining:
            day += timedelta(days=1)
            if day > last:
                raise BudgetExceeded(f"期限 {working_days} 个工作日超过 {MAX_TIMER_YEARS} 年")
            if self.is_working_day(day):
                remaining -= 1
        return datetime.combine(day, time.max, tzinfo=CST).astimezone(UTC)


def load_calendar(session: Session) -> WorkCalendar:
    """Build the work calendar from every holiday row."""
    return WorkCalendar(dict(session.execute(select(HolidayModel.day, HolidayModel.is_workday)).all()))
