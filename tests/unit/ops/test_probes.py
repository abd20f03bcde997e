"""Bounded probes: a check that hangs fails in time and never piles up threads; readiness names what is not ready."""
from __future__ import annotations

import threading
import time

from app.extensions import postgresql_timeouts
from app.ops import probes
from app.ops.probes import BoundedCheck, Readiness, wait_all


def test_a_check_that_hangs_fails_within_the_timeout():
    release = threading.Event()
    check = BoundedCheck("database", release.wait)
    started = time.monotonic()
    result = wait_all({"database": check}, timeout=0.3)["database"]
    assert time.monotonic() - started < 1.0
    assert not result.ok and result.error == "timeout"
    release.set()


def test_checks_run_at_once_against_one_deadline():
    slow = BoundedCheck("a", lambda: time.sleep(0.4) or "a")
    slower = BoundedCheck("b", lambda: time.sleep(0.4) or "b")
    started = time.monotonic()
    results = wait_all({"a": slow, "b": slower}, timeout=2)
    assert time.monotonic() - started < 0.75
    assert results["a"].value == "a" and results["b"].ok


def test_hanging_checks_do_not_pile_up_threads(monkeypatch):
    monkeypatch.setattr(probes, "MAX_PENDING", 2)
    release = threading.Event()
    check = BoundedCheck("storage", release.wait)
    for _ in range(2):
        assert not wait_all({"storage": check}, timeout=0.05)["storage"].ok
    assert check.start() is None  # two are still hanging: fail at once, start nothing
    release.set()
    time.sleep(0.1)
    assert wait_all({"storage": check}, timeout=1)["storage"].ok


def test_a_failing_check_reports_its_error_type():
    def refuse():
        raise ConnectionRefusedError()

    result = wait_all({"x": BoundedCheck("x", refuse)}, timeout=1)["x"]
    assert not result.ok and result.error == "ConnectionRefusedError"


def test_readiness_names_what_is_not_ready():
    assert Readiness("ok", "ok", "ok").as_dict() == {"database": "ok", "storage": "ok", "scheduler": "ok"}
    body = Readiness("ok", "unreachable", "missing").as_dict()
    assert body["storage"] == "unreachable" and body["scheduler"] == "missing"
    assert "storage is unreachable" in body["message"] and "no live scheduler/worker process" in body["message"]
    assert not Readiness("unavailable", "ok", "unknown").ready


def test_timeouts_are_added_to_the_operators_postgresql_options_without_dropping_them():
    url = "postgresql+psycopg://app@db/app?options=-c%20search_path%3Dbackup"
    assert postgresql_timeouts(url, connect_timeout=10, statement_timeout_ms=300000) == {
        "connect_timeout": 10, "options": "-c search_path=backup -c statement_timeout=300000"}
    mine = "postgresql+psycopg://app@db/app?connect_timeout=30&options=-c%20statement_timeout%3D9000"
    assert postgresql_timeouts(mine, connect_timeout=10, statement_timeout_ms=300000) == {}
    assert postgresql_timeouts(mine, connect_timeout=3, statement_timeout_ms=3000, override=True) == {
        "connect_timeout": 3, "options": "-c statement_timeout=3000"}
