"""The incremental-backup surface of the API: `{"full": true}`, `fullEveryDays`, and the run fields."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import BackupRun


def test_settings_carry_full_every_days_with_a_default_of_seven(api):
    assert api.get("/api/backup-settings").get_json()["fullEveryDays"] == 7
    assert api.put("/api/backup-settings", json={"fullEveryDays": 30}).get_json()["fullEveryDays"] == 30
    assert api.put("/api/backup-settings", json={"fullEveryDays": None}).get_json()["fullEveryDays"] is None
    assert api.get("/api/backup-settings").get_json()["fullEveryDays"] is None


@pytest.mark.parametrize("value", [0, 366, -1, 2.5, "7", True])
def test_full_every_days_out_of_range_is_a_422_naming_the_field(api, value):
    response = api.put("/api/backup-settings", json={"fullEveryDays": value})
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) == {"fullEveryDays"}


def test_a_requested_full_backup_is_queued_as_such(app, api):
    response = api.post("/api/backups", json={"full": True})
    assert response.status_code == 202
    with app.app_context():
        assert db.session.get(BackupRun, response.get_json()["id"]).full_requested is True
    run = api.get(f"/api/backups/{response.get_json()['id']}").get_json()
    assert run["fullRequested"] is True
    for field in ("kind", "parentId", "changed", "requests", "storedBytes"):
        assert field in run
    listed = api.get("/api/backups").get_json()["runs"][0]
    assert {"kind", "parentId", "changed", "requests", "storedBytes"} <= set(listed)


def test_a_plain_backup_request_leaves_the_choice_to_the_rules(app, api):
    response = api.post("/api/backups")
    assert response.status_code == 202
    with app.app_context():
        assert db.session.get(BackupRun, response.get_json()["id"]).full_requested is False


@pytest.mark.parametrize("body", [{"full": "yes"}, {"full": 1}, {"full": None}, [True]])
def test_a_non_boolean_full_is_a_422_naming_the_field_and_queues_nothing(app, api, body):
    response = api.post("/api/backups", json=body)
    assert response.status_code == 422
    assert "full" in response.get_json()["fields"]
    assert api.get("/api/backups").get_json()["runs"] == []
