"""Configuration read from the environment and validated when the app starts (never at import time).

Every variable has one default, in `DEFAULTS`; `load_config` is the only reader of the environment.
"""
from __future__ import annotations

import fnmatch
import logging
import os
import re
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from .crypto import KeyRing, KeyRingError, generate_key
from .urls import Purpose, UrlRefused, parse_strict, policy_for

logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration variable has an unusable value; the message names it."""

    def __init__(self, variable: str, problem: str):
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


# The one home of every default. Empty means "unset" (derived from the instance folder, or off).
DEFAULTS = {
    "APP_BASE_URL": "http://localhost:8000",
    "APP_KEY": "xray-backup",
    "APP_ENV": "development",
    "DATABASE_URL": "",  # sqlite:///<instance>/app.db
    "ENCRYPTION_KEYS": "",  # development: generated once into <instance>/encryption.key
    "CONNECT_INSTALL_KEYS_URL": "https://connect-install-keys.atlassian.com",
    "CONNECT_ALLOWED_HOSTS": "*.atlassian.net,*.jira.com,*.jira-dev.com",
    "CONNECT_ALL_JS_URL": "https://connect-cdn.atl-paas.net/all.js",  # the local preview points at its stand-in
    "XRAY_API_URL": "https://xray.cloud.getxray.app",
    "BACKUP_STORAGE_URL": "",  # file://<instance>/backups
    "S3_ENDPOINT_URL": "",
    "SCHEDULER_ENABLED": "true",
    "BACKUP_LEASE_SECONDS": "120",
    "UNINSTALL_GRACE_DAYS": "30",
    "XRAY_RATE_LIMIT": "300",
    "BACKUP_WORKERS": "2",
    "FORGE_APP_ID": "",  # unset: Forge Remote calls answer 503 forge_not_configured
    "FORGE_JWKS_URL": "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json",
    "METRICS_TOKEN": "",  # unset: /metrics is open in development and absent (404) in production
    "LOG_FORMAT": "text",
    "SMTP_URL": "",  # e-mail alerts off
    "ALERT_FROM": "xray-backup@localhost",
    "MAX_UPLOAD_MB": "2048",
}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
_GLOB = re.compile(r"^[a-z0-9_.*?-]+$")
MAX_BACKUP_WORKERS = 16
FORGE_APP_ARI_PREFIX = "ari:cloud:ecosystem::app/"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Config:
    app_base_url: str
    app_key: str
    app_env: str
    database_url: str
    encryption_keys: str
    connect_install_keys_url: str
    connect_allowed_hosts: tuple[str, ...]
    connect_all_js_url: str
    xray_api_url: str
    backup_storage_url: str
    s3_endpoint_url: str | None
    scheduler_enabled: bool
    backup_lease_seconds: int
    uninstall_grace_days: int
    xray_rate_limit: int
    backup_workers: int
    instance_path: str
    max_upload_mb: int
    keyring: KeyRing = field(compare=False, repr=False)
    forge_app_id: str | None = None  # always the ARI form
    forge_jwks_url: str = DEFAULTS["FORGE_JWKS_URL"]
    log_format: str = "text"
    metrics_token: str | None = field(default=None, repr=False)
    smtp_url: str | None = field(default=None, repr=False)  # may carry a password
    alert_from: str = DEFAULTS["ALERT_FROM"]

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def base_url_is_https(self) -> bool:
        return self.app_base_url.startswith("https://")

    @property
    def temp_path(self) -> Path:
        """Where runs write their data before it is published (one folder per attempt)."""
        return Path(self.instance_path) / "tmp" / "backups"

    def with_overrides(self, **overrides) -> "Config":
        return replace(self, **overrides)


def _bool(variable: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(variable, f"expected true or false, got {raw!r}")


def _positive_int(variable: str, raw: str, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(variable, f"expected a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(variable, f"must be positive, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(variable, f"at most {maximum}, got {value}")
    return value


def _http_url(variable: str, raw: str, production: bool = False) -> str:
    """An endpoint the operator configured, canonical per the URL policy (https:// only, in production)."""
    try:
        return policy_for(Purpose.CONFIGURED, production=production).check(raw).rstrip("/")
    except UrlRefused as exc:
        raise ConfigError(variable, f"the URL {exc.problem}" + (" in production" if "https" in exc.problem else "")) \
            from None


def forge_app_ari(variable: str, raw: str) -> str:
    """FORGE_APP_ID as the ARI Forge puts in a token's `aud`: `ari:cloud:ecosystem::app/<uuid>`, or the bare uuid."""
    value = raw.strip()
    uuid_part = value[len(FORGE_APP_ARI_PREFIX):] if value.startswith(FORGE_APP_ARI_PREFIX) else value
    if not _UUID.match(uuid_part.lower()):
        raise ConfigError(variable, f"expected {FORGE_APP_ARI_PREFIX}<uuid> or a bare uuid (from forge register), "
                                    f"got {raw!r}")
    return FORGE_APP_ARI_PREFIX + uuid_part.lower()


def _forge_jwks_url(production: bool, raw: str) -> str:
    url = _http_url("FORGE_JWKS_URL", raw)
    parts = urlsplit(url)
    # A JWKS over plain http would let anyone on the path mint Forge tokens; loopback stays for tests.
    if production and parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError("FORGE_JWKS_URL", "production requires an https:// URL")
    return url


def _allowed_hosts(raw: str, production: bool) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower() for h in raw.split(",") if h.strip())
    if not hosts:
        raise ConfigError("CONNECT_ALLOWED_HOSTS", "needs at least one host glob")
    for glob in hosts:
        if not _GLOB.match(glob):
            raise ConfigError("CONNECT_ALLOWED_HOSTS", f"{glob!r} is not a host glob (letters, digits, '-', '.', "
                                                       "'*' and '?')")
        if production and not glob.replace("*", "").replace("?", "").replace(".", ""):
            raise ConfigError("CONNECT_ALLOWED_HOSTS", f"{glob!r} matches every host: production needs the Jira "
                                                       "domains (e.g. *.atlassian.net)")
        if production and glob in LOOPBACK_HOSTS:
            raise ConfigError("CONNECT_ALLOWED_HOSTS", f"{glob!r} is this machine: production never installs a "
                                                       "loopback site")
    return hosts


