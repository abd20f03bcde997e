import pytest

import logging

from app.config import ConfigError, load_config, tenant_site_url
from app.urls import UrlRefused
from app.crypto import generate_key


def test_defaults_start_in_development_with_a_generated_key(tmp_path):
    config = load_config({}, instance_path=str(tmp_path))
    assert config.app_base_url == "http://localhost:8000"
    assert config.app_key == "xray-backup"
    assert (tmp_path / "encryption.key").stat().st_mode & 0o777 == 0o600
    assert config.backup_storage_url.startswith("file://")
    assert load_config({}, instance_path=str(tmp_path)).encryption_keys == config.encryption_keys


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"APP_BASE_URL": "not a url"}, "APP_BASE_URL"),
        ({"ENCRYPTION_KEYS": "k1"}, "ENCRYPTION_KEYS"),
        ({"ENCRYPTION_KEYS": "k1:c2hvcnQ"}, "ENCRYPTION_KEYS"),
        ({"APP_ENV": "production", "APP_BASE_URL": "https://a.example"}, "ENCRYPTION_KEYS"),
        ({"APP_ENV": "production", "ENCRYPTION_KEYS": "k1:" + generate_key()}, "APP_BASE_URL"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"SCHEDULER_ENABLED": "maybe"}, "SCHEDULER_ENABLED"),
        ({"BACKUP_LEASE_SECONDS": "0"}, "BACKUP_LEASE_SECONDS"),
        ({"XRAY_RATE_LIMIT": "ten"}, "XRAY_RATE_LIMIT"),
        ({"BACKUP_STORAGE_URL": "ftp://x/y"}, "BACKUP_STORAGE_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"APP_KEY": "bad key!"}, "APP_KEY"),
        ({"CONNECT_ALL_JS_URL": "javascript:alert(1)"}, "CONNECT_ALL_JS_URL"),
        ({"APP_ENV": "production", "ENCRYPTION_KEYS": "k1:" + generate_key(), "APP_BASE_URL": "https://a.example",
          "CONNECT_ALL_JS_URL": "http://127.0.0.1:8000/static/dev/all.js"}, "CONNECT_ALL_JS_URL"),
        ({"SMTP_URL": "mailto:ops@example.com"}, "SMTP_URL"),
        ({"SMTP_URL": "smtp://"}, "SMTP_URL"),
        ({"SMTP_URL": "smtps://user:pw@mail.example.com:99999"}, "SMTP_URL"),
        ({"ALERT_FROM": "not an address"}, "ALERT_FROM"),
    ],
)
def test_invalid_configuration_refuses_to_start_naming_the_variable(tmp_path, env, variable):
    with pytest.raises(ConfigError) as caught:
        load_config(env, instance_path=str(tmp_path))
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_pages_load_atlassians_all_js_unless_a_development_stand_in_is_configured(tmp_path, make_app, fake_jira):
    from tests.support.connect import install_tenant, page_url

    assert load_config({}, instance_path=str(tmp_path)).connect_all_js_url == "https://connect-cdn.atl-paas.net/all.js"
    app = make_app(CONNECT_ALL_JS_URL="http://127.0.0.1:8000/static/dev/all.js")
    tenant = install_tenant(app, fake_jira)
    html = app.test_client().get(page_url(tenant, "/pages/backups")).get_data(as_text=True)
    assert '<script src="http://127.0.0.1:8000/static/dev/all.js"' in html


def test_tenant_hosts_must_match_a_glob_and_use_https_except_on_loopback():
    globs = ("*.atlassian.net", "127.0.0.1")
    assert tenant_site_url("https://acme.atlassian.net/", globs, production=False) == "https://acme.atlassian.net"
    assert tenant_site_url("http://127.0.0.1:8001", globs, production=False) == "http://127.0.0.1:8001"
    for refused in ("http://acme.atlassian.net", "https://evil.example", "https://atlassian.net.evil.example",
                    "https://evil.example\\@acme.atlassian.net", "http://127.0.0.2\\@127.0.0.1:9"):
        with pytest.raises(UrlRefused):
            tenant_site_url(refused, globs, production=False)
    with pytest.raises(UrlRefused):
        tenant_site_url("http://127.0.0.1:8001", globs, production=True)


PRODUCTION = {"APP_ENV": "production", "ENCRYPTION_KEYS": "k1:" + generate_key(), "APP_BASE_URL": "https://a.example",
              "DATABASE_URL": "postgresql+psycopg://u@db.example/x"}


@pytest.mark.parametrize("variable, value", [
    ("CONNECT_INSTALL_KEYS_URL", "http://connect-install-keys.atlassian.com"),
    ("XRAY_API_URL", "http://xray.cloud.getxray.app"),
    ("S3_ENDPOINT_URL", "http://minio.internal:9000"),
    ("CONNECT_ALLOWED_HOSTS", "*"),
    ("CONNECT_ALLOWED_HOSTS", "*.*"),
    ("CONNECT_ALLOWED_HOSTS", "*.atlassian.net,*"),
    ("CONNECT_ALLOWED_HOSTS", "*.atlassian.net,127.0.0.1"),
    ("CONNECT_ALLOWED_HOSTS", "*.atlassian.net,[a-z].example"),
    ("XRAY_API_URL", "https://evil.example\\@xray.cloud.getxray.app"),
    ("S3_ENDPOINT_URL", "https://user:secret@minio.internal"),
])
def test_production_refuses_plain_http_endpoints_and_a_wildcard_allow_list(tmp_path, variable, value):
    with pytest.raises(ConfigError) as caught:
        load_config({**PRODUCTION, variable: value}, instance_path=str(tmp_path))
    assert caught.value.variable == variable
    assert "secret" not in str(caught.value)


