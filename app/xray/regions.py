"""Xray Cloud regions and the base URL each one is served from."""
from __future__ import annotations

from ..urls import origin_of

REGIONS = ("global", "us", "eu", "au")
OFFICIAL_HOSTS = {
    "global": "https://xray.cloud.getxray.app",
    "us": "https://us.xray.cloud.getxray.app",
    "eu": "https://eu.xray.cloud.getxray.app",
    "au": "https://au.xray.cloud.getxray.app",
}


def region_base_url(default_base: str, region: str | None) -> str:
    """The base URL for a region: Xray's regional host, or ``{default_base}/{region}`` for a stand-in.

    When the configured default is one of Xray's own hosts the region picks Xray's host for it; any
    other default (the simulator, a test server) serves regions under a path prefix, global at its root.
    """
    region = region or "global"
    if region not in REGIONS:
        raise ValueError(f"unknown Xray region {region!r}; expected one of {', '.join(REGIONS)}")
    base = default_base.rstrip("/")
    if base in OFFICIAL_HOSTS.values():
        return OFFICIAL_HOSTS[region]
    return base if region == "global" else f"{base}/{region}"


def is_official_host(url: str) -> bool:
    """Tell whether a URL is on one of Xray Cloud's hosts (origins compared as the HTTP client parses them)."""
    target = origin_of(url)
    return target is not None and any(target == origin_of(host) for host in OFFICIAL_HOSTS.values())
