"""The pure schedule rules: validation, next slot, spread default time, catch-up coalescing."""
from datetime import datetime, timedelta, timezone

import pytest

from app.backups.schedule.rules import (
    ScheduleSpec,
    default_time_for,
    due_slot,
    next_slot,
    unknown_fields,
    validate_settings,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


VALID = {
    "enabled": True,
    "frequency": "daily",
    "timeOfDay": "02:30",
    "dayOfWeek": None,
    "retentionDays": 30,
    "retentionCount": None,
}


def test_valid_settings_have_no_errors():
    assert validate_settings(VALID) == {}
    assert validate_settings({**VALID, "frequency": "weekly", "dayOfWeek": 6, "retentionCount": 5}) == {}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"frequency": "hourly"}, "frequency"),
        ({"timeOfDay": "24:00"}, "timeOfDay"),
        ({"timeOfDay": "7:00"}, "timeOfDay"),
        ({"timeOfDay": 700}, "timeOfDay"),
        ({"frequency": "weekly", "dayOfWeek": None}, "dayOfWeek"),
        ({"frequency": "weekly", "dayOfWeek": 7}, "dayOfWeek"),
        ({"dayOfWeek": True}, "dayOfWeek"),
        ({"retentionDays": 0}, "retentionDays"),
        ({"retentionDays": "30"}, "retentionDays"),
        ({"retentionCount": -1}, "retentionCount"),
        ({"retentionCount": 2.5}, "retentionCount"),
        ({"retentionDays": None, "retentionCount": None}, "retentionDays"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_each_invalid_value_is_reported_on_its_field(change, field):
    errors = validate_settings({**VALID, **change})
    assert field in errors and errors[field]


def test_unknown_fields_are_reported_but_read_only_next_run_is_tolerated():
    assert unknown_fields({"frequency": "daily", "nextRunAt": "x"}) == {}
    assert set(unknown_fields({"colour": "red"})) == {"colour"}


def test_daily_next_slot_is_today_or_tomorrow_at_the_time():
    spec = ScheduleSpec("daily", "02:30")
    assert next_slot(spec, at("2026-03-10T01:00:00")) == at("2026-03-10T02:30:00")
    assert next_slot(spec, at("2026-03-10T02:30:00")) == at("2026-03-11T02:30:00")
    assert next_slot(spec, at("2026-12-31T23:59:00")) == at("2027-01-01T02:30:00")


def test_every_6h_slots_start_at_the_time_of_day():
    spec = ScheduleSpec("every_6h", "02:30")
    assert next_slot(spec, at("2026-03-10T00:00:00")) == at("2026-03-10T02:30:00")
    assert next_slot(spec, at("2026-03-10T09:00:00")) == at("2026-03-10T14:30:00")
    assert next_slot(spec, at("2026-03-10T20:31:00")) == at("2026-03-11T02:30:00")
    assert next_slot(ScheduleSpec("every_6h", "23:00"), at("2026-03-10T00:00:00")) == at("2026-03-10T05:00:00")


def test_every_12h_slots():
    spec = ScheduleSpec("every_12h", "13:15")
    assert next_slot(spec, at("2026-03-10T00:00:00")) == at("2026-03-10T01:15:00")
    assert next_slot(spec, at("2026-03-10T01:15:00")) == at("2026-03-10T13:15:00")


def test_weekly_slot_lands_on_the_day_monday_being_zero():
    spec = ScheduleSpec("weekly", "04:00", day_of_week=0)
    # 2026-03-10 is a Tuesday.
    assert next_slot(spec, at("2026-03-10T12:00:00")) == at("2026-03-16T04:00:00")
    assert next_slot(spec, at("2026-03-16T03:59:00")) == at("2026-03-16T04:00:00")
    assert next_slot(spec, at("2026-03-16T04:00:00")) == at("2026-03-23T04:00:00")
    assert next_slot(ScheduleSpec("weekly", "04:00", 6), at("2026-03-10T12:00:00")).weekday() == 6


def test_default_time_is_deterministic_and_spread_across_the_day():
    assert default_time_for("tenant-a") == default_time_for("tenant-a")
    times = [default_time_for(f"client-{i}") for i in range(2000)]
    hours = {t[:2] for t in times}
    assert len(hours) == 24
    per_hour = [sum(t.startswith(f"{h:02d}") for t in times) for h in range(24)]
    assert max(per_hour) < 2000 / 24 * 1.5
    assert all(validate_settings({**VALID, "timeOfDay": t}) == {} for t in times[:50])


def test_nothing_is_due_before_the_next_run():
    spec = ScheduleSpec("daily", "02:30", next_run_at=at("2026-03-10T02:30:00"))
    assert due_slot(spec, at("2026-03-10T02:29:59")) is None
    assert due_slot(ScheduleSpec("daily", "02:30", next_run_at=None), at("2026-03-10T03:00:00")) is None


def test_a_due_slot_is_the_slot_itself():
    spec = ScheduleSpec("daily", "02:30", next_run_at=at("2026-03-10T02:30:00"))
    assert due_slot(spec, at("2026-03-10T02:30:00")) == at("2026-03-10T02:30:00")
    assert due_slot(spec, at("2026-03-10T02:31:10")) == at("2026-03-10T02:30:00")


def test_missed_slots_after_downtime_coalesce_into_the_latest_one():
    spec = ScheduleSpec("every_6h", "00:00", next_run_at=at("2026-03-10T06:00:00"))
    now = at("2026-03-13T07:00:00")
    assert due_slot(spec, now) == at("2026-03-13T06:00:00")
    # After it, the next slot is in the future: exactly one catch-up.
    assert next_slot(spec, now) == at("2026-03-13T12:00:00")
    weekly = ScheduleSpec("weekly", "04:00", 2, next_run_at=at("2026-01-07T04:00:00"))
    slot = due_slot(weekly, at("2026-03-10T12:00:00"))
    assert slot == at("2026-03-04T04:00:00") and slot.weekday() == 2
