"""The alert channels against real receivers on loopback: an SMTP server (aiosmtpd) and an HTTP server."""
from __future__ import annotations

from app.alerts.channels import Alert, EmailChannel, WebhookChannel
from app.urls import Purpose, policy_for

ALERT = Alert("failed", "https://acme.atlassian.net", "Scheduled Xray backup failed on https://acme.atlassian.net",
              "Xray did not respond.", "https://acme.atlassian.net/plugins/servlet/ac/xray-backup/backups", "run1")
NO_SLEEP = lambda _s: None  # noqa: E731


def test_an_email_reaches_the_smtp_server_once_with_the_alert_words(smtp_sink):
    channel = EmailChannel(smtp_sink.url, "alerts@example.com", sleep=NO_SLEEP)
    assert channel.send(ALERT, ["ops@example.com", "lead@example.com"]).outcome == "sent"
    [(sender, recipients, mail)] = smtp_sink.messages
    assert sender == "alerts@example.com" and recipients == ["ops@example.com", "lead@example.com"]
    assert mail["Subject"] == f"[Xray Backup] {ALERT.headline}"
    assert "Xray did not respond." in mail.get_content() and ALERT.link in mail.get_content()


def test_a_temporary_smtp_failure_is_retried_a_bounded_number_of_times(smtp_sink):
    smtp_sink.refuse = 1
    sleeps = []
    channel = EmailChannel(smtp_sink.url, "alerts@example.com", sleep=sleeps.append)
    assert channel.send(ALERT, ["ops@example.com"]).outcome == "sent"
    assert len(smtp_sink.messages) == 1 and len(sleeps) == 1
    smtp_sink.refuse = 10
    failed = channel.send(ALERT, ["ops@example.com"])
    assert failed.outcome == "failed" and "mail server" in failed.problem
    assert len(smtp_sink.messages) == 1  # three attempts, none accepted


def test_an_unreachable_smtp_server_fails_quickly_without_naming_the_password():
    channel = EmailChannel("smtp://user:s3cret@127.0.0.1:1", "alerts@example.com", timeout=2, sleep=NO_SLEEP)
    delivery = channel.send(ALERT, ["ops@example.com"])
    assert delivery.outcome == "failed" and "s3cret" not in delivery.problem and "s3cret" not in repr(channel)


def test_a_webhook_gets_slack_and_teams_compatible_json(webhook_receiver):
    channel = WebhookChannel(policy_for(Purpose.WEBHOOK, production=False), sleep=NO_SLEEP)
    assert channel.send(ALERT, webhook_receiver.url + "/hook?token=abc").outcome == "sent"
    [(path, content_type, _)] = webhook_receiver.requests
    assert path == "/hook?token=abc" and content_type == "application/json"
    [body] = webhook_receiver.deliveries()
    assert body == {"text": f"{ALERT.headline}\nXray did not respond.\n{ALERT.link}", "event": "failed",
                    "site": "https://acme.atlassian.net", "runId": "run1", "message": "Xray did not respond."}


def test_webhook_server_errors_are_retried_and_client_errors_are_not(webhook_receiver):
    channel = WebhookChannel(policy_for(Purpose.WEBHOOK, production=False), sleep=NO_SLEEP)
    webhook_receiver.statuses = [503, 200]
    assert channel.send(ALERT, webhook_receiver.url + "/a").outcome == "sent"
    assert len(webhook_receiver.deliveries("/a")) == 2
    webhook_receiver.statuses = [404]
    delivery = channel.send(ALERT, webhook_receiver.url + "/b")
    assert delivery.outcome == "failed" and "HTTP 404" in delivery.problem
    assert len(webhook_receiver.deliveries("/b")) == 1
    webhook_receiver.statuses = [500, 500, 500, 500]
    assert channel.send(ALERT, webhook_receiver.url + "/c").outcome == "failed"
    assert len(webhook_receiver.deliveries("/c")) == 3  # bounded


def test_webhook_redirects_are_followed_only_where_the_policy_allows(webhook_receiver):
    development = WebhookChannel(policy_for(Purpose.WEBHOOK, production=False), sleep=NO_SLEEP)
    webhook_receiver.redirects["/old"] = "/new"
    assert development.send(ALERT, webhook_receiver.url + "/old").outcome == "sent"
    assert len(webhook_receiver.deliveries("/new")) == 1
    webhook_receiver.redirects["/away"] = "http://169.254.169.254/latest/meta-data"
    refused = development.send(ALERT, webhook_receiver.url + "/away")
    assert refused.outcome == "failed" and "not allowed" in refused.problem
    assert len(webhook_receiver.deliveries("/away")) == 1  # the metadata address was never called


def test_in_production_a_webhook_to_loopback_is_refused_at_connect_time(webhook_receiver):
    production = WebhookChannel(policy_for(Purpose.WEBHOOK, production=True), sleep=NO_SLEEP)
    delivery = production.send(ALERT, webhook_receiver.url.replace("http://127.0.0.1", "https://localhost") + "/x")
    assert delivery.outcome == "failed" and "not allowed" in delivery.problem
    assert webhook_receiver.requests == []
