"""Per-tenant snapshot data keys, wrapped by the key ring; deleting one crypto-shreds the tenant's snapshots."""
from __future__ import annotations

import logging
import os
from datetime import datetime

from sqlalchemy import delete, select

from ...extensions import db, insert_ignoring_conflict
from ...models import DATA_KEY_FIELD, Tenant, TenantDataKey
from ...sealing import Sealer

logger = logging.getLogger(__name__)


def _stored(tenant: Tenant) -> str | None:
    return db.session.execute(
        select(TenantDataKey.wrapped_key).where(TenantDataKey.tenant_id == tenant.id)
    ).scalar_one_or_none()


def data_key_for(tenant: Tenant, now: datetime, sealer: Sealer) -> bytes:
    """The tenant's 32-byte data key, created and committed on first use.

    The key must be durable before anything is encrypted with it, so creating it commits the session.
    Two processes creating it at once both end with the one that was inserted first.
    """
    wrapped = _stored(tenant)
    if wrapped is None:
        candidate = os.urandom(32)
        db.session.execute(insert_ignoring_conflict(TenantDataKey, {
            "tenant_id": tenant.id,
            "wrapped_key": sealer.seal(tenant.client_key, DATA_KEY_FIELD, candidate),
            "created_at": now,
        }, index_elements=["tenant_id"]))
        db.session.commit()
        wrapped = _stored(tenant)
        if wrapped is None:  # shredded between the insert and the read: there is no key to use
            raise LookupError("the tenant's data key was deleted while it was being created")
        logger.info("created the snapshot data key of tenant %s", tenant.id)
    return sealer.open_bytes(tenant.client_key, DATA_KEY_FIELD, wrapped)


def existing_data_key(tenant: Tenant, sealer: Sealer) -> bytes | None:
    """The tenant's data key if it has one (never creates it: a shredded tenant stays shredded)."""
    wrapped = _stored(tenant)
    return None if wrapped is None else sealer.open_bytes(tenant.client_key, DATA_KEY_FIELD, wrapped)


def has_data_key(tenant: Tenant) -> bool:
    return _stored(tenant) is not None


def shred(tenant: Tenant) -> bool:
    """Delete the tenant's data key, making every snapshot encrypted under it unreadable; commits."""
    result = db.session.execute(delete(TenantDataKey).where(TenantDataKey.tenant_id == tenant.id))
    db.session.commit()
    if result.rowcount:
        logger.info("shredded the snapshot data key of tenant %s", tenant.id)
    return bool(result.rowcount)
