"""Single-use lifecycle tokens: the claim rules, and migration 0003 on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, select

from app.connect.models import AcceptedLifecycleToken
from app.connect.replay import Claim, TokenReused, claim_token, mark_applied
from app.extensions import db
from app.models import utcnow
from tests.support.pg_admin import fresh_database


def test_a_token_is_new_once_then_a_retry_then_done_and_never_reusable_with_another_body(db_app):
    now = utcnow()
    exp = now.timestamp() + 180
    with db_app.app_context():
        assert claim_token("tok", b'{"a": 1}', "installed", exp, now) is Claim.NEW
        assert claim_token("tok", b'{"a": 1}', "installed", exp, now) is Claim.RETRY
        mark_applied("tok")
        assert claim_token("tok", b'{"a": 1}', "installed", exp, now) is Claim.DONE
        for body, event in ((b'{"a": 2}', "installed"), (b'{"a": 1}', "uninstalled")):
            with pytest.raises(TokenReused):
                claim_token("tok", body, event, exp, now)
        [row] = db.session.scalars(select(AcceptedLifecycleToken)).all()
        assert row.token_sha256 != "tok" and row.applied
        # Kept until the token can no longer verify (exp plus the 30 s leeway), then pruned.
        assert claim_token("other", b"{}", "enabled", exp, now + timedelta(seconds=240)) is Claim.NEW
        assert [r.event for r in db.session.scalars(select(AcceptedLifecycleToken))] == ["enabled"]


@pytest.fixture
def fresh_pg_url():
    with fresh_database("xb_mig3") as url:
        yield url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migration_0003_creates_the_table_idempotently_and_downgrades(backend, make_config, tmp_path, request):
    from flask_migrate import downgrade, upgrade

    from app import create_app

    url = request.getfixturevalue("fresh_pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'm.db'}"
    app = create_app(make_config(DATABASE_URL=url))
    try:
        with app.app_context():
            upgrade(revision="0002")
            assert "accepted_lifecycle_tokens" not in inspect(db.engine).get_table_names()
            upgrade()
            upgrade()  # a second `flask db upgrade` changes nothing
            assert "accepted_lifecycle_tokens" in inspect(db.engine).get_table_names()
            indexes = {i["name"] for i in inspect(db.engine).get_indexes("accepted_lifecycle_tokens")}
            assert "ix_accepted_lifecycle_tokens_expires_at" in indexes
            assert claim_token("t", b"{}", "installed", utcnow().timestamp() + 60, utcnow()) is Claim.NEW
            downgrade(revision="0002")
            assert "accepted_lifecycle_tokens" not in inspect(db.engine).get_table_names()
            upgrade()
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
