"""Where each hop of an attachment download may go: Xray's own origin with its session and token, anywhere
else only as the URL policy allows (https, public addresses checked at connect time), with no credentials."""
from __future__ import annotations

from typing import Callable

import requests

from ..urls import DestinationRefused, Purpose, UrlPolicy, UrlRefused, guarded_session, policy_for
from .errors import XrayDownloadRefused
from .regions import is_official_host
from .responses import origin

# Where attachment redirects may lead unless the caller passes its environment's policy (app/services.py does).
STRICT_DOWNLOADS = policy_for(Purpose.XRAY_DOWNLOAD, production=True)


class DownloadHops:
    """Opens each hop of a download; the guarded session for hops away from Xray is made on first use."""

    def __init__(self, base_url: str, policy: UrlPolicy):
        self.base_url, self.policy = base_url, policy
        self._elsewhere: requests.Session | None = None

    def is_xray(self, url: str) -> bool:
        """Xray's own origin (the configured base URL or one of Xray Cloud's hosts), compared strictly."""
        target = origin(url)
        return target is not None and (target == origin(self.base_url) or is_official_host(url))

    def open(self, url: str, xray_session: requests.Session, headers: Callable[[], dict], timeout):
        """GET one hop without following redirects; `headers()` (the token) only for Xray's origin."""
        if self.is_xray(url):
            return xray_session.get(url, headers=headers(), timeout=timeout, stream=True, allow_redirects=False)
        try:
            self.policy.check(url)
        except UrlRefused as exc:
            raise XrayDownloadRefused(f"Xray redirected an attachment download to a URL the app does not follow: it "
                                      f"{exc.problem}.") from None
        if self._elsewhere is None:
            self._elsewhere = guarded_session(self.policy)
        try:
            return self._elsewhere.get(url, timeout=timeout, stream=True)
        except DestinationRefused as exc:
            raise XrayDownloadRefused(f"Xray redirected an attachment download where the app does not connect: "
                                      f"{exc.problem}.") from None

    def close(self) -> None:
        if self._elsewhere is not None:
            self._elsewhere.close()
