"""Pure schedule rules: settings validation, the next slot, the default spread time, catch-up coalescing.

Nothing here touches the database or the clock; callers pass `now`. A "settings" argument is any object
with `frequency`, `time_of_day` ("HH:MM"), `day_of_week` (0–6, Monday = 0) and, for `due_slot`,
`next_run_at` — the `BackupSettings` row or a `ScheduleSpec`.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

FREQUENCIES = ("daily", "every_6h", "every_12h", "weekly")
FREQUENCY_LABELS = {"daily": "Daily", "every_6h": "Every 6 hours", "every_12h": "Every 12 hours", "weekly": "Weekly"}
DAY_LABELS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
STEP_HOURS = {"daily": 24, "every_6h": 6, "every_12h": 12, "weekly": 24 * 7}
WRITABLE_FIELDS = ("enabled", "frequency", "timeOfDay", "dayOfWeek", "retentionDays", "retentionCount",
                   "fullEveryDays")
READ_ONLY_FIELDS = ("nextRunAt",)
MAX_RETENTION_DAYS = 3650
MAX_RETENTION_COUNT = 10000
MAX_FULL_EVERY_DAYS = 365
DEFAULT_FULL_EVERY_DAYS = 7
# A daily run starts a few seconds earlier or later each day: "7 days since the last full one" must not slip to
# the 8th day because today's run started a second early.
FULL_DUE_SLACK = timedelta(hours=1)
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class ScheduleSpec:
    frequency: str = "daily"
    time_of_day: str = "00:00"
    day_of_week: int | None = None
    next_run_at: datetime | None = None


def default_time_for(client_key: str) -> str:
    """A deterministic time of day for a tenant, spread evenly so tenants do not all start at midnight."""
    digest = hashlib.sha256(client_key.encode("utf-8")).digest()
    minute = int.from_bytes(digest[:4], "big") % (24 * 60)
    return f"{minute // 60:02d}:{minute % 60:02d}"


def validate_settings(values: dict) -> dict[str, str]:
    """Field errors (API names → message) for a complete set of settings values; empty when valid."""
    errors: dict[str, str] = {}
    if not isinstance(values.get("enabled"), bool):
        errors["enabled"] = "Must be true or false."
    frequency = values.get("frequency")
    if frequency not in FREQUENCIES:
        errors["frequency"] = "Must be one of: " + ", ".join(FREQUENCIES) + "."
    time_of_day = values.get("timeOfDay")
    if not isinstance(time_of_day, str) or not _TIME.match(time_of_day):
        errors["timeOfDay"] = "Must be a UTC time as HH:MM, from 00:00 to 23:59."
    day = values.get("dayOfWeek")
    if frequency == "weekly":
        if not _is_int(day) or not 0 <= day <= 6:
            errors["dayOfWeek"] = "Weekly backups need a day from 0 (Monday) to 6 (Sunday)."
    elif day is not None and (not _is_int(day) or not 0 <= day <= 6):
        errors["dayOfWeek"] = "Must be a day from 0 (Monday) to 6 (Sunday), or null."
    for name, limit in (("retentionDays", MAX_RETENTION_DAYS), ("retentionCount", MAX_RETENTION_COUNT)):
        value = values.get(name)
        if value is not None and (not _is_int(value) or not 1 <= value <= limit):
            errors[name] = f"Must be a whole number from 1 to {limit}, or null."
    full_every = values.get("fullEveryDays")
    if full_every is not None and (not _is_int(full_every) or not 1 <= full_every <= MAX_FULL_EVERY_DAYS):
        errors["fullEveryDays"] = f"Must be a whole number of days from 1 to {MAX_FULL_EVERY_DAYS}, or null (never)."
    if "retentionDays" not in errors and "retentionCount" not in errors:
        if values.get("retentionDays") is None and values.get("retentionCount") is None:
            errors["retentionDays"] = "Set retention days, retention count, or both."
    return errors


def full_backup_due(full_every_days: int | None, last_full_started: datetime | None, now: datetime) -> bool:
    """Whether `fullEveryDays` calls for a full backup now (None: never by age; no full one yet: due)."""
    if last_full_started is None:
        return True
    if full_every_days is None:
        return False
    return now >= last_full_started + timedelta(days=full_every_days) - FULL_DUE_SLACK


def unknown_fields(body: dict) -> dict[str, str]:
    """Field errors for names a PUT body may not carry (read-only nextRunAt is tolerated and ignored)."""
    return {
        name: "Unknown field." for name in body if name not in WRITABLE_FIELDS and name not in READ_ONLY_FIELDS
    }


def next_slot(settings, after: datetime) -> datetime:
    """The first scheduled slot strictly after `after`."""
    hour, minute = _hour_minute(settings.time_of_day)
    after = after.astimezone(timezone.utc)
    if settings.frequency == "weekly":
        day = settings.day_of_week or 0
        base = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
        candidate = base + timedelta(days=(day - base.weekday()) % 7)
        return candidate if candidate > after else candidate + timedelta(days=7)
    step = timedelta(hours=STEP_HOURS[settings.frequency])
    candidate = after.replace(hour=hour, minute=minute, second=0, microsecond=0) - timedelta(days=1)
    while candidate <= after:
        candidate += step
    return candidate


def last_slot_at_or_before(settings, at: datetime) -> datetime:
    """The latest scheduled slot at or before `at`."""
    step = timedelta(hours=STEP_HOURS[settings.frequency])
    return next_slot(settings, at) - step


def due_slot(settings, now: datetime) -> datetime | None:
    """The one slot to run now, or None: missed slots since `next_run_at` coalesce into the latest one."""
    if settings.next_run_at is None or settings.next_run_at > now:
        return None
    return max(settings.next_run_at, last_slot_at_or_before(settings, now))


def _hour_minute(time_of_day: str) -> tuple[int, int]:
    hour, minute = time_of_day.split(":")
    return int(hour), int(minute)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
