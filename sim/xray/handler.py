"""The simulator's HTTP handler: Xray's routes (also under /us, /eu, /au) and the /_sim control routes.

``POST /api/v2/authenticate``, ``POST /api/v2/graphql``, ``GET /api/v2/attachments/{id}``,
``POST /api/v2/import/test/bulk`` (``sim.xray.bulk_import``), ``GET /api/v2/import/test/bulk/{jobId}/status``,
``POST /api/v2/import/execution`` (``sim.xray.execution_import``); ``GET /_sim/blob/{id}`` (the signed URL
redirected downloads land on) and the control routes of ``sim.xray.control``.
"""
from __future__ import annotations

import hmac
import json
import logging
import re
import socket
import struct
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from . import control
from .bulk_import import ImportRefused
from .execution_import import import_execution
from .graphql_api import execute, mutation_names
from .errors import ChangeError

if TYPE_CHECKING:
    from .server import XraySimulator

logger = logging.getLogger(__name__)

THROTTLE_TEXT = "Too many requests in this time frame."
_PREFIX = re.compile(r"^(?:/(us|eu|au))?/api/v2/(.+)$")
# (path after /api/v2/, request kind as counted in stats and faults, method)
_ROUTES = [
    (re.compile(r"authenticate"), "authenticate", "POST"),
    (re.compile(r"graphql"), "graphql", "POST"),
    (re.compile(r"attachments/([^/]+)"), "attachment", "GET"),
    (re.compile(r"import/test/bulk"), "import_test_bulk", "POST"),
    (re.compile(r"import/test/bulk/([^/]+)/status"), "import_test_bulk_status", "GET"),
    (re.compile(r"import/execution"), "import_execution", "POST"),
]


def _http_date_in(seconds: float) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds), usegmt=True)


def _mutations_in(body: bytes) -> tuple[str, ...]:
    try:
        document = json.loads(body)["query"]
    except (ValueError, KeyError, TypeError):
        return ()
    return mutation_names(document) if isinstance(document, str) else ()


class XrayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "XraySimulator/1"
    timeout = 60

    def log_message(self, fmt, *args):  # keep test output quiet; the stats endpoint tells what happened
        logger.debug("xray-sim " + fmt, *args)

    @property
    def sim(self) -> "XraySimulator":
        return self.server.sim

    def setup(self):
        super().setup()
        self.sim.track(self.connection)

    def finish(self):
        self.sim.untrack(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # ---- plumbing -------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes | str | dict | list | None, content_type="application/json",
              headers: dict | None = None) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        body = body or b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send a TCP RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _throttle_body(self, wait: float) -> dict:
        when = (datetime.now(timezone.utc) + timedelta(seconds=wait)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {"error": {"text": THROTTLE_TEXT, "nextValidRequestDate": when}}

    def _too_many(self, wait: float, faults: dict) -> None:
        headers = {}
        retry_after = faults.get("retry_after", "default")
        if retry_after == "default":
            retry_after = max(1, int(wait + 0.999))
        if retry_after is not None:
            if faults.get("retry_after_format") == "date":
                headers["Retry-After"] = _http_date_in(float(retry_after))
            else:
                headers["Retry-After"] = str(retry_after)
        self._send(429, self._throttle_body(wait), headers=headers)

    # ---- routes ---------------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            if path.startswith("/_sim/"):
                return self._control(method, path)
            prefix = _PREFIX.match(path)
            route = next(((r, kind, verb) for r, kind, verb in _ROUTES if r.fullmatch(prefix.group(2))), None) \
                if prefix else None
            if route is None:
                self._read_body()
                return self._send(404, {"error": "Not found"})
            pattern, kind, expected = route
            if method != expected:
                self._read_body()
                return self._send(405, {"error": "Method not allowed"})
            argument = pattern.fullmatch(prefix.group(2)).groups()
            self._api(kind, prefix.group(1) or "global", argument[0] if argument else None)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _api(self, kind: str, region: str, argument: str | None) -> None:
        sim = self.sim
        body = self._read_body()
        sim.count("requests")
        sim.count(kind)
        if kind == "graphql":  # counted as sent, whatever answers it
            sim.record_mutations(_mutations_in(body))
        fault, faults = sim.next_fault(kind)
        if faults.get("latency_ms"):
            time.sleep(float(faults["latency_ms"]) / 1000)
        if fault == "reset":
            return self._reset()
        if fault == "error":
            status = int(faults.get("error_status") or 502)
            return self._send(status, "<html><body>Bad gateway</body></html>", "text/html")
        if fault == "too_many":
            return self._too_many(float(faults.get("retry_after") or 1), faults)
        if fault == "throttle_body":
            return self._send(200, self._throttle_body(1.0))

        if kind == "authenticate":
            return self._authenticate(body, faults, fault)
        client_id = sim.token_client(self.headers.get("Authorization"))
        if client_id is None:
            sim.count("unauthorized")
            return self._send(401, {"error": "Unauthorized: the token is missing, invalid or expired."})
        wanted = sim.clients[client_id]["region"]
        if wanted != "global" and wanted != region:
            sim.count("wrong_region")
            return self._send(401, {"error": f"This tenant's data is not hosted in the {region} region."})
        wait = sim.admit(client_id)
        if wait is not None:
            return self._too_many(wait, faults)
        if kind == "graphql":
            return self._graphql(body, region, fault)
        if kind == "attachment":
            return self._attachment(argument, region, faults, fault)
        return self._import(kind, body, client_id, argument, fault)

    def _authenticate(self, body: bytes, faults: dict, fault: str | None) -> None:
        sim = self.sim
        try:
            payload = json.loads(body)
            client_id, secret = payload["client_id"], payload["client_secret"]
            if not isinstance(client_id, str) or not isinstance(secret, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return self._send(400, "Wrong request syntax.", "text/plain")
        client = sim.clients.get(client_id)
        if client is None or not hmac.compare_digest(client["secret"].encode(), secret.encode()) \
                or faults.get("reject_credentials"):
            sim.count("auth_rejected")
            return self._send(401, {"error": "Authentication failed. Invalid client credentials!"})
        wait = sim.admit(client_id)
        if wait is not None:
            return self._too_many(wait, faults)
        token = json.dumps(sim.issue_token(client_id))
        if fault == "truncate":
            return self._send(200, token[: len(token) // 2])
        self._send(200, token)

    def _graphql(self, body: bytes, region: str, fault: str | None) -> None:
        sim = self.sim
        try:
            payload = json.loads(body)
            document = payload["query"]
            variables = payload.get("variables") or {}
            if not isinstance(document, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            sim.count("bad_requests")
            return self._send(400, {"errors": [{"message": "Wrong request syntax."}]})
        failing = sim.mutation_fault(mutation_names(document))
        if failing is not None:
            return self._failed_mutation(failing)
        base = sim.region_url(region)
        outcome = execute(sim.dataset, document, variables, base_url=base, resolver_limit=sim.resolver_limit,
                          operation_name=payload.get("operationName"))
        sim.record_query(outcome.root_fields, failed=outcome.status != 200 or bool(outcome.body.get("errors")))
        raw = json.dumps(outcome.body).encode("utf-8")
        if fault == "truncate":
            raw = raw[: len(raw) // 2]
        self._send(outcome.status, raw)

    def _failed_mutation(self, failing: dict) -> None:
        status = int(failing.get("status") or 503)
        if status == 200:
            message = f"{failing['name']} failed: an internal error occurred."
            return self._send(200, {"data": None, "errors": [{"message": message}]})
        self._send(status, "<html><body>Service unavailable</body></html>", "text/html")

    def _import(self, kind: str, body: bytes, client_id: str, job_id: str | None, fault: str | None) -> None:
        sim = self.sim
        try:
            payload = json.loads(body) if kind != "import_test_bulk_status" else None
        except ValueError:
            return self._send(400, {"error": "Wrong request syntax."})
        try:
            if kind == "import_test_bulk":
                project = (parse_qs(urlsplit(self.path).query).get("project") or [None])[0]
                answer = {"jobId": sim.imports.submit(client_id, payload, project, fail=sim.fail_import_job())}
            elif kind == "import_test_bulk_status":
                answer = sim.imports.status(client_id, job_id)
            else:
                with sim.dataset.lock:
                    answer = import_execution(sim.dataset, payload, sim.dataset.clock.stamp(), sim.jira_url)
        except ImportRefused as exc:
            return self._send(exc.status, {"error": exc.text})
        except ChangeError as exc:
            return self._send(400, {"error": f"{exc.field}: {exc.message}"})
        raw = json.dumps(answer).encode("utf-8")
        if fault == "truncate":
            raw = raw[: len(raw) // 2]
        self._send(200, raw)

    def _attachment(self, att_id: str, region: str, faults: dict, fault: str | None) -> None:
        sim = self.sim
        meta = sim.dataset.attachments.get(att_id)
        if meta is None or meta["storedInJira"]:
            return self._send(404, {"error": "Attachment not found"})
        if fault == "truncate":  # the connection drops halfway through the announced body
            data = sim.dataset.attachment_bytes(att_id)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            return self._reset()
        if faults.get("redirect_attachments"):
            expires = int(time.time()) + 300
            sig = sim.blob_signature(att_id, expires)
            target = f"http://localhost:{sim.port}/_sim/blob/{att_id}?expires={expires}&sig={sig}"
            return self._send(302, b"", "text/plain", headers={"Location": target})
        self._send_attachment(att_id, meta)

    def _send_attachment(self, att_id: str, meta: dict) -> None:
        try:
            data = self.sim.dataset.attachment_bytes(att_id)
        except KeyError:  # deleted by a change since it was looked up
            return self._send(404, {"error": "Attachment not found"})
        self._send(200, data, "application/octet-stream",
                   headers={"Content-Disposition": 'attachment; filename="download"'})

    # ---- control routes -------------------------------------------------------------------------

    def _control(self, method: str, path: str) -> None:
        body = self._read_body()
        if path.startswith("/_sim/blob/") and method == "GET":
            return self._blob(path.rsplit("/", 1)[-1])
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return self._send(400, {"error": "invalid JSON"})
        if not isinstance(payload, dict):
            return self._send(400, {"error": "the body must be a JSON object"})
        status, answer = control.answer(self.sim, method, path, payload)
        self._send(status, answer)

    def _blob(self, att_id: str) -> None:
        sim = self.sim
        sim.count("blob")
        query = parse_qs(urlsplit(self.path).query)
        if self.headers.get("Authorization"):
            # As signed-URL stores do: a second credential next to the signature is refused.
            sim.count("blob_with_authorization")
            return self._send(400, {"error": "Only one auth mechanism allowed"})
        try:
            expires = int(query["expires"][0])
            signature = query["sig"][0]
        except (KeyError, ValueError, IndexError):
            return self._send(403, {"error": "Signature required"})
        if expires < time.time() or not hmac.compare_digest(signature, sim.blob_signature(att_id, expires)):
            return self._send(403, {"error": "Signature invalid or expired"})
        meta = sim.dataset.attachments.get(att_id)
        if meta is None or meta["storedInJira"]:
            return self._send(404, {"error": "Attachment not found"})
        self._send_attachment(att_id, meta)
