"""Real alert receivers on loopback: an SMTP server (aiosmtpd) and an HTTP webhook receiver, counting deliveries."""
from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SmtpSink:
    """Every message the SMTP server accepted: (envelope sender, recipients, parsed message)."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list = field(default_factory=list)
    refuse: int = 0  # answer the next N messages with a temporary failure

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        if self.refuse:
            self.refuse -= 1
            return "451 Try again later"
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp_sink():
    sink = SmtpSink(port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    yield sink
    controller.stop()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        receiver: WebhookReceiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with receiver.lock:
            receiver.requests.append((self.path, self.headers.get("Content-Type"), body))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            location = receiver.redirects.get(self.path)
        if location:
            status = 307
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):  # quiet test output
        pass


class WebhookReceiver:
    """An HTTP server on loopback recording every POST; `statuses` answers the next ones, `redirects` by path."""

    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.receiver = self
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str, bytes]] = []
        self.statuses: list[int] = []
        self.redirects: dict[str, str] = {}
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def deliveries(self, path: str | None = None) -> list[dict]:
        """The JSON bodies received (at `path` when given)."""
        with self.lock:
            return [json.loads(body) for p, _type, body in self.requests if path is None or p == path]


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()
