"""Crontab lines fire when cron would fire them (scheduler/cron.py): APScheduler 3's own
``from_crontab`` numbers weekdays from Monday, so ``0 9 * * 1`` ran drift jobs on Tuesdays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import ValidationError

from scheduler.cron import crontab_trigger, weekday_names

SATURDAY = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def next_fire(line: str, after: datetime = SATURDAY) -> datetime:
    fire = crontab_trigger(line).get_next_fire_time(None, after)
    assert fire is not None
    return fire


def test_weekday_numbers_are_crons_monday_is_1_and_sunday_0_or_7() -> None:
    assert next_fire("0 9 * * 1") == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday
    assert next_fire("0 9 * * 1").strftime("%A") == "Monday"
    assert next_fire("0 9 * * 0") == datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # a Sunday
    assert next_fire("0 9 * * 0").strftime("%A") == "Sunday"
    assert next_fire("0 9 * * 7").strftime("%A") == "Sunday"
    assert next_fire("0 9 * * mon").strftime("%A") == "Monday"
    assert next_fire("30 18 * * 5", SATURDAY).strftime("%A %H:%M") == "Friday 18:30"


def test_ranges_lists_and_steps_of_weekdays() -> None:
    assert weekday_names("1-5") == "mon,tue,wed,thu,fri"
    assert weekday_names("5-7") == "sun,fri,sat"
    assert weekday_names("0,6") == "sun,sat"
    assert weekday_names("*/2") == "sun,tue,thu,sat"  # cron counts steps from Sunday
    assert weekday_names("sat") == "sat"
    assert weekday_names("*") == "*"
    fires, at = [], SATURDAY
    for _ in range(5):
        at = next_fire("0 9 * * 1-5", at + timedelta(minutes=1))
        fires.append(at.strftime("%a"))
    assert fires == ["Mon", "Tue", "Wed", "Thu", "Fri"]


def test_a_line_restricting_both_days_fires_on_either_as_cron_does() -> None:
    # the 1st of the month OR a Monday: December 2026 starts on a Tuesday
    assert next_fire("0 9 1 * 1", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)) == datetime(2026, 12, 1, 9, 0,
                                                                                          tzinfo=UTC)
    assert next_fire("0 9 1 * 1", datetime(2026, 12, 1, 10, 0, tzinfo=UTC)) == datetime(2026, 12, 7, 9, 0,
                                                                                         tzinfo=UTC)


@pytest.mark.parametrize("line", ["0 9 * * 8", "0 9 * *", "0 9 * * 5-1", "0 9 * * */0", "0 9 * * funday",
                                  "61 9 * * 1"])
def test_lines_cron_would_not_read_are_refused(line: str) -> None:
    with pytest.raises(ValueError):
        crontab_trigger(line)


def test_drift_jobs_are_scheduled_by_crons_weekdays_and_bad_lines_refused_in_the_config() -> None:
    from bot.features.drift import DriftScheduler
    from bot.features.drift_jobs import DriftJob

    source: Any = {"kind": "parquet", "reference": "ref.parquet", "current": "cur.parquet"}
    jobs = [DriftJob(model="monday-model", cron="0 9 * * 1", features=["x"], source=source),
            DriftJob(model="sunday-model", cron="0 9 * * 0", features=["x"], source=source)]
    scheduler = AsyncIOScheduler(timezone="UTC")
    container: Any = SimpleNamespace(scheduler=scheduler)
    DriftScheduler(container, runner=None, jobs=jobs).schedule()  # type: ignore[arg-type]
    fires = {job.id: job.trigger.get_next_fire_time(None, SATURDAY) for job in scheduler.get_jobs()}
    assert fires["drift:monday-model"].strftime("%A %H:%M") == "Monday 09:00"
    assert fires["drift:sunday-model"].strftime("%A %H:%M") == "Sunday 09:00"
    assert fires["drift:sunday-model"] - SATURDAY == timedelta(hours=21)
    with pytest.raises(ValidationError, match="not a crontab line"):
        DriftJob(model="m", cron="0 9 * * 8", features=["x"], source=source)
