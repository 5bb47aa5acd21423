"""Crontab lines read as cron reads them, for APScheduler 3: one reader for every schedule the
configuration gives as a crontab line (the weekly digest, drift jobs).

Why not ``CronTrigger.from_crontab``: APScheduler 3 numbers weekdays from Monday = 0, so its
``from_crontab("0 9 * * 1")`` fires on Tuesdays and ``* * * * 0`` on Mondays, where cron means
Monday and Sunday; it refuses cron's 7 (Sunday too); and it fires only when the day of the month
AND the weekday match, where cron fires when either does once both are restricted
(``0 9 1 * 1``: the 1st of the month and every Monday). Here the weekday field is expanded into
cron's days and handed over by name (``sun``, ``mon``, ...), which APScheduler reads unambiguously,
and a line restricting both days becomes an ``OrTrigger`` of the two.
"""

from __future__ import annotations

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron's 0-6; 7 is Sunday again


def crontab_trigger(line: str, timezone: str = "UTC") -> BaseTrigger:
    """The trigger of a five-field crontab line (minute hour day month weekday), in ``timezone``.
    Raises ValueError naming the field that cron would not read."""
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"'{line}' is not a crontab line (5 fields: minute hour day month weekday)")
    minute, hour, day, month, weekday = fields
    days = weekday_names(weekday)
    common = {"minute": minute, "hour": hour, "month": month, "timezone": timezone}
    if not day.startswith("*") and not weekday.startswith("*"):  # cron: either day matches
        return OrTrigger([CronTrigger(day=day, **common), CronTrigger(day_of_week=days, **common)])
    return CronTrigger(day=day, day_of_week=days, **common)


def weekday_names(field: str) -> str:
    """A crontab weekday field (``1-5``, ``0,6``, ``*/2``, ``mon``, ``5-7``) as the list of day
    names it means in cron, or ``*``."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        span, slash, step_text = part.partition("/")
        step = _number(step_text, "step") if slash else 1
        if step < 1:
            raise ValueError(f"'{field}': a step must be at least 1")
        if span == "*":
            first, last = 0, 6
        else:
            start, dash, end = span.partition("-")
            first = _day(start, field)
            last = _day(end, field) if dash else (6 if slash else first)
        if first > last:
            raise ValueError(f"'{field}': a range goes from the earlier day to the later one (0-7, sun-sat)")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(CRON_DAYS[d] for d in sorted(days))


def _day(text: str, field: str) -> int:
    name = text.lower()
    if name in CRON_DAYS:
        return CRON_DAYS.index(name)
    if name == "7" or (name.isdigit() and int(name) < 7):
        return int(name)
    raise ValueError(f"'{field}' is not a weekday field (0-7 with 0 and 7 Sunday, or sun-sat)")


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"'{text}' is not a {what} (a whole number)")
    return int(text)