def test_production_starts_with_https_endpoints_and_jira_domains(tmp_path):
    config = load_config({**PRODUCTION, "S3_ENDPOINT_URL": "https://minio.internal:9000/",
                          "XRAY_API_URL": "HTTPS://XRAY.cloud.getxray.app/"}, instance_path=str(tmp_path))
    assert config.s3_endpoint_url == "https://minio.internal:9000"
    assert config.xray_api_url == "https://xray.cloud.getxray.app"
    assert config.connect_install_keys_url == "https://connect-install-keys.atlassian.com"


def test_development_still_accepts_http_endpoints_and_loopback_sites(tmp_path):
    config = load_config({"XRAY_API_URL": "http://127.0.0.1:8002", "CONNECT_ALLOWED_HOSTS": "*",
                          "S3_ENDPOINT_URL": "http://minio:9000"}, instance_path=str(tmp_path))
    assert config.xray_api_url == "http://127.0.0.1:8002" and config.connect_allowed_hosts == ("*",)


def test_production_on_sqlite_warns_loudly(tmp_path, caplog):
    env = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    with caplog.at_level(logging.WARNING, logger="app.config"):
        load_config(env, instance_path=str(tmp_path))
    assert any(r.levelno == logging.WARNING and "SQLite in production" in r.getMessage() for r in caplog.records)


def test_database_tests_run_on_both_backends(db_app):
    from sqlalchemy import text

    from app.extensions import db

    with db_app.app_context():
        assert db.session.execute(text("select count(*) from tenants")).scalar() == 0


FORGE_UUID = "0b6f9f66-1c2e-4b7b-9a57-1d1f1c0d5e11"


@pytest.mark.parametrize("raw", [FORGE_UUID, f"ari:cloud:ecosystem::app/{FORGE_UUID}", FORGE_UUID.upper(),
                                 f"  ari:cloud:ecosystem::app/{FORGE_UUID}  "])
def test_forge_app_id_is_read_as_the_ari_whether_given_as_ari_or_bare_uuid(tmp_path, raw):
    config = load_config({"FORGE_APP_ID": raw}, instance_path=str(tmp_path))
    assert config.forge_app_id == f"ari:cloud:ecosystem::app/{FORGE_UUID}"


def test_forge_is_off_by_default_and_keys_come_from_the_production_jwks(tmp_path):
    config = load_config({}, instance_path=str(tmp_path))
    assert config.forge_app_id is None
    assert config.forge_jwks_url == "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"FORGE_APP_ID": "my-app"}, "FORGE_APP_ID"),
        ({"FORGE_APP_ID": f"ari:cloud:ecosystem::installation/{FORGE_UUID}"}, "FORGE_APP_ID"),
        ({"FORGE_APP_ID": f"{FORGE_UUID}/extra"}, "FORGE_APP_ID"),
        ({"FORGE_JWKS_URL": "file:///etc/jwks.json"}, "FORGE_JWKS_URL"),
        ({"APP_ENV": "production", "ENCRYPTION_KEYS": "k1:" + generate_key(), "APP_BASE_URL": "https://a.example",
          "FORGE_JWKS_URL": "http://keys.example/.well-known/jwks.json"}, "FORGE_JWKS_URL"),
    ],
)
def test_bad_forge_settings_refuse_to_start_naming_the_variable(tmp_path, env, variable):
    with pytest.raises(ConfigError) as caught:
        load_config(env, instance_path=str(tmp_path))
    assert caught.value.variable == variable


def test_production_accepts_a_loopback_jwks_over_http_for_local_tests(tmp_path):
    env = {"APP_ENV": "production", "ENCRYPTION_KEYS": "k1:" + generate_key(), "APP_BASE_URL": "https://a.example",
           "FORGE_JWKS_URL": "http://127.0.0.1:9000/.well-known/jwks.json"}
    assert load_config(env, instance_path=str(tmp_path)).forge_jwks_url.startswith("http://127.0.0.1:9000")
def test_smtp_settings_are_read_and_the_password_never_shows_in_errors_or_repr(tmp_path):
    config = load_config({"SMTP_URL": "smtps://alerts:s3cret@mail.example.com:465", "ALERT_FROM": "xb@example.com"},
                         instance_path=str(tmp_path))
    assert config.smtp_url == "smtps://alerts:s3cret@mail.example.com:465" and config.alert_from == "xb@example.com"
    assert "s3cret" not in repr(config)
    assert load_config({}, instance_path=str(tmp_path)).smtp_url is None
    with pytest.raises(ConfigError) as caught:
        load_config({"SMTP_URL": "ftp://alerts:s3cret@mail.example.com"}, instance_path=str(tmp_path))
    assert "s3cret" not in str(caught.value)
