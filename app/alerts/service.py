"""Alert use-cases: evaluate a tenant's health after a run ends or on the scheduler's clock, send what the
incident rules say (once), the settings, and a test send. Built once per app (app/services.py)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from sqlalchemy import select

from ..extensions import db
from ..models import BackupRun, Tenant
from ..presentation import format_time
from .channels import Alert, Delivery, EmailChannel, WebhookChannel
from .facts import gather
from .incidents import Transition, mark_notified, record
from .rules import Assessment, assess
from .settings import AlertSettingsStore

logger = logging.getLogger(__name__)

HEADLINES = {
    "failed": "Scheduled Xray backup failed on {site}",
    "skipped": "Scheduled Xray backup could not run on {site}",
    "stale": "No recent Xray backup on {site}",
    "recovered": "Xray backups are healthy again on {site}",
    "test": "Test alert from Xray Backup for {site}",
}


class AlertService:
    """A tenant's alert settings and deliveries, over the e-mail and webhook channels."""

    def __init__(self, settings: AlertSettingsStore, email: EmailChannel, webhook: WebhookChannel, *,
                 app_key: str, clock: Callable[[], datetime]):
        self.settings, self.email, self.webhook = settings, email, webhook
        self.app_key, self.clock = app_key, clock

    def backups_link(self, tenant: Tenant) -> str:
        return f"{tenant.base_url.rstrip('/')}/plugins/servlet/ac/{self.app_key}/backups"

    def alert(self, tenant: Tenant, event: str, message: str, run_id: str | None = None) -> Alert:
        site = tenant.base_url.rstrip("/")
        return Alert(event, site, HEADLINES[event].format(site=site), message, self.backups_link(tenant), run_id)

    # ---------------------------------------------------------------- evaluation

    def evaluate(self, tenant: Tenant, now: datetime) -> Assessment:
        """Assess the tenant, open or close its incident, and announce the transition this call won."""
        assessment = assess(gather(tenant, now))
        transition = record(tenant.id, assessment, now)
        if transition is not None:
            self._announce(tenant, transition, now)
        return assessment

    def evaluate_all(self, now: datetime) -> int:
        """Evaluate every active tenant (the scheduler's staleness check); return how many were evaluated."""
        tenants = db.session.scalars(select(Tenant).where(Tenant.installed.is_(True), Tenant.enabled.is_(True))
                                     .order_by(Tenant.id)).all()
        for tenant in tenants:
            try:
                self.evaluate(tenant, now)
            except Exception as exc:  # one tenant's trouble must not stop the others' alerts
                db.session.rollback()
                logger.warning("alerts: evaluating tenant %s failed (%s)", tenant.id, type(exc).__name__)
        return len(tenants)

    def run_ended(self, run_id: str) -> None:
        """After a run ended (the hook in runs/status.settle): evaluate its tenant. Never raises."""
        try:
            run = db.session.get(BackupRun, run_id, populate_existing=True)
            if run is not None:
                self.evaluate(run.tenant, self.clock())
        except Exception as exc:
            db.session.rollback()
            logger.warning("alerts: evaluating after run %s failed (%s)", run_id, type(exc).__name__)

    def _announce(self, tenant: Tenant, transition: Transition, now: datetime) -> None:
        emails, webhook_url, notify_on = self.settings.recipients(tenant)
        if transition.event not in notify_on:
            return
        message = transition.message
        if transition.event == "recovered":
            message = f"{message} The problem reported on {format_time(transition.opened_at)} is over."
        alert = self.alert(tenant, transition.event, message, transition.run_id)
        results = self._send(alert, emails, webhook_url)
        if any(d is not None and d.outcome == "sent" for d in results.values()):
            mark_notified(transition.incident_id, transition.event, now)
        logger.info("alert %s for tenant %s: %s", transition.event, tenant.id,
                    ", ".join(f"{k} {d.outcome if d else 'not configured'}" for k, d in results.items()))

    def _send(self, alert: Alert, emails: list[str], webhook_url: str | None) -> dict[str, Delivery | None]:
        email = self.email.send(alert, emails) if emails and self.email.configured else None
        webhook = self.webhook.send(alert, webhook_url) if webhook_url else None
        return {"email": email, "webhook": webhook}

    # ---------------------------------------------------------------- settings and test

    def send_test(self, tenant: Tenant) -> dict:
        """POST /api/alert-settings/test: one test message to each configured channel."""
        emails, webhook_url, _ = self.settings.recipients(tenant)
        alert = self.alert(tenant, "test", "This is a test. Alerts about failing, skipped or stale backups, and "
                           "recoveries, arrive here.")
        results = self._send(alert, emails, webhook_url)
        answer, words = {}, []
        for channel, label in (("email", "E-mail"), ("webhook", "Webhook")):
            delivery = results[channel]
            if delivery is None:
                answer[channel] = "not_configured"
                if channel == "email" and emails and not self.email.configured:
                    words.append("E-mail is not set up on this server: ask the app's operator to set SMTP_URL.")
            else:
                answer[channel] = delivery.outcome
                words.append(f"{label}: sent." if delivery.outcome == "sent" else
                             f"{label}: not delivered, {delivery.problem}.")
        if not words:
            words.append("No alert channel is set up yet: add an e-mail address or a webhook URL.")
        answer["message"] = " ".join(words)
        return answer
