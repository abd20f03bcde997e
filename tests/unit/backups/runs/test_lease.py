"""A run's lease judged on a given clock: renewals, a renewal that comes too late, a run taken over. No sleeping."""
from __future__ import annotations

from app.backups.runs import claims, enqueue
from app.backups.runs.lease import Lease
from app.extensions import db
from app.models import Tenant
from tests.support.queue import T0, add_tenant

LEASE = 10


def claimed(app, worker_id: str = "w1") -> str:
    tid = add_tenant(app, "site")
    with app.app_context():
        enqueue.enqueue_manual(db.session.get(Tenant, tid), T0)
        return claims.claim_next(worker_id, T0, LEASE).id


def test_a_renewed_lease_keeps_the_run_and_a_late_renewal_loses_it(app):
    run_id = claimed(app)
    clock = [100.0]
    lease = Lease(app, run_id, "w1", LEASE, clock=lambda: T0, monotonic=lambda: clock[0])
    assert lease.still_owner()
    clock[0] += LEASE * 0.79
    assert lease.renew() and lease.still_owner()  # in time: the deadline moves on
    clock[0] += LEASE * 0.79
    assert lease.still_owner()
    clock[0] += LEASE * 0.02
    assert not lease.still_owner()  # past 80 % of the lease since the last renewal
    assert not lease.renew() and lease.lost  # too late: never resumed, another worker may own it now


def test_a_lease_whose_run_was_taken_over_is_lost_at_the_next_renewal(app):
    run_id = claimed(app)
    clock = [0.0]
    lease = Lease(app, run_id, "w1", LEASE, clock=lambda: T0, monotonic=lambda: clock[0])
    with app.app_context():
        db.session.execute(db.text("UPDATE backup_runs SET worker_id = 'w2' WHERE id = :id"), {"id": run_id})
        db.session.commit()
    clock[0] += 1
    assert not lease.renew()
    assert lease.lost and not lease.still_owner()
