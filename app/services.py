"""What the app builds once at start and passes down: configuration, store, caches, pacers, use-case services.

`create_app` builds one `Services` and keeps it on the app; views and commands take it with `current_services()`
(or `services_of(app)`), and hand the engine exactly what it needs as parameters. Nothing below the views and
commands looks it up by itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, current_app

from .backups.runs.status import RetryPolicy
from .backups.store.registry import open_store
from .backups.store.repository import SnapshotStore
from .config import Config
from .connect.cache import AdminCache, TenantCache
from .connect.forge_keys import ForgeKeySet
from .connect.install_keys import InstallKeyFetcher
from .credentials.service import CredentialService
from .models import utcnow
from .ops.probes import Probes
from .sealing import Sealer
from .urls import GuardedSession, Purpose, guarded_session, policy_for
from .xray.shared_pacer import PacerRegistry

EXTENSION = "xray_backup"


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
    )


def services_of(app: Flask) -> Services:
    return app.extensions[EXTENSION]


def current_services() -> Services:
    """The services of the app handling the current request or command."""
    return services_of(current_app)
