"""Plant a unique Xray secret, drive every credential route (errors included), then look for the secret
in every response, every captured log line, the database file and every file in the instance folder."""
from __future__ import annotations

import base64
import json
import logging
import os
import uuid
from pathlib import Path

import pytest

from tests.support.connect import page_url
from tests.support.xray import start_xray_simulator
from tests.support.paths import ROOT



@pytest.fixture
def planted():
    """A secret that exists nowhere else: any occurrence found later is a leak."""
    return f"PLANTED-{uuid.uuid4().hex}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def xray(planted):
    sim, _ = start_xray_simulator("leak-test-client-id", planted)
    yield sim
    sim.stop()


@pytest.fixture
def app(make_app, xray, fake_jira):
    return make_app(XRAY_API_URL=xray.url, CONNECT_INSTALL_KEYS_URL=fake_jira.keys_url)


def needles(secret: str) -> list[bytes]:
    """The secret as bytes and in the encodings a careless log or response might use."""
    raw = secret.encode()
    return [
        raw,
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
        json.dumps(secret).encode(),
        secret.encode("utf-16-le"),
    ]


def count_hits(blob: bytes, secret: str) -> int:
    return sum(blob.count(n) for n in needles(secret))


def exercise_every_route(client, api, tenant, xray, planted):
    """Each credential route, in success and error, with the planted secret in play; returns the responses."""
    cid = "leak-test-client-id"
    good = {"clientId": cid, "clientSecret": planted}
    near = planted[:-1] + ("X" if planted[-1] != "X" else "Y")  # a wrong secret sharing the planted prefix
    responses, sent = [], []

    def call(method, path, *, expect, authed=True, **kwargs):
        sent.append(json.dumps(kwargs.get("json")).encode() + (kwargs.get("data") or b"") + path.encode()
                    + json.dumps(kwargs.get("headers") or {}).encode())
        response = (api.open(method, path, **kwargs) if authed else client.open(path, method=method, **kwargs))
        assert response.status_code == expect, (method, path, response.status_code, response.get_data()[:300])
        responses.append(response)
        return response

    call("GET", "/api/xray-credentials", expect=200)
    call("POST", "/api/xray-credentials/verify", expect=409)
    call("PUT", "/api/xray-credentials", expect=401, authed=False, json=good)
    call("PUT", "/api/xray-credentials", expect=422, json={"clientId": cid, "clientSecret": near})
    call("PUT", "/api/xray-credentials", expect=422, json={"clientId": "", "clientSecret": planted})
    call("PUT", "/api/xray-credentials", expect=422, json={"clientId": cid, "clientSecret": planted[:9] + "\n" + planted[9:]})
    call("PUT", "/api/xray-credentials", expect=422, json={"clientId": cid, "clientSecret": planted * 5})
    call("PUT", "/api/xray-credentials", expect=422, json={"clientId": planted + "\x00", "clientSecret": planted})
    call("PUT", "/api/xray-credentials", expect=422, json={"clientId": cid, "clientSecret": [planted]})
    call("PUT", "/api/xray-credentials", expect=422, data=b'{"clientSecret": "' + planted.encode() + b'"',
         headers={"Content-Type": "application/json"})
    call("PUT", "/api/xray-credentials", expect=422, json={**good, "region": planted})
    xray.set_faults(error_every=1, error_status=503, fault_targets=["authenticate", "graphql"])
    call("PUT", "/api/xray-credentials", expect=422, json=good)
    call("PUT", "/api/xray-credentials", expect=200, json={**good, "storeUnverified": True})
    call("POST", "/api/xray-credentials/verify", expect=200)
    xray.clear_faults()
    call("PUT", "/api/xray-credentials", expect=200, json=good)
    call("PUT", "/api/xray-credentials", expect=200, json={"clientId": cid, "clientSecret": "", "region": "eu"})
    call("POST", "/api/xray-credentials/verify", expect=200)
    call("GET", "/api/xray-credentials", expect=200)
    call("GET", "/api/xray-credentials/audit", expect=200)
    call("GET", page_url(tenant, "/pages/xray-credentials"), expect=200, authed=False)
    call("GET", "/pages/xray-credentials?jwt=" + planted, expect=401, authed=False)
    call("GET", "/api/xray-credentials", expect=401, authed=False, headers={"Authorization": f"JWT {planted}"})
    xray.clients.pop(cid)
    xray.revoke_tokens()
    call("POST", "/api/xray-credentials/verify", expect=200)
    call("GET", page_url(tenant, "/pages/xray-credentials"), expect=200, authed=False)
    call("DELETE", "/api/xray-credentials", expect=204)
    call("GET", "/api/xray-credentials/audit", expect=200)
    return responses, b"\n".join(sent)


