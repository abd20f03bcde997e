"""A tenant's alert settings: read, validate (pure), update; the webhook URL sealed and never returned."""
from __future__ import annotations

import re
from datetime import datetime

from ..errors import BadRequest, ValidationFailed
from ..extensions import db
from ..models import Tenant
from ..sealing import Sealer
from ..urls import UrlPolicy, UrlRefused, parse_strict
from .models import WEBHOOK_FIELD, AlertSettings
from .rules import EVENTS

MAX_EMAILS = 10
WRITABLE = ("emails", "webhookUrl", "notifyOn")
_LOCAL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def is_email(value: object) -> bool:
    """A plain address (`name@example.com`): no display name, no spaces, a dotted domain."""
    if not isinstance(value, str) or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    return bool(_LOCAL.match(local)) and not local.startswith(".") and ".." not in local \
        and bool(_DOMAIN.match(domain))


def clean_emails(value: object) -> tuple[list[str], str | None]:
    """The addresses (trimmed, duplicates dropped) or a field message for the first problem."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [], "Must be a list of e-mail addresses."
    seen: dict[str, str] = {}
    for raw in value:
        address = raw.strip()
        if not address:
            continue
        if not is_email(address):
            return [], f"“{address[:80]}” is not an e-mail address (expected name@example.com)."
        seen.setdefault(address.lower(), address)
    if len(seen) > MAX_EMAILS:
        return [], f"At most {MAX_EMAILS} addresses."
    return list(seen.values()), None


def clean_notify_on(value: object) -> tuple[list[str], str | None]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [], "Must be a list of: " + ", ".join(EVENTS) + "."
    unknown = [v for v in value if v not in EVENTS]
    if unknown:
        return [], f"Unknown event “{unknown[0][:40]}”; expected any of: " + ", ".join(EVENTS) + "."
    return [event for event in EVENTS if event in value], None


def _row(tenant: Tenant) -> AlertSettings | None:
    return db.session.get(AlertSettings, tenant.id)


def settings_json(row: AlertSettings | None, *, email_available: bool, webhook_host: str | None = None) -> dict:
    """The API shape: never the webhook URL (its host only, to recognise it)."""
    return {
        "emails": list(row.emails or []) if row else [],
        "webhookConfigured": bool(row and row.webhook_url_enc),
        "webhookHost": webhook_host,
        "notifyOn": list(row.notify_on) if row else list(EVENTS),
        "emailAvailable": email_available,
    }


class AlertSettingsStore:
    """Read and write a tenant's alert settings; the webhook URL goes through the URL policy and the sealer."""

    def __init__(self, sealer: Sealer, policy: UrlPolicy, *, email_available: bool):
        self.sealer, self.policy, self.email_available = sealer, policy, email_available

    def view(self, tenant: Tenant) -> dict:
        row = _row(tenant)
        url = self.webhook_url(tenant, row)
        host = parse_strict(url, allow_query=True).host if url else None
        return settings_json(row, email_available=self.email_available, webhook_host=host)

    def recipients(self, tenant: Tenant) -> tuple[list[str], str | None, list[str]]:
        """(e-mail addresses, webhook URL, events to notify on) for sending."""
        row = _row(tenant)
        if row is None:
            return [], None, list(EVENTS)
        return list(row.emails or []), self.webhook_url(tenant, row), list(row.notify_on or [])

    def webhook_url(self, tenant: Tenant, row: AlertSettings | None) -> str | None:
        if row is None or not row.webhook_url_enc:
            return None
        return self.sealer.open_text(tenant.client_key, WEBHOOK_FIELD, row.webhook_url_enc)

    def update(self, tenant: Tenant, account_id: str | None, body, now: datetime) -> dict:
        """PUT /api/alert-settings: validate everything first (422 with fields), then store; nothing half-saved."""
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        fields = {name: "Unknown field." for name in body if name not in WRITABLE}
        values: dict = {}
        if "emails" in body:
            values["emails"], problem = clean_emails(body["emails"])
            if problem:
                fields["emails"] = problem
        if "notifyOn" in body:
            values["notifyOn"], problem = clean_notify_on(body["notifyOn"])
            if problem:
                fields["notifyOn"] = problem
        if "webhookUrl" in body and body["webhookUrl"] not in (None, ""):
            try:
                values["webhookUrl"] = self.policy.check(body["webhookUrl"])
            except UrlRefused as exc:
                fields["webhookUrl"] = f"The webhook URL {exc.problem}."
        elif "webhookUrl" in body:
            values["webhookUrl"] = None
        if fields:
            raise ValidationFailed("Some alert settings are invalid.", fields=fields)
        row = _row(tenant)
        if row is None:
            row = AlertSettings(tenant_id=tenant.id, emails=[], notify_on=list(EVENTS))
            db.session.add(row)
        if "emails" in values:
            row.emails = values["emails"]
        if "notifyOn" in values:
            row.notify_on = values["notifyOn"]
        if "webhookUrl" in values:
            url = values["webhookUrl"]
            row.webhook_url_enc = self.sealer.seal(tenant.client_key, WEBHOOK_FIELD, url) if url else None
        row.updated_at, row.updated_by = now, account_id
        db.session.commit()
        return self.view(tenant)
