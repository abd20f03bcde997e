import io
import json
import logging
import sys

from app.logs import Damper, JsonFormatter, RedactingFilter, TextFormatter, configure_logging, redact, run_logging

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


# ---------------------------------------------------------------- JSON lines, context ids, damping


def _line(formatter, logger_name="app.test", level=logging.INFO, msg="hello %s", args=("world",), **extra):
    record = logging.LogRecord(logger_name, level, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return formatter.format(record)


def test_a_json_line_is_one_object_with_time_level_logger_message_and_extras():
    entry = json.loads(_line(JsonFormatter(), tenant_id=7, counts={"tests": 3}))
    assert entry["level"] == "INFO" and entry["logger"] == "app.test" and entry["message"] == "hello world"
    assert entry["time"].endswith("Z") and entry["tenant_id"] == 7 and entry["counts"] == {"tests": 3}


def test_json_lines_carry_the_run_id_while_a_run_executes():
    configure_logging()  # installs what gives every record the ids of its thread
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("app.test.json")
    log.addHandler(handler)
    log.propagate = False
    try:
        with run_logging("run123"):
            log.warning("inside %s", "a run")
        log.warning("outside")
        with run_logging("run456"):
            text = TextFormatter().format(log.makeRecord(log.name, logging.INFO, __file__, 1, "x", (), None))
    finally:
        log.removeHandler(handler)
    inside, outside = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert inside["run_id"] == "run123" and inside["message"] == "inside a run"
    assert "run_id" not in outside
    assert text.endswith("[run_id=run456]")


def test_json_lines_are_redacted_in_the_message_the_extras_and_the_traceback():
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        record = logging.LogRecord("werkzeug", logging.ERROR, __file__, 1, "GET %s", (f"/x?jwt={TOKEN}",),
                                   sys.exc_info())
    record.url = f"/pages?jwt={TOKEN}"
    line = JsonFormatter().format(record)
    assert TOKEN not in line
    entry = json.loads(line)
    assert entry["message"] == "GET /x?jwt=[redacted]" and "[redacted-jwt]" in entry["exception"]


def test_a_repeated_failure_is_logged_once_per_minute_then_with_its_count_and_its_recovery(caplog):
    now = [0.0]
    damper = Damper(logging.getLogger("app.damped"), window=60, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="app.damped")
    logged = []
    for second in range(0, 150, 2):  # a loop polling every 2 s for 2.5 minutes, the database down
        now[0] = second
        logged.append(damper.failure("claiming", logging.ERROR, "claiming failed (%s)", "OperationalError"))
    assert sum(logged) == 3  # at 0 s, 60 s and 120 s
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "claiming failed (OperationalError)"
    assert messages[1] == "claiming failed (OperationalError) (again; 30 more time(s) in the last 60 s)"
    damper.ok("claiming")
    assert caplog.records[-1].getMessage() == "claiming: working again after 75 failure(s)"
    now[0] = 151
    assert damper.failure("claiming", logging.ERROR, "claiming failed (%s)", "x")  # a new streak logs at once


def test_slack_and_teams_webhook_tokens_are_redacted():
    from app.logs import redact

    urllib3_line = 'https://hooks.slack.com:443 "POST /services/T0001/B0002/XXXXsecret HTTP/1.1" 200 2'
    assert redact(urllib3_line) == 'https://hooks.slack.com:443 "POST /services/T0001/B0002/[redacted] HTTP/1.1" 200 2'
    teams = redact("https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456 answered 500")
    assert teams == "https://acme.webhook.office.com/webhookb2/[redacted] answered 500"
