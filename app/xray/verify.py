"""Check an API key against Xray quickly: authenticate, then one cheap data query.

The global host can issue a token for a tenant whose data lives in a region, so a token alone does
not prove the key works: the data query does.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from .client import REJECTED_MESSAGE, XrayClient
from .errors import XrayAuthError, XrayError, XrayQueryError, XrayUnavailable

QUERIES = {
    "verifyCredentials": "query verifyCredentials { getTests(limit: 1) { total } }",
}
STATUSES = ("connected", "rejected", "unreachable")
REGION_HINT = ("Xray issued a token for this key but refused to read data with it. If your Xray data is hosted "
               "in a region (US, EU or Australia), choose that region and save again.")
UNREACHABLE_MESSAGE = "Xray could not be reached or failed to answer, so the credentials could not be checked."


@dataclass(frozen=True)
class Verification:
    status: str               # "connected", "rejected" or "unreachable"
    tests_visible: int | None
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "connected"


def verify_credentials(base_url: str, client_id: str, client_secret: str, *, timeout: tuple[float, float] = (3, 8),
                       max_attempts: int = 2, sleep=time.sleep, session=None, pacer=None) -> Verification:
    """Authenticate and count visible tests; never raises for Xray's answers (an admin is waiting)."""
    # Quick failures (refused connection, 502) are tried twice; a hanging Xray costs one read timeout per
    # call, so an admin waits at most about two timeouts.
    client = XrayClient(base_url, client_id, client_secret, timeout=timeout, max_attempts=max_attempts,
                        retry_budget=timeout[1], backoff_base=0.5, backoff_cap=2.0, sleep=sleep, session=session,
                        pacer=pacer)
    try:
        try:
            client.authenticate()
        except XrayAuthError:
            return Verification("rejected", None, REJECTED_MESSAGE)
        except XrayError:
            return Verification("unreachable", None, UNREACHABLE_MESSAGE)
        try:
            data = client.graphql("verifyCredentials", QUERIES["verifyCredentials"])
        except (XrayAuthError, XrayQueryError):
            return Verification("rejected", None, REGION_HINT)
        except (XrayUnavailable, XrayError):
            return Verification("unreachable", None, UNREACHABLE_MESSAGE)
        total = (data.get("getTests") or {}).get("total")
        total = total if isinstance(total, int) else None
        visible = f"{total} test{'s' if total != 1 else ''} visible" if total is not None else "connected"
        return Verification("connected", total, f"Connected: {visible}.")
    finally:
        client.close()
