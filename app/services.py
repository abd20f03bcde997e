"""What the app builds once at start and passes down: configuration, store, caches, pacers, use-case services.

`create_app` builds one `Services` and keeps it on the app; views and commands take it with `current_services()`
(or `services_of(app)`), and hand the engine exactly what it needs as parameters. Nothing below the views and
commands looks it up by itself.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import Flask, current_app

from .alerts.channels import EmailChannel, WebhookChannel
from .alerts.service import AlertService
from .alerts.settings import AlertSettingsStore
from .backups.lifecycle.retention import retain_after_run
from .backups.runs.status import RetryPolicy
from .backups.store.registry import open_store
from .backups.store.repository import SnapshotStore
from .config import Config
from .connect.cache import AdminCache, TenantCache
from .connect.forge_keys import ForgeKeySet
from .connect.install_keys import InstallKeyFetcher
from .credentials.people import DisplayNames
from .credentials.service import CredentialService
from .extensions import db
from .models import utcnow
from .ops.probes import Probes
from .sealing import Sealer
from .urls import GuardedSession, Purpose, guarded_session, policy_for
from .xray.shared_pacer import PacerRegistry

EXTENSION = "xray_backup"
logger = logging.getLogger(__name__)


@dataclass
class Services:
    config: Config
    sealer: Sealer
    store: SnapshotStore
    pacers: PacerRegistry
    credentials: CredentialService
    install_keys: InstallKeyFetcher
    forge_keys: ForgeKeySet
    tenant_cache: TenantCache = field(default_factory=TenantCache)
    admin_cache: AdminCache = field(default_factory=AdminCache)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    background: object | None = None  # app.background.Background, when this process runs the scheduler/workers
    probes: Probes | None = None  # /healthz and /readyz

    def outbound(self, purpose: Purpose) -> GuardedSession:
        """A new HTTP session that reaches only what the URL policy allows this purpose (app/urls)."""
        return guarded_session(policy_for(purpose, production=self.config.is_production))
    alerts: AlertService | None = None
    names: DisplayNames | None = None  # other admins' display names, from Jira

    def run_ended(self, run_id: str) -> None:
        """A run has ended (runs/status.settle calls this): retention after a success, then the alerts look at its
        tenant's health. Neither may change how the run ended: failures are logged, the hourly passes retry."""
        try:
            retain_after_run(run_id, utcnow(), self.store, self.sealer)
        except Exception as exc:
            db.session.rollback()
            logger.warning("retention after run %s failed (%s); the hourly pass will retry", run_id,
                           type(exc).__name__)
        if self.alerts is not None:
            self.alerts.run_ended(run_id)

    def wake_workers(self) -> None:
        """Let this process's workers claim at once (after "Back up now"); others poll within seconds."""
        pool = getattr(self.background, "pool", None)
        if pool is not None:
            pool.wake()


def build_services(config: Config, engine) -> Services:
    """Everything the app needs, built once from the configuration and the database engine."""
    sealer = Sealer(config.keyring)
    pacers = PacerRegistry(engine, config.xray_rate_limit)
    store = open_store(config)
    return Services(
        config=config,
        sealer=sealer,
        store=store,
        pacers=pacers,
        credentials=CredentialService(sealer, config.xray_api_url, pacers),
        install_keys=InstallKeyFetcher(config.connect_install_keys_url),
        forge_keys=ForgeKeySet(config.forge_jwks_url),
        probes=Probes(config.database_url, store, utcnow),
        alerts=build_alerts(config, sealer),
        names=DisplayNames(sealer, config.app_key),
    )


def build_alerts(config: Config, sealer: Sealer) -> AlertService:
    """Alerts: settings sealed by the app's sealer, webhooks under the URL policy, e-mail through SMTP_URL."""
    policy = policy_for(Purpose.WEBHOOK, production=config.is_production)
    store = AlertSettingsStore(sealer, policy, email_available=config.smtp_url is not None)
    return AlertService(store, EmailChannel(config.smtp_url, config.alert_from), WebhookChannel(policy),
                        app_key=config.app_key, clock=utcnow)


def services_of(app: Flask) -> Services:
    return app.extensions[EXTENSION]


def current_services() -> Services:
    """The services of the app handling the current request or command."""
    return services_of(current_app)
