"""Validating a credentials PUT body. Pure: no Flask, no database."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ..errors import ValidationFailed
from ..xray.regions import REGIONS

MAX_LENGTH = 256
REGION_LABELS = {"global": "Global", "us": "US", "eu": "EU", "au": "Australia"}


@dataclass(frozen=True)
class CredentialInput:
    client_id: str
    client_secret: str | None  # None: keep the stored secret
    region: str
    store_unverified: bool


def _text_problem(value, label: str, required: bool) -> tuple[str | None, str | None]:
    """Return (trimmed value or None, problem or None); never echo the value in the problem."""
    if value is None:
        return None, (f"{label} is required." if required else None)
    if not isinstance(value, str):
        return None, f"{label} must be text."
    value = value.strip()
    if not value:
        return None, (f"{label} is required." if required else None)
    if len(value) > MAX_LENGTH:
        return None, f"{label} must be at most {MAX_LENGTH} characters."
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        return None, f"{label} must not contain control characters or line breaks."
    return value, None


def parse_input(body, *, has_stored_secret: bool, stored_region: str | None) -> CredentialInput:
    """Validate a PUT body; raise ValidationFailed with a message per field."""
    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object.", {})
    fields: dict[str, str] = {}
    client_id, problem = _text_problem(body.get("clientId"), "Client ID", required=True)
    if problem:
        fields["clientId"] = problem
    secret, problem = _text_problem(body.get("clientSecret"), "Client secret", required=not has_stored_secret)
    if problem:
        fields["clientSecret"] = problem
    region = body.get("region")
    if region is None or region == "":
        region = stored_region or "global"
    elif not isinstance(region, str) or region not in REGIONS:
        fields["region"] = "Choose one of: " + ", ".join(REGION_LABELS.get(r, r) for r in REGIONS) + "."
    store_unverified = body.get("storeUnverified", False)
    if not isinstance(store_unverified, bool):
        fields["storeUnverified"] = "storeUnverified must be true or false."
    if fields:
        raise ValidationFailed("Some fields need your attention.", fields)
    return CredentialInput(client_id, secret, region, store_unverified)
