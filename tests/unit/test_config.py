import pytest

from app.config import ConfigError, host_allowed, load_config
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
    assert host_allowed("acme.atlassian.net", "https", globs)
    assert not host_allowed("acme.atlassian.net", "http", globs)
    assert not host_allowed("evil.example", "https", globs)
    assert not host_allowed("atlassian.net.evil.example", "https", globs)
    assert host_allowed("127.0.0.1", "http", globs)


def test_database_tests_run_on_both_backends(db_app):
    from sqlalchemy import text

    from app.extensions import db

    with db_app.app_context():
        assert db.session.execute(text("select count(*) from tenants")).scalar() == 0


def test_smtp_settings_are_read_and_the_password_never_shows_in_errors_or_repr(tmp_path):
    config = load_config({"SMTP_URL": "smtps://alerts:s3cret@mail.example.com:465", "ALERT_FROM": "xb@example.com"},
                         instance_path=str(tmp_path))
    assert config.smtp_url == "smtps://alerts:s3cret@mail.example.com:465" and config.alert_from == "xb@example.com"
    assert "s3cret" not in repr(config)
    assert load_config({}, instance_path=str(tmp_path)).smtp_url is None
    with pytest.raises(ConfigError) as caught:
        load_config({"SMTP_URL": "ftp://alerts:s3cret@mail.example.com"}, instance_path=str(tmp_path))
    assert "s3cret" not in str(caught.value)
