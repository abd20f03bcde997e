"""Attachment downloads under the URL policy, against real servers on loopback.

`FakeXrayOrigin` plays a mutating Xray (or a proxy in front of it): it issues a token and answers every download
with the redirect a test chooses. A canary server stands for everything that must never see the token or be
read back into a snapshot (another host, an internal "metadata" service).
"""
from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.backups.export.exporter import Exporter
from app.backups.snapshot.writer import SnapshotWriter
from app.urls import Purpose, policy_for
from app.xray.client import XrayClient
from app.xray.errors import XrayDownloadRefused
from app.xray.pacer import Pacer

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLWZvci10ZXN0cw"
DEVELOPMENT = policy_for(Purpose.XRAY_DOWNLOAD, production=False)


class _Server:
    def __init__(self, host: str, handler):
        self.requests: list[dict] = []
        self.httpd = ThreadingHTTPServer((host, 0), handler)
        self.httpd.owner = self
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.host, self.port = host, self.httpd.server_port
        self.url = f"http://{host}:{self.port}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *_args):
        return None

    def _record(self):
        owner = self.server.owner
        owner.requests.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        return owner

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _XrayHandler(_Handler):
    def do_POST(self):
        self._record()
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, json.dumps(TOKEN).encode(), {"Content-Type": "application/json"})

    def do_GET(self):
        owner = self._record()
        if self.path.startswith("/file"):
            return self._send(302, headers={"Location": owner.location})
        self._send(200, b"bytes Xray served", {"Content-Type": "application/octet-stream"})


class _CanaryHandler(_Handler):
    def do_GET(self):
        self._record()
        self._send(200, b'{"AccessKeyId": "ASIA-INSTANCE-ROLE", "SecretAccessKey": "metadata-secret"}',
                   {"Content-Type": "application/octet-stream"})


@pytest.fixture
def xray_origin():
    server = _Server("127.0.0.1", _XrayHandler)
    server.location = "/served"
    yield server
    server.stop()


@pytest.fixture
def canary():
    """Another host (127.0.0.2: another origin, still loopback) standing for an internal service."""
    server = _Server("127.0.0.2", _CanaryHandler)
    yield server
    server.stop()


def client_for(origin, **kwargs) -> XrayClient:
    return XrayClient(origin.url, "client-id", "client-secret", pacer=Pacer(100000), max_attempts=1,
                      timeout=(2, 5), **kwargs)


def test_a_download_link_with_a_backslash_never_carries_the_token_elsewhere(xray_origin, canary):
    # urlsplit reads Xray's host after the backslash; requests connects to the one before it.
    link = f"http://{canary.host}:{canary.port}\\@{xray_origin.host}:{xray_origin.port}/api/v2/attachments/a1"
    with client_for(xray_origin) as client, pytest.raises(XrayDownloadRefused):
        client.download(link, io.BytesIO())
    assert canary.requests == []


def test_a_redirect_with_a_backslash_never_carries_the_token_elsewhere(xray_origin, canary):
    xray_origin.location = f"http://{canary.host}:{canary.port}\\@{xray_origin.host}:{xray_origin.port}/served"
    with client_for(xray_origin, download_policy=DEVELOPMENT) as client, pytest.raises(XrayDownloadRefused):
        client.download(xray_origin.url + "/file", io.BytesIO())
    assert [r["authorization"] for r in canary.requests] == []


@pytest.mark.parametrize("path", ["/latest/meta-data/iam/security-credentials/role", "/"])
def test_a_redirect_to_an_internal_service_is_not_followed(xray_origin, canary, path):
    xray_origin.location = canary.url + path
    fh = io.BytesIO()
    with client_for(xray_origin) as client, pytest.raises(XrayDownloadRefused):
        client.download(xray_origin.url + "/file", fh)
    assert canary.requests == [] and fh.getvalue() == b""


@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data", "https://10.0.0.7/x",
                                      "http://public.example/x", "https://[fe80::1]/x", "ftp://files.example/x"])
def test_development_too_refuses_private_metadata_and_plain_http_hosts(xray_origin, location):
    xray_origin.location = location
    with client_for(xray_origin, download_policy=DEVELOPMENT) as client, pytest.raises(XrayDownloadRefused):
        client.download(xray_origin.url + "/file", io.BytesIO())


def test_same_origin_redirects_keep_working_with_the_token(xray_origin):
    xray_origin.location = "/served"
    fh = io.BytesIO()
    with client_for(xray_origin) as client:
        client.download(xray_origin.url + "/file", fh)
    assert fh.getvalue() == b"bytes Xray served"
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in xray_origin.requests if r["path"] != "/api/v2/authenticate")


def test_redirect_chains_are_bounded(xray_origin):
    xray_origin.location = "/file"  # a loop
    with client_for(xray_origin) as client, pytest.raises(Exception) as failed:
        client.download(xray_origin.url + "/file", io.BytesIO())
    assert "redirects" in str(failed.value)
    assert len([r for r in xray_origin.requests if r["path"] == "/file"]) <= 6


def test_a_refused_attachment_is_not_stored_and_the_run_records_a_warning(xray_origin, canary, tmp_path):
    xray_origin.location = canary.url + "/latest/meta-data"
    writer = SnapshotWriter(tmp_path / "snap", run_id="r1", started_at="2024-01-01T00:00:00Z",
                            xray_api_url=xray_origin.url)
    with client_for(xray_origin) as client:
        exporter = Exporter(client, writer)
        exporter._attachment({"id": "att-1", "filename": "evidence.png", "downloadLink": xray_origin.url + "/file"},
                             {"type": "test_run", "testRunId": "run-1"})
    assert canary.requests == []
    assert not writer.has_attachment("att-1") and not (tmp_path / "snap" / "attachments" / "att-1").exists()
    assert any("evidence.png" in w and "not downloaded" in w for w in writer.warnings)
    manifest = writer.finish(finished_at="2024-01-01T00:01:00Z", requests=1)
    assert manifest["attachments"]["count"] == 0 and manifest["warnings"] == writer.warnings
