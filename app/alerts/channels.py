"""Where alerts go: e-mail through the operator's SMTP server, and webhooks (Slack- and Teams-compatible JSON).

Both have short timeouts and a bounded number of attempts, and report "sent" or "failed" with a reason safe to
show: never the SMTP password nor the webhook URL (for Slack the URL is the secret).
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Callable
from urllib.parse import unquote, urljoin, urlsplit

import requests

from ..urls import DestinationRefused, UrlPolicy, UrlRefused, guarded_session

logger = logging.getLogger(__name__)

SMTP_TIMEOUT = 10.0
WEBHOOK_TIMEOUT = (3.05, 5.0)
ATTEMPTS = 3
BACKOFF = 1.0
MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)


@dataclass(frozen=True)
class Alert:
    """One message about a tenant's backups, as every channel words it."""

    event: str          # failed | skipped | stale | recovered | test
    site: str
    headline: str
    message: str
    link: str
    run_id: str | None = None

    def webhook_json(self) -> dict:
        return {"text": f"{self.headline}\n{self.message}\n{self.link}", "event": self.event, "site": self.site,
                "runId": self.run_id, "message": self.message}

    def email(self, sender: str, recipients: list[str]) -> EmailMessage:
        # Long subjects (they hold the site URL) stay on one line instead of an odd fold right after "Subject:".
        mail = EmailMessage(policy=email_policy.default.clone(max_line_length=998))
        mail["Subject"] = f"[Xray Backup] {self.headline}"
        mail["From"] = sender
        mail["To"] = ", ".join(recipients)
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
        mail.set_content(f"{self.headline}\n\n{self.message}\n\nOpen the Backups page: {self.link}\n\n"
                         "You receive this because your address is listed in the alert settings of the Backups page.")
        return mail


@dataclass(frozen=True)
class Delivery:
    outcome: str        # sent | failed
    problem: str = ""   # why it failed, safe to show


class EmailChannel:
    """Send alerts through SMTP_URL (`smtp://` or `smtps://user:pass@host:port`) from ALERT_FROM."""

    def __init__(self, smtp_url: str | None, sender: str, *, timeout: float = SMTP_TIMEOUT, attempts: int = ATTEMPTS,
                 sleep: Callable[[float], None] = time.sleep):
        self._url = urlsplit(smtp_url) if smtp_url else None
        self.sender, self.timeout, self.attempts, self.sleep = sender, timeout, attempts, sleep

    def __repr__(self) -> str:  # never show the password
        return f"EmailChannel(configured={self.configured})"

    @property
    def configured(self) -> bool:
        return self._url is not None

    def send(self, alert: Alert, recipients: list[str]) -> Delivery:
        if not self.configured:
            return Delivery("failed", "e-mail is not set up on this server (SMTP_URL)")
        mail = alert.email(self.sender, recipients)
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                self._deliver(mail, recipients)
                return Delivery("sent")
            except smtplib.SMTPAuthenticationError:
                return Delivery("failed", "the mail server refused the app's user name or password")
            except smtplib.SMTPRecipientsRefused:
                return Delivery("failed", "the mail server refused the recipients")
            except (smtplib.SMTPException, OSError) as exc:
                problem = f"the mail server could not be reached or failed ({type(exc).__name__})"
                logger.warning("alert e-mail attempt %d of %d failed: %s", attempt, self.attempts, type(exc).__name__)
            if attempt < self.attempts:
                self.sleep(BACKOFF * attempt)
        return Delivery("failed", problem)

    def _deliver(self, mail: EmailMessage, recipients: list[str]) -> None:
        url = self._url
        secure = url.scheme == "smtps"
        port = url.port or (465 if secure else 25)
        if secure:
            client = smtplib.SMTP_SSL(url.hostname, port, timeout=self.timeout,
                                      context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(url.hostname, port, timeout=self.timeout)
        with client:
            if not secure:
                client.ehlo()
                if client.has_extn("starttls"):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(mail, from_addr=self.sender, to_addrs=recipients)


class WebhookChannel:
    """POST alerts as JSON to a webhook URL through the URL policy's guarded session, every redirect checked."""

    def __init__(self, policy: UrlPolicy, *, timeout=WEBHOOK_TIMEOUT, attempts: int = ATTEMPTS,
                 sleep: Callable[[float], None] = time.sleep):
        self.policy, self.timeout, self.attempts, self.sleep = policy, timeout, attempts, sleep

    def send(self, alert: Alert, url: str) -> Delivery:
        payload = alert.webhook_json()
        problem = ""
        with guarded_session(self.policy) as session:
            for attempt in range(1, self.attempts + 1):
                try:
                    status = self._post(session, url, payload)
                except (DestinationRefused, UrlRefused) as exc:
                    return Delivery("failed", f"the webhook address is not allowed ({_problem(exc)})")
                except requests.RequestException as exc:
                    status, problem = None, f"the webhook could not be reached ({type(exc).__name__})"
                if status is not None:
                    if 200 <= status < 300:
                        return Delivery("sent")
                    problem = f"the webhook answered HTTP {status}"
                    if status < 500 and status != 429:
                        return Delivery("failed", problem)
                logger.warning("alert webhook attempt %d of %d failed: %s", attempt, self.attempts, problem)
                if attempt < self.attempts:
                    self.sleep(BACKOFF * attempt)
        return Delivery("failed", problem)

    def _post(self, session, url: str, payload: dict) -> int:
        """POST, following up to MAX_REDIRECTS redirects, each one checked by the policy; the final status."""
        for _hop in range(MAX_REDIRECTS + 1):
            response = session.post(url, json=payload, timeout=self.timeout)
            response.close()
            if response.status_code not in REDIRECTS:
                return response.status_code
            location = response.headers.get("Location")
            if not location:
                return response.status_code
            url = self.policy.check(urljoin(url, location))
        raise UrlRefused("redirected too many times")


def _problem(exc: Exception) -> str:
    return getattr(exc, "problem", None) or "refused"
