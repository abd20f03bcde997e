"""Process heartbeats: a row per process with the keys it holds, live for 3 intervals, gone when it stops."""
from __future__ import annotations

import time
from datetime import timedelta

from app import create_app
from app.extensions import db
from app.ops.heartbeats import ProcessBeat, expire, list_processes, processes_lacking_key
from app.ops.models import ProcessHeartbeat
from tests.support.queue import T0


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


def processes(app, now, **options):
    with app.app_context(), db.engine.connect() as conn:
        return list_processes(conn, now, **options)


def test_a_beating_process_is_recorded_with_its_kind_pid_workers_and_keys(db_app):
    clock = Clock()
    with db_app.app_context():
        beat = ProcessBeat(db.engine, kind="scheduler", key_ids=("k2", "k1"), workers=3, schedules=True,
                           interval=10, clock=clock)
    beat.beat()
    [found] = processes(db_app, T0)
    assert (found.kind, found.pid, found.key_ids, found.workers, found.schedules) == \
        ("scheduler", beat.pid, ("k2", "k1"), 3, True)
    assert found.label == f"scheduler process {beat.host}:{beat.pid}"


def test_a_process_is_live_for_three_intervals_after_its_last_beat(app):
    clock = Clock()
    with app.app_context():
        beat = ProcessBeat(db.engine, kind="web", key_ids=("k1",), interval=10, clock=clock)
    beat.beat()
    assert processes(app, T0 + timedelta(seconds=29))
    assert not processes(app, T0 + timedelta(seconds=30))
    assert processes(app, T0 + timedelta(seconds=30), live_only=False)
    clock.now = T0 + timedelta(seconds=25)
    beat.beat()  # the same row, beaten again
    assert len(processes(app, T0 + timedelta(seconds=50))) == 1


def test_rows_of_processes_gone_for_an_hour_expire(app):
    with app.app_context():
        ProcessBeat(db.engine, kind="web", key_ids=("k1",), clock=Clock()).beat()
        with db.engine.begin() as conn:
            assert expire(conn, T0 + timedelta(minutes=59)) == 0
            assert expire(conn, T0 + timedelta(minutes=61)) == 1
        assert db.session.query(ProcessHeartbeat).count() == 0


def test_a_process_lacking_the_new_first_key_is_named(app):
    with app.app_context():
        old = ProcessBeat(db.engine, kind="web", key_ids=("k1",), clock=Clock())
        new = ProcessBeat(db.engine, kind="scheduler", key_ids=("k2", "k1"), clock=Clock())
        old.beat()
        new.beat()
        with db.engine.connect() as conn:
            assert [p.id for p in processes_lacking_key(conn, "k2", T0)] == [old.id]
            assert processes_lacking_key(conn, "k1", T0) == []


def test_the_thread_beats_until_stopped_and_stopping_removes_the_row(app):
    with app.app_context():
        beat = ProcessBeat(db.engine, kind="web", key_ids=("k1",), interval=0.05).start()
    try:
        first = processes(app, T0, live_only=False)[0].beat_at
        deadline = first + timedelta(seconds=5)
        for _ in range(100):
            time.sleep(0.02)
            latest = processes(app, T0, live_only=False)[0].beat_at
            if latest > first:
                break
        assert latest > first and latest < deadline
    finally:
        beat.stop()
    assert processes(app, T0, live_only=False) == []


def test_a_beat_on_a_database_that_is_down_fails_quietly(make_config):
    app = create_app(make_config(DATABASE_URL="sqlite:////nonexistent-dir/none.db"))
    with app.app_context():
        assert ProcessBeat(db.engine, kind="web", key_ids=("k1",)).beat() is False