def tenant_site_url(raw: object, globs: tuple[str, ...], *, production: bool) -> str:
    """A Jira site's baseUrl, canonical, if it may install here, else UrlRefused.

    The host must match a glob and use https (http only to loopback, in development); it is the host every later
    call connects to, since the allow-list reads the URL with the HTTP client's own parser.
    """
    url = policy_for(Purpose.TENANT_SITE, production=production).check(raw)
    host = parse_strict(url).host
    if not any(fnmatch.fnmatchcase(host, g) for g in globs):
        raise UrlRefused("is not on an allowed host (CONNECT_ALLOWED_HOSTS)")
    return url.rstrip("/")


def load_config(environ: dict[str, str] | None = None, instance_path: str = "instance") -> Config:
    """Build and validate the configuration; raise ConfigError naming the first bad variable."""
    env = dict(os.environ if environ is None else environ)

    def get(name: str) -> str:
        return (env.get(name) or "").strip() or DEFAULTS[name]

    app_env = get("APP_ENV")
    if app_env not in {"development", "production"}:
        raise ConfigError("APP_ENV", f"expected development or production, got {app_env!r}")
    production = app_env == "production"

    base_url = _http_url("APP_BASE_URL", get("APP_BASE_URL"))
    if len(base_url) > 200:
        raise ConfigError("APP_BASE_URL", "longer than the 200 characters Connect allows")
    if production and not base_url.startswith("https://"):
        raise ConfigError("APP_BASE_URL", "production requires an https:// base URL")

    app_key = get("APP_KEY")
    if len(app_key) > 64 or not all(c.isalnum() or c in "-._" for c in app_key):
        raise ConfigError("APP_KEY", "only letters, digits, '-', '.' and '_', at most 64 characters")

    database_url = get("DATABASE_URL") or f"sqlite:///{Path(instance_path, 'app.db').absolute()}"
    if not (database_url.startswith("sqlite") or database_url.startswith("postgresql")):
        raise ConfigError("DATABASE_URL", "only sqlite:// and postgresql+psycopg:// URLs are supported")
    if production and database_url.startswith("sqlite"):
        logger.warning("DATABASE_URL is SQLite in production: one file on one machine, no concurrent web workers "
                       "or scheduler processes; use PostgreSQL (postgresql+psycopg://…)")

    raw_keys = get("ENCRYPTION_KEYS")
    if not raw_keys:
        if production:
            raise ConfigError("ENCRYPTION_KEYS", "required in production")
        raw_keys = _development_keys(instance_path)
    try:
        keyring = KeyRing.parse(raw_keys)
    except KeyRingError as exc:
        raise ConfigError("ENCRYPTION_KEYS", str(exc)) from None

    hosts = _allowed_hosts(get("CONNECT_ALLOWED_HOSTS"), production)

    # A development aid: the local preview points the pages at its all.js stand-in.
    all_js_url = _http_url("CONNECT_ALL_JS_URL", get("CONNECT_ALL_JS_URL"), production)

    storage_url = get("BACKUP_STORAGE_URL") or Path(instance_path, "backups").absolute().as_uri()
    storage = urlsplit(storage_url)
    if storage.scheme not in {"file", "s3"}:
        raise ConfigError("BACKUP_STORAGE_URL", f"expected file:///path or s3://bucket/prefix, got {storage_url!r}")
    if storage.scheme == "s3" and not storage.netloc:
        raise ConfigError("BACKUP_STORAGE_URL", "an s3:// URL needs a bucket name")
    s3_endpoint = get("S3_ENDPOINT_URL")
    forge_app_id = get("FORGE_APP_ID")

    log_format = get("LOG_FORMAT").lower()
    if log_format not in {"text", "json"}:
        raise ConfigError("LOG_FORMAT", f"expected text or json, got {log_format!r}")
    metrics_token = get("METRICS_TOKEN")
    if metrics_token and (len(metrics_token) > 256 or not metrics_token.isprintable() or " " in metrics_token):
        raise ConfigError("METRICS_TOKEN", "must be printable, without spaces, at most 256 characters")
    smtp_url = get("SMTP_URL")
    _check_smtp_url(smtp_url)
    alert_from = get("ALERT_FROM")
    if "@" not in alert_from or any(c.isspace() for c in alert_from) or len(alert_from) > 254:
        raise ConfigError("ALERT_FROM", "expected an e-mail address such as xray-backup@example.com")

    return Config(
        app_base_url=base_url,
        app_key=app_key,
        app_env=app_env,
        database_url=database_url,
        encryption_keys=raw_keys,
        # Whoever could answer key fetches could sign installs: TLS in production.
        connect_install_keys_url=_http_url("CONNECT_INSTALL_KEYS_URL", get("CONNECT_INSTALL_KEYS_URL"), production),
        connect_allowed_hosts=hosts,
        connect_all_js_url=all_js_url,
        xray_api_url=_http_url("XRAY_API_URL", get("XRAY_API_URL"), production),
        backup_storage_url=storage_url,
        s3_endpoint_url=_http_url("S3_ENDPOINT_URL", s3_endpoint, production) if s3_endpoint else None,
        scheduler_enabled=_bool("SCHEDULER_ENABLED", get("SCHEDULER_ENABLED")),
        backup_lease_seconds=_positive_int("BACKUP_LEASE_SECONDS", get("BACKUP_LEASE_SECONDS")),
        uninstall_grace_days=_positive_int("UNINSTALL_GRACE_DAYS", get("UNINSTALL_GRACE_DAYS")),
        xray_rate_limit=_positive_int("XRAY_RATE_LIMIT", get("XRAY_RATE_LIMIT")),
        backup_workers=_positive_int("BACKUP_WORKERS", get("BACKUP_WORKERS"), MAX_BACKUP_WORKERS),
        instance_path=instance_path,
        max_upload_mb=_positive_int("MAX_UPLOAD_MB", get("MAX_UPLOAD_MB")),
        keyring=keyring,
        forge_app_id=forge_app_ari("FORGE_APP_ID", forge_app_id) if forge_app_id else None,
        forge_jwks_url=_forge_jwks_url(production, get("FORGE_JWKS_URL")),
        log_format=log_format,
        metrics_token=metrics_token or None,
        smtp_url=smtp_url or None,
        alert_from=alert_from,
    )


def _check_smtp_url(raw: str) -> None:
    """smtp://[user:pass@]host[:port] or smtps://…; the message never repeats the URL (it may hold a password)."""
    if not raw:
        return
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError("SMTP_URL", "is not a valid URL (expected smtp:// or smtps://user:pass@host:port)") from None
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ConfigError("SMTP_URL", "expected smtp://host[:port] or smtps://user:pass@host[:port]")
    if port is not None and not 0 < port < 65536:
        raise ConfigError("SMTP_URL", "has a port out of range")


def _development_keys(instance_path: str) -> str:
    """Generate a key once into the instance folder so development restarts can still decrypt."""
    path = Path(instance_path, "encryption.key")
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = f"dev{secrets.randbelow(10**6):06d}:{generate_key()}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    logger.warning("ENCRYPTION_KEYS is not set: generated a development key into %s (set ENCRYPTION_KEYS in production)",
                   path)
    return value
