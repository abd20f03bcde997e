import logging

from app.logs import RedactingFilter, redact

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqaXJhOjEyMyIsInFzaCI6ImFiYyJ9.c2lnbmF0dXJlLXZhbHVl"


def test_page_tokens_in_logged_urls_are_redacted():
    line = f'"GET /pages/backups?xdm_e=https://a.atlassian.net&jwt={TOKEN}&lic=none HTTP/1.1" 200'
    cleaned = redact(line)
    assert TOKEN not in cleaned
    assert "jwt=[redacted]&lic=none" in cleaned


def test_authorization_values_and_bare_jwts_are_redacted():
    assert TOKEN not in redact(f"Authorization: JWT {TOKEN}")
    assert "Bearer [redacted]" in redact("Bearer abc.def-ghi.jkl")
    assert TOKEN not in redact(f"token was {TOKEN} here")


def test_single_use_download_tokens_are_redacted():
    assert redact("GET /downloads/AbC_123-xyz HTTP/1.1") == "GET /downloads/[redacted] HTTP/1.1"


def test_filter_rewrites_records_formatted_with_arguments():
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '"%s %s" %s', ("GET", f"/x?jwt={TOKEN}", 200), None)
    RedactingFilter().filter(record)
    assert TOKEN not in record.getMessage()
    assert record.getMessage() == '"GET /x?jwt=[redacted]" 200'


def test_plain_words_after_the_scheme_are_left_readable():
    assert redact("No JWT token sent.") == "No JWT token sent."


def test_slack_and_teams_webhook_tokens_are_redacted():
    from app.logs import redact

    urllib3_line = 'https://hooks.slack.com:443 "POST /services/T0001/B0002/XXXXsecret HTTP/1.1" 200 2'
    assert redact(urllib3_line) == 'https://hooks.slack.com:443 "POST /services/T0001/B0002/[redacted] HTTP/1.1" 200 2'
    teams = redact("https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456 answered 500")
    assert teams == "https://acme.webhook.office.com/webhookb2/[redacted] answered 500"
