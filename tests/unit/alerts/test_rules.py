"""The pure health and incident rules, without the app."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.alerts.rules import Facts, RunFact, assess, is_stale

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def facts(**overrides) -> Facts:
    values = dict(now=NOW, has_credentials=True, schedule_enabled=True, interval=DAY, expected_since=NOW - 30 * DAY,
                  last_slot=NOW - timedelta(hours=3), last_run=None, last_success_at=NOW - timedelta(hours=3))
    values.update(overrides)
    return Facts(**values)


def run(status="succeeded", trigger="scheduled", **fields) -> RunFact:
    return RunFact(id="r1", status=status, trigger=trigger, finished_at=NOW - timedelta(hours=3), **fields)


def test_a_recent_clean_success_is_healthy_and_closes_any_incident():
    verdict = assess(facts(last_run=run()))
    assert (verdict.state, verdict.incident, verdict.recovered) == ("healthy", None, True)


def test_a_success_with_warnings_is_its_own_state_but_still_a_recovery():
    verdict = assess(facts(last_run=run(warnings=5)))
    assert verdict.state == "warnings" and "5 warnings" in verdict.message and verdict.recovered
    assert verdict.incident is None


def test_a_scheduled_failure_after_its_retries_opens_a_failed_incident():
    verdict = assess(facts(last_run=run("failed", message="Xray did not respond.", reason="xray_unavailable")))
    assert (verdict.state, verdict.incident, verdict.run_id) == ("failing", "failed", "r1")
    assert "Xray did not respond." in verdict.message and not verdict.recovered


def test_a_manual_failure_is_failing_without_opening_an_incident_nor_closing_one():
    verdict = assess(facts(last_run=run("failed", trigger="manual")))
    assert verdict.state == "failing" and verdict.incident is None and not verdict.recovered


def test_skipped_runs_and_rejected_credentials_are_skipped_incidents():
    assert assess(facts(last_run=run("skipped", reason="credentials_missing"))).incident == "skipped"
    assert assess(facts(last_run=run("failed", reason="credentials_rejected"))).incident == "skipped"


def test_without_credentials_the_state_waits_and_alerts_only_once_a_slot_was_missed():
    before_any_slot = facts(has_credentials=False, expected_since=NOW - timedelta(hours=1))
    verdict = assess(before_any_slot)
    assert verdict.state == "waiting_for_credentials" and verdict.incident is None
    missed = assess(facts(has_credentials=False, expected_since=NOW - 2 * DAY))
    assert missed.state == "waiting_for_credentials" and missed.incident == "skipped"
    schedule_off = assess(facts(has_credentials=False, schedule_enabled=False, interval=None, last_slot=None))
    assert schedule_off.incident is None


def test_no_success_for_twice_the_interval_is_stale():
    stale = facts(last_run=run(), last_success_at=NOW - 2 * DAY - timedelta(minutes=1))
    assert is_stale(stale) and assess(stale).state == "stale" and assess(stale).incident == "stale"
    assert "2 days" in assess(stale).message
    assert not is_stale(facts(last_success_at=NOW - 2 * DAY + timedelta(minutes=1)))
    six_hourly = facts(interval=timedelta(hours=6), last_success_at=NOW - timedelta(hours=13))
    assert is_stale(six_hourly)


def test_stale_counts_from_when_backups_were_expected_when_none_ever_succeeded():
    assert assess(facts(last_success_at=None, expected_since=NOW - 3 * DAY)).state == "stale"
    fresh = assess(facts(last_success_at=None, expected_since=NOW - timedelta(hours=2)))
    assert fresh.state == "healthy" and "No backup yet" in fresh.message


def test_scheduled_backups_off_are_never_stale():
    assert assess(facts(schedule_enabled=False, interval=None, last_slot=None,
                        last_success_at=NOW - 90 * DAY)).state == "healthy"


def test_a_failure_outranks_staleness():
    verdict = assess(facts(last_run=run("failed"), last_success_at=NOW - 10 * DAY))
    assert verdict.state == "failing" and verdict.incident == "failed"
