"""The one URL policy for every URL the app stores or calls (tenant sites, configured endpoints, Xray
downloads and their redirects, webhooks).

Use it in two steps:

- **Before storing or calling a URL**, normalise it for its purpose:
  `policy_for(Purpose.WEBHOOK, production=config.is_production).check(raw)` returns the canonical
  `scheme://host[:port][/path][?query]` string, or raises `UrlRefused` whose `problem` is safe to show
  (e.g. as a 422 field message). Store only the returned string. `normalize_url` / `normalize_base_url` are the
  purpose-free syntax check; `same_origin` compares origins parsed the same strict way.
- **When calling it**, send the request through `guarded_session(policy)`: every new connection resolves the
  host and refuses (raising `DestinationRefused` before any byte is sent) unless every resolved address is
  allowed — loopback only where the policy allows it (development), private, link-local and metadata
  addresses only for operator-configured endpoints. The session never follows redirects: check each
  `Location` with `policy.check` and send it through the same session, so every hop is checked.
"""
from .guard import DestinationRefused, GuardedSession, guarded_session
from .policy import (ParsedUrl, Purpose, UrlPolicy, UrlRefused, address_kind, is_loopback_host, normalize_base_url,
                     normalize_url, origin_of, parse_strict, policy_for, same_origin)

__all__ = [
    "DestinationRefused", "GuardedSession", "ParsedUrl", "Purpose", "UrlPolicy", "UrlRefused", "address_kind",
    "guarded_session", "is_loopback_host", "normalize_base_url", "normalize_url", "origin_of", "parse_strict",
    "policy_for", "same_origin",
]