def test_the_planted_secret_appears_in_no_response_log_or_stored_file(app, client, api, tenant, xray, planted,
                                                                     caplog):
    caplog.set_level(logging.DEBUG)
    # Store it once more at the end so the database holds its ciphertext when scanned.
    responses, sent = exercise_every_route(client, api, tenant, xray, planted)
    xray.add_client("leak-test-client-id", planted)
    assert api.put("/api/xray-credentials", json={"clientId": "leak-test-client-id", "clientSecret": planted}
                   ).status_code == 200
    figures = {"responses": 0, "response_bytes": 0, "log_records": 0, "log_bytes": 0, "files": 0,
               "file_bytes": 0, "database_bytes": 0, "hits": {}}

    def scan(kind: str, blob: bytes) -> None:
        hits = count_hits(blob, planted)
        if hits:
            figures["hits"][kind] = figures["hits"].get(kind, 0) + hits

    def scan_instance(when: str) -> None:
        for path in sorted(Path(app.instance_path).rglob("*")):
            if path.is_file():
                blob = path.read_bytes()
                figures["files"] += 1
                figures["file_bytes"] += len(blob)
                scan(f"{when}: file {path.name}", blob)

    scan_instance("live")  # the database with its WAL and shared-memory files, as the app left them
    with app.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()  # close connections so SQLite checkpoints its WAL into the file

    for response in responses:
        blob = response.get_data() + str(response.headers).encode() + (response.location or "").encode()
        figures["responses"] += 1
        figures["response_bytes"] += len(blob)
        scan("responses", blob)

    for record in caplog.records:
        text = record.getMessage() + " " + repr(record.args) + " " + repr(getattr(record, "exc_text", None))
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        blob = text.encode()
        figures["log_records"] += 1
        figures["log_bytes"] += len(blob)
        scan("logs", blob)
    captured = caplog.text.encode()
    figures["log_bytes"] += len(captured)
    scan("logs", captured)

    instance = Path(app.instance_path)
    database = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    assert database.exists() and database.is_relative_to(instance)
    figures["database_bytes"] = database.stat().st_size
    scan_instance("checkpointed")

    report = ROOT / "test-artifacts" / "secret-scan.json"
    report.parent.mkdir(parents=True, exist_ok=True)

    # The scan finds what it looks for: the requests we sent carried the secret many times.
    figures["hits_in_requests_sent"] = count_hits(sent, planted)
    report.write_text(json.dumps(figures, indent=2))
    print("secret scan:", json.dumps(figures))
    assert figures["hits_in_requests_sent"] >= 15
    assert figures["responses"] >= 25 and figures["log_records"] > 0 and figures["files"] >= 1
    assert figures["database_bytes"] > 0
    assert figures["hits"] == {}, figures["hits"]


def test_the_sealed_secret_is_in_the_database_only_as_ciphertext(app, api, planted):
    """Positive control for the file scan: the row exists and decrypts to the secret, yet the bytes hold no trace."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Tenant, XrayCredential
    from app.services import current_services

    assert api.put("/api/xray-credentials", json={"clientId": "leak-test-client-id", "clientSecret": planted}
                   ).status_code == 200
    with app.app_context():
        row = db.session.scalar(select(XrayCredential))
        tenant_key = db.session.get(Tenant, row.tenant_id).client_key
        assert current_services().sealer.open_text(tenant_key, "xray_client_secret", row.client_secret_enc) == planted
        db.session.remove()
        db.engine.dispose()
    blob = b"".join(p.read_bytes() for p in Path(app.instance_path).rglob("*") if p.is_file())
    assert count_hits(blob, planted) == 0
    assert os.path.getsize(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")) > 0
