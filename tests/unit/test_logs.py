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


OAUTH = "opaque-forge-app-system-token-0123"


def test_forge_oauth_header_values_are_redacted_in_every_spelling_a_log_can_carry():
    lines = [
        f"x-forge-oauth-system: {OAUTH}",
        f"X-Forge-OAuth-User:{OAUTH}",
        f"{{'X-Forge-Oauth-System': '{OAUTH}', 'Accept': '*/*'}}",
        f'{{"x-forge-oauth-user": "{OAUTH}"}}',
        f"environ {{'HTTP_X_FORGE_OAUTH_SYSTEM': '{OAUTH}'}}",
        f"GET /forge/remote/backup-status?x-forge-oauth-system={OAUTH}&a=b",
    ]
    for line in lines:
        cleaned = redact(line)
        assert OAUTH not in cleaned, line
        assert "[redacted]" in cleaned


def test_forge_invocation_tokens_after_bearer_are_redacted():
    assert TOKEN not in redact(f"Authorization: Bearer {TOKEN}")
    assert redact("the x-forge-oauth-system header was absent") == "the x-forge-oauth-system header was absent"
