"""`/api/backup-settings` over real context tokens: defaults, validation with fields, recomputed next run."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.backups.schedule.rules import default_time_for


def test_settings_require_a_context_token(client):
    assert client.get("/api/backup-settings").status_code == 401
    assert client.put("/api/backup-settings", json={"enabled": False}).status_code == 401


def test_a_new_tenant_gets_daily_backups_at_its_spread_time_kept_30_days(api, tenant):
    response = api.get("/api/backup-settings")
    assert response.status_code == 200
    body = response.get_json()
    assert body["enabled"] is True and body["frequency"] == "daily"
    assert body["timeOfDay"] == default_time_for(tenant.client_key)
    assert (body["dayOfWeek"], body["retentionDays"], body["retentionCount"]) == (None, 30, None)
    next_run = datetime.fromisoformat(body["nextRunAt"].replace("Z", "+00:00"))
    now = datetime.now(timezone.utc)
    assert 0 < (next_run - now).total_seconds() <= 86400
    assert next_run.strftime("%H:%M") == body["timeOfDay"]
    assert set(body) == {"enabled", "frequency", "timeOfDay", "dayOfWeek", "retentionDays", "retentionCount",
                         "fullEveryDays", "nextRunAt"}


def test_changing_the_schedule_recomputes_the_next_run(api):
    response = api.put("/api/backup-settings", json={"frequency": "weekly", "dayOfWeek": 2, "timeOfDay": "03:15"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    next_run = datetime.fromisoformat(body["nextRunAt"].replace("Z", "+00:00"))
    assert (next_run.weekday(), next_run.strftime("%H:%M")) == (2, "03:15")
    assert body["retentionDays"] == 30  # untouched fields keep their values
    assert api.get("/api/backup-settings").get_json() == body


def test_retention_can_be_a_count_instead_of_days(api):
    body = api.put("/api/backup-settings", json={"retentionDays": None, "retentionCount": 7}).get_json()
    assert (body["retentionDays"], body["retentionCount"]) == (None, 7)


def test_switching_away_from_weekly_clears_the_day(api):
    api.put("/api/backup-settings", json={"frequency": "weekly", "dayOfWeek": 4})
    body = api.put("/api/backup-settings", json={"frequency": "every_6h"}).get_json()
    assert body["dayOfWeek"] is None and body["frequency"] == "every_6h"


def test_disabling_hides_the_next_run(api):
    body = api.put("/api/backup-settings", json={"enabled": False}).get_json()
    assert body["enabled"] is False and body["nextRunAt"] is None
    body = api.put("/api/backup-settings", json={"enabled": True}).get_json()
    assert body["nextRunAt"] is not None


@pytest.mark.parametrize(
    "change, fields",
    [
        ({"frequency": "monthly"}, {"frequency"}),
        ({"timeOfDay": "25:00", "retentionDays": 0}, {"timeOfDay", "retentionDays"}),
        ({"frequency": "weekly"}, {"dayOfWeek"}),
        ({"retentionDays": None, "retentionCount": None}, {"retentionDays"}),
        ({"enabled": "no"}, {"enabled"}),
        ({"sneaky": 1}, {"sneaky"}),
    ],
)
def test_invalid_settings_are_refused_with_the_fields_named_and_nothing_changes(api, change, fields):
    before = api.get("/api/backup-settings").get_json()
    response = api.put("/api/backup-settings", json=change)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_failed" and body["message"]
    assert set(body["fields"]) == fields
    assert api.get("/api/backup-settings").get_json() == before


def test_a_body_that_is_not_an_object_is_a_bad_request(api):
    response = api.put("/api/backup-settings", data="[1]", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"] == "bad_request"
