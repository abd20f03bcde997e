"""Request JSON on the API's PUT/POST routes: bounded nesting answered 400 with the usual body, never a 500."""
from __future__ import annotations

import logging

import pytest

from app.jsonbody import JsonBodyRejected, nesting_depth, parse_json

DEEP = {"arrays": "[" * 30000 + "]" * 30000, "objects": '{"a":' * 10000 + "1" + "}" * 10000}


@pytest.mark.parametrize("route", ["/api/xray-credentials", "/api/backup-settings"])
@pytest.mark.parametrize("shape", list(DEEP))
def test_deeply_nested_json_on_put_routes_gets_400_and_no_traceback(api, route, shape, caplog):
    with caplog.at_level(logging.INFO):
        response = api.put(route, data=DEEP[shape], content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"] == "bad_request" and "nested" in response.json["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_ordinary_bodies_still_work_and_malformed_ones_keep_their_answers(api):
    assert api.put("/api/backup-settings", json={"timeOfDay": "04:30"}).json["timeOfDay"] == "04:30"
    malformed = api.put("/api/xray-credentials", data="{not json", content_type="application/json")
    assert malformed.status_code == 422


def test_nesting_is_measured_without_recursion_and_ignores_brackets_in_strings():
    assert nesting_depth(b'{"a": [1, {"b": "[[[[[[[["}]}') == 3
    assert nesting_depth(b'"\\"[[[["') == 0
    assert nesting_depth(b"[" * 1_000_000) == 1_000_000
    with pytest.raises(JsonBodyRejected):
        parse_json(b"[" * 33 + b"]" * 33)
    assert parse_json(b"[" * 32 + b"]" * 32) == [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
