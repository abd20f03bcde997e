"""A restore interrupted right after Xray applied a write — before the restore could record the answer — is
taken over and finishes with the same end state, each item created once: the write-ahead intents at work.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import utcnow
from app.restore.models import Restore, RestoreIdMap
from tests.support.restore import (ALL_PROJECTS, Snapshot, compare_snapshots, delete_mix, fast_client, id_mapping,
                                   issue_counts, restore_env)  # noqa: F401 - restore_env is a fixture


class Killed(BaseException):
    """The process died: nothing after this point ran (not an error the restore could handle)."""


class DiesAfterWrite:
    """The real client, but the process dies right after the answer to the first write named `name` came back."""

    def __init__(self, client, name: str):
        self.client, self.name = client, name

    @property
    def stats(self):
        return self.client.stats

    def _after(self, name: str, write: bool) -> None:
        if write and name.startswith(self.name):
            raise Killed(name)

    def graphql(self, name, query, variables=None, *, write=False):
        answer = self.client.graphql(name, query, variables, write=write)
        self._after(name, write)
        return answer

    def send(self, name, method, path, *, body=None, params=None, write=False):
        answer = self.client.send(name, method, path, body=body, params=params, write=write)
        self._after(name, write)
        return answer


def take_over(env, restore_id: str) -> None:
    """What the lease expiry does for a dead worker: the restore becomes claimable again."""
    with env.app.app_context():
        db.session.execute(update(Restore).where(Restore.id == restore_id)
                           .values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


@pytest.mark.parametrize("dies_after", ["CreatePrecondition", "CreateTestx", "ImportTests", "CreateTestSet",
                                        "CreateTestExecution", "ImportExecution"])
def test_a_restore_killed_after_a_write_resumes_without_creating_anything_twice(restore_env, dies_after):
    env = restore_env
    before = issue_counts(env.ds)
    first = env.backup()
    delete_mix(env.xray)
    restore_id = env.start({"runId": first})["id"]

    def factory(tenant, access):
        return DiesAfterWrite(fast_client(tenant, access), dies_after)

    with pytest.raises(Killed):
        env.work(client_factory=factory)
    with env.app.app_context():
        pending = db.session.scalar(db.select(db.func.count()).select_from(RestoreIdMap)
                                    .where(RestoreIdMap.state == "creating"))
        assert db.session.get(Restore, restore_id).status == "running"
    assert pending, f"died after {dies_after} with no intent pending"

    take_over(env, restore_id)
    assert env.work() == "succeeded", env.get(restore_id)["message"]
    restored = env.get(restore_id)
    assert restored["attempts"] == 2
    assert issue_counts(env.ds) == before
    items = env.items(restore_id)
    assert not [i for i in items if i["outcome"] not in ("created", "existing", "linked")]
    problems = compare_snapshots(Snapshot(env, first), Snapshot(env, env.backup()), id_mapping(items), ALL_PROJECTS)
    assert not problems, "\n".join(problems[:20])
