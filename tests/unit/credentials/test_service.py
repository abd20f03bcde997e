"""The credential use-cases against a fake verifier, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.credentials.service import REJECTED_MESSAGE, XrayUnreachableForSave
from app.credentials.validation import CredentialInput, parse_input
from app.errors import Conflict, ValidationFailed
from app.extensions import db
from app.models import CredentialAudit, Tenant, XrayCredential
from app.services import current_services
from app.xray.verify import Verification

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def service():
    return current_services().credentials


class FakeVerifier:
    """Answers like verify_credentials and records what it was asked (never a mock of library internals)."""

    def __init__(self, status="connected", tests_visible=7):
        self.status, self.tests_visible, self.calls = status, tests_visible, []

    def __call__(self, base_url, client_id, client_secret):
        self.calls.append((base_url, client_id, client_secret))
        return Verification(status=self.status, tests_visible=self.tests_visible if self.status == "connected" else None,
                            message="")


@pytest.fixture
def site(db_app):
    with db_app.app_context():
        tenant = Tenant(
            client_key="site-under-test",
            shared_secret_enc=current_services().sealer.seal("site-under-test", "connect_shared_secret", "x" * 32),
            base_url="https://site.atlassian.net",
            installed_at=NOW,
            updated_at=NOW,
        )
        db.session.add(tenant)
        db.session.commit()
        yield tenant


def audit_rows(tenant):
    return db.session.scalars(
        select(CredentialAudit).where(CredentialAudit.tenant_id == tenant.id).order_by(CredentialAudit.id)
    ).all()


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "body, field, fragment",
    [
        ({"clientSecret": "s"}, "clientId", "required"),
        ({"clientId": "   ", "clientSecret": "s"}, "clientId", "required"),
        ({"clientId": "a"}, "clientSecret", "required"),
        ({"clientId": "a", "clientSecret": "  "}, "clientSecret", "required"),
        ({"clientId": "a" * 257, "clientSecret": "s"}, "clientId", "256"),
        ({"clientId": "a", "clientSecret": "s" * 257}, "clientSecret", "256"),
        ({"clientId": "a\x00b", "clientSecret": "s"}, "clientId", "control"),
        ({"clientId": "a", "clientSecret": "s\nt"}, "clientSecret", "control"),
        ({"clientId": "a", "clientSecret": "s\u202et"}, "clientSecret", "control"),
        ({"clientId": 5, "clientSecret": "s"}, "clientId", "text"),
        ({"clientId": "a", "clientSecret": ["s"]}, "clientSecret", "text"),
        ({"clientId": "a", "clientSecret": "s", "region": "mars"}, "region", "Global"),
        ({"clientId": "a", "clientSecret": "s", "storeUnverified": "yes"}, "storeUnverified", "true or false"),
    ],
)
def test_bad_input_names_the_field_without_echoing_it(body, field, fragment):
    with pytest.raises(ValidationFailed) as caught:
        parse_input(body, has_stored_secret=False, stored_region=None)
    assert fragment in caught.value.fields[field]
    for value in body.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in caught.value.fields[field]


def test_input_is_trimmed_and_region_defaults_to_global():
    parsed = parse_input({"clientId": "  id  ", "clientSecret": "\tsec "}, has_stored_secret=False, stored_region=None)
    assert parsed == CredentialInput("id", "sec", "global", False)


def test_a_256_character_value_is_accepted():
    parsed = parse_input({"clientId": "i" * 256, "clientSecret": "s" * 256}, has_stored_secret=False, stored_region=None)
    assert len(parsed.client_id) == 256 and len(parsed.client_secret) == 256


def test_an_empty_secret_on_update_means_keep_the_stored_one():
    parsed = parse_input({"clientId": "id", "clientSecret": ""}, has_stored_secret=True, stored_region="eu")
    assert parsed.client_secret is None and parsed.region == "eu"


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(ValidationFailed):
        parse_input(["clientId"], has_stored_secret=False, stored_region=None)


# ------------------------------------------------------------------ save


def test_accepted_credentials_are_stored_encrypted_and_audited(db_app, site):
    verifier = FakeVerifier(tests_visible=42)
    service().save(site, "admin-1", {"clientId": "CID", "clientSecret": "SEC-1", "region": "eu"},
                                 now=NOW, verify=verifier)
    row = db.session.scalar(select(XrayCredential))
    assert row.client_id == "CID" and row.region == "eu" and row.status == "connected"
    assert row.tests_visible == 42 and row.verified_at == NOW and row.updated_by == "admin-1"
    assert "SEC-1" not in row.client_secret_enc
    assert current_services().sealer.open_text(site.client_key, "xray_client_secret", row.client_secret_enc) == "SEC-1"
    assert verifier.calls[0][1:] == ("CID", "SEC-1")
    [entry] = audit_rows(site)
    assert (entry.action, entry.account_id) == ("saved", "admin-1")
    assert "42 tests visible" in entry.outcome and "SEC-1" not in entry.outcome and "CID" not in entry.outcome


def test_the_sealed_secret_is_bound_to_its_tenant(db_app, site):
    from app.crypto import DecryptionError

    service().save(site, "a", {"clientId": "CID", "clientSecret": "SEC"}, now=NOW, verify=FakeVerifier())
    row = db.session.scalar(select(XrayCredential))
    with pytest.raises(DecryptionError):
        current_services().sealer.open_text("another-site", "xray_client_secret", row.client_secret_enc)


def test_rejected_credentials_store_nothing(db_app, site):
    with pytest.raises(ValidationFailed) as caught:
        service().save(site, "a", {"clientId": "CID", "clientSecret": "bad"}, now=NOW,
                                     verify=FakeVerifier("rejected"))
    assert caught.value.message == REJECTED_MESSAGE
    assert set(caught.value.fields) == {"clientId", "clientSecret"}
    assert db.session.scalar(select(XrayCredential)) is None
    assert [r.action for r in audit_rows(site)] == ["save_failed"]


def test_rejected_change_keeps_the_previous_pair(db_app, site):
    service().save(site, "a", {"clientId": "OLD", "clientSecret": "OLD-S"}, now=NOW, verify=FakeVerifier())
    with pytest.raises(ValidationFailed):
        service().save(site, "a", {"clientId": "NEW", "clientSecret": "NEW-S"}, now=NOW,
                                     verify=FakeVerifier("rejected"))
    row = db.session.scalar(select(XrayCredential))
    assert row.client_id == "OLD"
    assert current_services().sealer.open_text(site.client_key, "xray_client_secret", row.client_secret_enc) == "OLD-S"


def test_unreachable_xray_stores_nothing_unless_asked_explicitly(db_app, site):
    body = {"clientId": "CID", "clientSecret": "SEC"}
    with pytest.raises(XrayUnreachableForSave) as caught:
        service().save(site, "a", body, now=NOW, verify=FakeVerifier("unreachable"))
    assert caught.value.code == "xray_unreachable" and caught.value.status == 422
    assert db.session.scalar(select(XrayCredential)) is None

    service().save(site, "a", {**body, "storeUnverified": True}, now=NOW,
                                 verify=FakeVerifier("unreachable"))
    row = db.session.scalar(select(XrayCredential))
    assert row.status == "unverified" and row.verified_at is None
    assert service().view(site)["status"] == "unverified"
    assert audit_rows(site)[-1].outcome == "stored as not verified (Xray unreachable)"


def test_store_unverified_does_not_override_a_rejection(db_app, site):
    with pytest.raises(ValidationFailed):
        service().save(site, "a", {"clientId": "C", "clientSecret": "S", "storeUnverified": True},
                                     now=NOW, verify=FakeVerifier("rejected"))
    assert db.session.scalar(select(XrayCredential)) is None


def test_changing_only_the_client_id_keeps_and_verifies_the_stored_secret(db_app, site):
    service().save(site, "a", {"clientId": "C1", "clientSecret": "KEEP-ME"}, now=NOW,
                                 verify=FakeVerifier())
    verifier = FakeVerifier()
    later = NOW + timedelta(hours=1)
    service().save(site, "b", {"clientId": "C2", "clientSecret": "", "region": "au"}, now=later,
                                 verify=verifier)
    assert verifier.calls[0][1:] == ("C2", "KEEP-ME")
    row = db.session.scalar(select(XrayCredential))
    assert (row.client_id, row.region, row.updated_by, row.updated_at) == ("C2", "au", "b", later)
    assert current_services().sealer.open_text(site.client_key, "xray_client_secret", row.client_secret_enc) == "KEEP-ME"
    last = audit_rows(site)[-1]
    assert last.action == "changed"
    assert "Client ID changed" in last.outcome and "secret kept" in last.outcome and "Australia" in last.outcome


def test_the_view_never_contains_the_secret(db_app, site):
    service().save(site, "a", {"clientId": "CID", "clientSecret": "S3CR3T-VALUE"}, now=NOW,
                                 verify=FakeVerifier())
    view = service().view(site)
    assert "S3CR3T-VALUE" not in repr(view)
    assert view["configured"] is True and view["clientId"] == "CID" and view["verifiedAt"] == "2026-11-28T12:00:00Z"


# ------------------------------------------------------------------ verify stored, remove


def test_verify_stored_records_each_outcome(db_app, site):
    service().save(site, "a", {"clientId": "C", "clientSecret": "S"}, now=NOW, verify=FakeVerifier())
    later = NOW + timedelta(minutes=5)
    ok, message = service().verify_stored(site, "b", now=later, verify=FakeVerifier(tests_visible=1))
    assert ok and message == "Connected to Xray: 1 test visible."
    assert db.session.scalar(select(XrayCredential)).verified_at == later

    ok, message = service().verify_stored(site, "b", now=later, verify=FakeVerifier("rejected"))
    assert not ok and message == REJECTED_MESSAGE
    assert db.session.scalar(select(XrayCredential)).status == "rejected"

    ok, message = service().verify_stored(site, "b", now=later, verify=FakeVerifier("unreachable"))
    assert not ok and "could not be reached" in message
    assert db.session.scalar(select(XrayCredential)).status == "unverified"
    assert [r.action for r in audit_rows(site)] == ["saved", "tested", "tested", "tested"]


def test_verify_without_stored_credentials_is_a_conflict(db_app, site):
    with pytest.raises(Conflict):
        service().verify_stored(site, "a", now=NOW, verify=FakeVerifier())


def test_remove_deletes_the_pair_and_is_audited_once(db_app, site):
    service().save(site, "a", {"clientId": "C", "clientSecret": "S"}, now=NOW, verify=FakeVerifier())
    assert service().remove(site, "a", now=NOW) is True
    assert service().remove(site, "a", now=NOW) is False
    assert db.session.scalar(select(XrayCredential)) is None
    assert service().access(site) is None
    assert [r.action for r in audit_rows(site)] == ["saved", "removed"]


def test_xray_access_decrypts_for_the_backup_engine(db_app, site):
    service().save(site, "a", {"clientId": "C", "clientSecret": "S", "region": "us"}, now=NOW,
                                 verify=FakeVerifier())
    access = service().access(site)
    assert (access.client_id, access.client_secret, access.region) == ("C", "S", "us")


def test_recent_audit_is_newest_first_and_limited(db_app, site):
    for minute in range(12):
        db.session.add(CredentialAudit(tenant_id=site.id, account_id="a", action="tested", outcome=f"o{minute}",
                                       at=NOW + timedelta(minutes=minute)))
    db.session.commit()
    entries = service().audit(site, limit=10)
    assert len(entries) == 10 and entries[0]["outcome"] == "o11" and entries[0]["actionLabel"] == "Tested"


def test_a_secret_the_key_ring_cannot_open_asks_for_the_secret_again(db_app, site):
    service().save(site, "a", {"clientId": "C", "clientSecret": "S"}, now=NOW, verify=FakeVerifier())
    row = db.session.scalar(select(XrayCredential))
    row.client_secret_enc = current_services().sealer.seal("another-site", "xray_client_secret", "S")  # bound to someone else
    db.session.commit()
    verifier = FakeVerifier()
    with pytest.raises(ValidationFailed) as caught:
        service().save(site, "a", {"clientId": "C", "clientSecret": ""}, now=NOW, verify=verifier)
    assert "Enter the secret again" in caught.value.fields["clientSecret"] and verifier.calls == []
    with pytest.raises(Conflict):
        service().verify_stored(site, "a", now=NOW, verify=verifier)
    service().save(site, "a", {"clientId": "C", "clientSecret": "S2"}, now=NOW, verify=verifier)
    assert current_services().sealer.open_text(site.client_key, "xray_client_secret", db.session.scalar(select(XrayCredential)).client_secret_enc) == "S2"


def test_two_first_saves_at_once_keep_one_and_tell_the_second(db_app, site):
    """Another admin's first save lands while ours is being verified: ours answers 409, theirs stays."""
    from sqlalchemy import insert

    def racing_verifier(base_url, client_id, client_secret):
        with db.engine.begin() as other:
            other.execute(insert(XrayCredential).values(
                tenant_id=site.id, client_id="THEIRS", client_secret_enc=current_services().sealer.seal(site.client_key, "xray_client_secret", "T"),
                region="global", status="connected", updated_at=NOW))
        return Verification("connected", 1, "")

    with pytest.raises(Conflict):
        service().save(site, "a", {"clientId": "OURS", "clientSecret": "O"}, now=NOW,
                                     verify=racing_verifier)
    assert db.session.scalar(select(XrayCredential)).client_id == "THEIRS"
    assert [r.action for r in audit_rows(site)] == []
