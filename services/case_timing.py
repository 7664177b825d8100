"""How long a case took, counted in working days: stamped on the case when it completes, so that statistics can
count processing times and overdue cases in SQL without walking the calendar for every case.

Two numbers per completed case, both in working days of the holiday calendar (engine.calendar.WorkCalendar):

- `processing_days`: the working days after the submission date (China time) up to and including the completion
  date; 0 when done on the day it came in.
- `on_time_within`: the shortest promised limit N the completion met, i.e. the least N with
  `completed_at <= WorkCalendar.deadline(submitted_at, N)`, so the case is overdue under limit N exactly when
  `on_time_within > N`. It equals `processing_days`, plus one when the case was completed on a day off after
  the last working day it used (the deadline ends with that working day).
"""

from datetime import date, datetime, timedelta

from engine.calendar import CST, WorkCalendar

ORIGIN = date(2000, 1, 1)


class WorkingDays:
    """Working days between China dates, answered from cumulative counts cached by day (cheap for many cases)."""

    def __init__(self, calendar: WorkCalendar, origin: date = ORIGIN):
        # One case needs only the days from its own submission: `origin` spares walking the calendar from 2000.
        self.calendar = calendar
        self.origin = origin
        self._cumulative = [0]  # working days in (origin, origin + i]

    def _ordinal(self, day: date) -> int:
        index = (day - self.origin).days
        if index < 0:
            raise ValueError(f"dates before {self.origin} are not counted")
        while len(self._cumulative) <= index:
            next_day = self.origin + timedelta(days=len(self._cumulative))
            self._cumulative.append(self._cumulative[-1] + self.calendar.is_working_day(next_day))
        return self._cumulative[index]

    def between(self, start: datetime, end: datetime) -> int:
        """Return the working days after `start`'s China date up to and including `end`'s."""
        return max(self._ordinal(end.astimezone(CST).date()) - self._ordinal(start.astimezone(CST).date()), 0)

    def stamp(self, submitted_at: datetime, completed_at: datetime) -> dict[str, int]:
        """Return the stored timing columns of a case submitted and completed at these moments."""
        days = self.between(submitted_at, completed_at)
        finished_on = completed_at.astimezone(CST).date()
        off_day = days > 0 and not self.calendar.is_working_day(finished_on)
        return {"processing_days": days, "on_time_within": days + off_day}
