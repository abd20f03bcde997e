"""A request id per request: the proxy's X-Request-Id (when sane) or a new one, on every log line and echoed back."""
from __future__ import annotations

import logging


def refusals(caplog):
    return [r for r in caplog.records if "refused" in r.getMessage()]


def test_log_lines_of_a_request_carry_the_request_id_the_proxy_sent(client, caplog):
    caplog.set_level(logging.INFO)
    response = client.get("/api/backups", headers={"X-Request-Id": "edge-7f3a.42"})
    assert response.status_code == 401 and response.headers["X-Request-Id"] == "edge-7f3a.42"
    [line] = refusals(caplog)
    assert line.request_id == "edge-7f3a.42"


def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(client, caplog):
    caplog.set_level(logging.INFO)
    first = client.get("/api/backups", headers={"X-Request-Id": "not a safe id; <script>"})
    second = client.get("/api/backups")
    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert ids[0] != ids[1] and all(len(i) == 32 and i.isalnum() for i in ids)
    assert [r.request_id for r in refusals(caplog)] == ids


def test_lines_logged_outside_a_request_have_no_request_id(client, caplog):
    caplog.set_level(logging.INFO)
    client.get("/api/backups")
    logging.getLogger("app.test").info("after the request")
    assert not hasattr(caplog.records[-1], "request_id")
