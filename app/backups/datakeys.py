"""Per-tenant snapshot data keys, wrapped by the key ring; deleting one crypto-shreds the tenant's snapshots."""
from __future__ import annotations

import logging
import os
from datetime import datetime

from sqlalchemy import delete, select

from ..extensions import db
from ..models import Tenant, TenantDataKey
from ..secrets import open_bytes, seal

logger = logging.getLogger(__name__)

FIELD = "snapshot_data_key"


def _insert_ignoring_conflict(values: dict):
    """INSERT … ON CONFLICT DO NOTHING on the session's dialect (SQLite and PostgreSQL both have it)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(TenantDataKey).values(**values).on_conflict_do_nothing(index_elements=["tenant_id"])


def _stored(tenant: Tenant) -> str | None:
    return db.session.execute(
        select(TenantDataKey.wrapped_key).where(TenantDataKey.tenant_id == tenant.id)
    ).scalar_one_or_none()


def data_key_for(tenant: Tenant, now: datetime) -> bytes:
    """The tenant's 32-byte data key, created and committed on first use.

    The key must be durable before anything is encrypted with it, so creating it commits the session.
    Two processes creating it at once both end with the one that was inserted first.
    """
    wrapped = _stored(tenant)
    if wrapped is None:
        candidate = os.urandom(32)
        db.session.execute(_insert_ignoring_conflict({
            "tenant_id": tenant.id,
            "wrapped_key": seal(tenant.client_key, FIELD, candidate),
            "created_at": now,
        }))
        db.session.commit()
        wrapped = _stored(tenant)
        if wrapped is None:  # shredded between the insert and the read: there is no key to use
            raise LookupError("the tenant's data key was deleted while it was being created")
        logger.info("created the snapshot data key of tenant %s", tenant.id)
    return open_bytes(tenant.client_key, FIELD, wrapped)


def has_data_key(tenant: Tenant) -> bool:
    return _stored(tenant) is not None


def shred(tenant: Tenant) -> bool:
    """Delete the tenant's data key, making every snapshot encrypted under it unreadable; commits."""
    result = db.session.execute(delete(TenantDataKey).where(TenantDataKey.tenant_id == tenant.id))
    db.session.commit()
    if result.rowcount:
        logger.info("shredded the snapshot data key of tenant %s", tenant.id)
    return bool(result.rowcount)
