"""The Xray client against the simulator with faults, with a fake clock so retries never really sleep."""
from __future__ import annotations

import hashlib
import json
import io
import logging
import random
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest
import requests

from app.urls import Purpose, policy_for
from app.xray.client import ClientStats, XrayClient
from app.xray.errors import XrayAuthError, XrayError, XrayNotFound, XrayQueryError, XrayUnavailable
from app.xray.pacer import Pacer
from app.xray.regions import REGIONS, region_base_url
from app.xray.responses import parse_wait
from app.xray.verify import Verification, verify_credentials
from sim.xray import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, XraySimulator

STATUSES = "query statuses { getStatuses { name } }"

DEVELOPMENT_DOWNLOADS = policy_for(Purpose.XRAY_DOWNLOAD, production=False)  # the simulator redirects to loopback


class FakeTime:
    """A monotonic clock that sleeping advances; records every sleep."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def xray():
    with XraySimulator() as sim:
        yield sim


@pytest.fixture(autouse=True)
def _clean(xray):
    xray.clear_faults()
    xray.reset_stats()
    yield
    xray.clear_faults()


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def make_client(xray, fake_time):
    clients = []

    def _make(base=None, secret=DEFAULT_CLIENT_SECRET, **kwargs):
        kwargs.setdefault("sleep", fake_time.sleep)
        kwargs.setdefault("clock", fake_time.clock)
        kwargs.setdefault("rng", random.Random(1))
        kwargs.setdefault("timeout", (2, 5))
        client = XrayClient(base or xray.url, DEFAULT_CLIENT_ID, secret, **kwargs)
        clients.append(client)
        return client

    yield _make
    for client in clients:
        client.close()


def a_file(xray, min_size=1000):
    return next(a for a in xray.dataset.attachments.values() if not a["storedInJira"] and a["size"] >= min_size)


# ---- authentication ---------------------------------------------------------------------------


def test_token_is_cached_across_calls(xray, make_client):
    client = make_client()
    for _ in range(3):
        assert client.graphql("statuses", STATUSES)["getStatuses"]
    assert xray.stats()["authenticate"] == 1
    assert client.stats.requests == 4 and client.stats.reauthentications == 0


def test_token_is_renewed_shortly_before_it_expires(xray, make_client, fake_time):
    client = make_client()
    client.graphql("statuses", STATUSES)
    fake_time.now += 22 * 3600
    client.graphql("statuses", STATUSES)
    assert xray.stats()["authenticate"] == 1
    fake_time.now += 1.5 * 3600  # past 23 h of a 24 h token
    client.graphql("statuses", STATUSES)
    assert xray.stats()["authenticate"] == 2 and client.stats.reauthentications == 1


def test_a_token_revoked_mid_run_costs_one_reauthentication(xray, make_client):
    client = make_client()
    client.graphql("statuses", STATUSES)
    xray.revoke_tokens()
    assert client.graphql("statuses", STATUSES)["getStatuses"]
    assert client.stats.reauthentications == 1 and xray.stats()["authenticate"] == 2


def test_a_token_refused_again_after_reauthentication_is_an_auth_error(xray, make_client):
    client = make_client()
    xray.set_faults(revoke_every=1)
    with pytest.raises(XrayAuthError):
        client.graphql("statuses", STATUSES)
    assert xray.stats()["authenticate"] == 2  # exactly one re-authentication


def test_wrong_credentials_raise_an_auth_error_without_the_secret(xray, make_client, caplog):
    secret = "planted-secret-" + "9" * 20
    client = make_client(secret=secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(XrayAuthError) as caught:
        client.graphql("statuses", STATUSES)
    assert "rejected" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), repr(client), caplog.text):
        assert secret not in text


def test_tokens_never_reach_logs_or_errors(xray, make_client, caplog):
    client = make_client(max_attempts=2)
    caplog.set_level(logging.DEBUG)
    client.graphql("statuses", STATUSES)
    token = client._token
    xray.set_faults(error_every=1)
    with pytest.raises(XrayUnavailable) as caught:
        client.graphql("statuses", STATUSES)
    assert token not in caplog.text and token not in str(caught.value)
    assert DEFAULT_CLIENT_SECRET not in caplog.text


# ---- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [
    {"error_every": 2},
    {"error_every": 2, "error_status": 503},
    {"error_every": 2, "error_status": 504},
    {"reset_every": 2},
    {"truncate_every": 2},
])
def test_transient_failures_are_retried_until_the_answer_comes(xray, make_client, fault):
    client = make_client()
    xray.set_faults(**fault)
    answers = [client.graphql("statuses", STATUSES) for _ in range(4)]
    assert all(a["getStatuses"] for a in answers)
    assert client.stats.retries == 3  # attempts 2, 4 and 6 of 7 failed


def test_backoff_grows_exponentially_with_jitter(xray, make_client, fake_time):
    client = make_client(max_attempts=5, backoff_base=1.0, backoff_cap=30.0)
    xray.set_faults(error_every=1)
    with pytest.raises(XrayUnavailable) as caught:
        client.graphql("statuses", STATUSES)
    assert caught.value.attempts == 5  # GraphQL attempts; the authentication is counted on its own
    assert len(fake_time.sleeps) == 4
    for n, slept in enumerate(fake_time.sleeps, start=1):
        ceiling = 2 ** (n - 1)
        assert ceiling / 2 <= slept <= ceiling
    assert len(set(fake_time.sleeps)) == 4


def test_a_permanently_failing_xray_gives_up_within_the_budget(xray, make_client, fake_time):
    client = make_client()
    xray.set_faults(error_every=1)
    started = fake_time.now
    with pytest.raises(XrayUnavailable) as caught:
        client.graphql("statuses", STATUSES)
    assert "statuses" in str(caught.value) and caught.value.status == 502
    assert fake_time.now - started < 120
    assert client.stats.retries == 5


def test_read_timeouts_are_retried_then_reported(xray, make_client):
    client = make_client(timeout=(1, 0.05), max_attempts=2)
    client.authenticate()
    xray.set_faults(latency_ms=300)
    with pytest.raises(XrayUnavailable) as caught:
        client.graphql("statuses", STATUSES)
    assert "ReadTimeout" in str(caught.value) and client.stats.retries == 1


def test_429_waits_for_retry_after_seconds(xray, make_client, fake_time):
    client = make_client()
    client.authenticate()
    xray.set_faults(too_many_every=2, retry_after=7)
    client.graphql("statuses", STATUSES)
    client.graphql("statuses", STATUSES)
    assert len(fake_time.sleeps) == 1 and 7 <= fake_time.sleeps[0] <= 7.25
    assert client.stats.throttled == 1 and client.stats.rate_limit_waits == 1


def test_429_waits_for_a_retry_after_http_date(xray, make_client, fake_time):
    client = make_client()
    client.authenticate()
    xray.set_faults(too_many_every=2, retry_after=40, retry_after_format="date")
    client.graphql("statuses", STATUSES)
    client.graphql("statuses", STATUSES)
    assert 37 <= fake_time.sleeps[0] <= 41.25


def test_429_without_retry_after_waits_for_the_body_date_or_backs_off(xray, make_client, fake_time):
    client = make_client()
    client.authenticate()
    xray.set_faults(too_many_every=2, retry_after=None)
    client.graphql("statuses", STATUSES)
    client.graphql("statuses", STATUSES)
    assert len(fake_time.sleeps) == 1 and 1 <= fake_time.sleeps[0] <= 2.5  # the body's date is a second ahead


def test_repeated_throttling_without_retry_after_backs_off_exponentially(xray, make_client, fake_time):
    client = make_client()
    client.authenticate()
    xray.set_faults(too_many_every=1, retry_after=None)
    client._wall = lambda: datetime(2100, 1, 1, tzinfo=timezone.utc)  # the body's date is long past: no hint
    with pytest.raises(XrayUnavailable):
        client.graphql("statuses", STATUSES)
    assert len(fake_time.sleeps) >= 5
    assert fake_time.sleeps[4] > 2 * fake_time.sleeps[1]
    assert sum(fake_time.sleeps) <= client.retry_budget


def test_throttling_body_on_a_200_is_recognised(xray, make_client, fake_time):
    client = make_client()
    client.authenticate()
    xray.set_faults(throttle_body_every=2)
    assert client.graphql("statuses", STATUSES)["getStatuses"]
    assert client.graphql("statuses", STATUSES)["getStatuses"]
    assert client.stats.throttled == 1 and len(fake_time.sleeps) == 1


def test_endless_throttling_is_bounded_by_the_retry_budget(xray, make_client, fake_time):
    client = make_client(retry_budget=250)
    client.authenticate()
    xray.set_faults(too_many_every=1, retry_after=100)
    with pytest.raises(XrayUnavailable) as caught:
        client.graphql("statuses", STATUSES)
    assert "rate limited" in str(caught.value)
    assert len(fake_time.sleeps) == 2 and sum(fake_time.sleeps) <= 250


def test_retry_after_values_are_parsed():
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert parse_wait("12", now) == 12
    assert parse_wait(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_wait("2026-01-01T12:00:45.000Z", now) == 45
    assert parse_wait("garbage", now) is None and parse_wait(None, now) is None


# ---- query failures ---------------------------------------------------------------------------


def test_graphql_errors_name_the_query(xray, make_client):
    client = make_client()
    with pytest.raises(XrayQueryError) as caught:
        client.graphql("tooManyItems", "{ getTests(limit: 100) { results { preconditions(limit: 100) { total } } } }")
    assert "tooManyItems" in str(caught.value) and "10100" in str(caught.value)
    assert client.stats.retries == 0


def test_http_400_names_the_query(xray, make_client):
    client = make_client()
    with pytest.raises(XrayQueryError) as caught:
        client.graphql("unknownField", "{ getTests(limit: 1) { results { noSuchField } } }")
    assert caught.value.status == 400 and caught.value.query_name == "unknownField"
    assert "noSuchField" in str(caught.value)


# ---- downloads --------------------------------------------------------------------------------


def test_download_streams_bytes_and_returns_size_and_sha256(xray, make_client):
    att = a_file(xray, 60_000)
    fh = io.BytesIO()
    size, digest = make_client().download(f"{xray.url}/api/v2/attachments/{att['id']}", fh)
    assert fh.getvalue() == xray.dataset.attachment_bytes(att["id"])
    assert (size, digest) == (att["size"], hashlib.sha256(fh.getvalue()).hexdigest())


@pytest.mark.parametrize("fault", [{"truncate_every": 2}, {"reset_every": 2}, {"error_every": 2}])
def test_interrupted_downloads_are_retried_from_the_start(xray, make_client, fault, tmp_path):
    att = a_file(xray, 20_000)
    client = make_client()
    client.authenticate()
    xray.set_faults(**fault)
    target = tmp_path / "file"
    for _ in range(2):
        with target.open("wb") as fh:
            size, digest = client.download(f"{xray.url}/api/v2/attachments/{att['id']}", fh)
        assert target.read_bytes() == xray.dataset.attachment_bytes(att["id"]) and size == att["size"]
    assert client.stats.retries == 1


def test_redirected_downloads_do_not_forward_the_token_to_another_host(xray, make_client):
    att = a_file(xray)
    xray.set_faults(redirect_attachments=True)
    fh = io.BytesIO()
    make_client(download_policy=DEVELOPMENT_DOWNLOADS).download(f"{xray.url}/api/v2/attachments/{att['id']}", fh)
    assert fh.getvalue() == xray.dataset.attachment_bytes(att["id"])
    stats = xray.stats()
    assert stats["blob"] == 1 and stats.get("blob_with_authorization", 0) == 0


def test_download_links_outside_xray_get_no_request(xray, make_client):
    client = make_client()
    with pytest.raises(XrayError):
        client.download("https://evil.example.com/steal", io.BytesIO())
    assert client.stats.requests == 0


def test_missing_attachments_are_not_found(xray, make_client):
    gone = next(a for a in xray.dataset.attachments.values() if a["storedInJira"])
    with pytest.raises(XrayNotFound):
        make_client().download(f"{xray.url}/api/v2/attachments/{gone['id']}", io.BytesIO())


# ---- pacing -----------------------------------------------------------------------------------


def test_pacer_keeps_a_sliding_window(fake_time):
    pacer = Pacer(3, window=10, margin=0.5, clock=fake_time.clock, sleep=fake_time.sleep)
    waits = []
    for _ in range(3):
        waits.append(pacer.acquire())
        fake_time.now += 2  # requests start at 1000, 1002, 1004
    assert waits == [0, 0, 0] and fake_time.now == 1006
    assert pacer.delay() == pytest.approx(4.5)
    assert pacer.acquire() == pytest.approx(4.5)  # the first slot frees 10.5 s after it was taken
    assert fake_time.now == pytest.approx(1010.5) and pacer.used() == 3
    assert pacer.delay() == pytest.approx(1002 + 10.5 - 1010.5)
    fake_time.now += 20
    assert pacer.used() == 0 and pacer.acquire() == 0


def test_a_slot_counts_from_when_the_answer_came_back(fake_time):
    pacer = Pacer(2, window=10, margin=0, clock=fake_time.clock, sleep=fake_time.sleep)
    with pacer.slot() as waited:
        fake_time.now += 4  # a slow request: Xray counted it at some moment up to now
    assert waited == 0
    pacer.acquire()
    assert pacer.delay() == pytest.approx(10)  # the first request counts from 1004, not 1000
    fake_time.now += 10
    assert pacer.delay() == pytest.approx(0) and pacer.used() == 0


def test_pacer_spreads_a_burst_over_windows(fake_time):
    pacer = Pacer(5, window=300, margin=0, clock=fake_time.clock, sleep=fake_time.sleep)
    starts = []
    for _ in range(12):
        pacer.acquire()
        starts.append(fake_time.now)
    assert starts[4] == starts[0] and starts[5] == starts[0] + 300 and starts[10] == starts[0] + 600
    for i in range(len(starts) - 5):
        assert starts[i + 5] - starts[i] >= 300


def test_pacer_hold_delays_everyone(fake_time):
    pacer = Pacer(100, clock=fake_time.clock, sleep=fake_time.sleep)
    pacer.hold(12)
    assert pacer.acquire() == pytest.approx(12)


def test_a_paced_client_causes_no_429_at_the_simulators_limit():
    with XraySimulator(rate_limit=4, rate_window=0.4) as sim:
        pacer = Pacer(4, window=0.4, margin=0.05)
        client = XrayClient(sim.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, pacer=pacer)
        started = time.monotonic()
        for _ in range(11):
            client.graphql("statuses", STATUSES)
        assert sim.stats().get("rate_limited", 0) == 0 and client.stats.throttled == 0
        assert time.monotonic() - started >= 0.8  # 12 requests at 4 per 0.4 s need three windows
        assert client.stats.rate_limit_waits >= 2


def test_pacing_holds_exactly_with_latency_and_no_margin():
    """Xray counts a request on arrival; the pacer counts it when the answer is back, so no margin is needed."""
    with XraySimulator(rate_limit=5, rate_window=0.5) as sim:
        sim.set_faults(latency_ms=30)
        client = XrayClient(sim.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, pacer=Pacer(5, 0.5, margin=0))
        files = [a for a in sim.dataset.attachments.values() if not a["storedInJira"]][:4]
        for i in range(16):
            client.graphql("statuses", STATUSES)
            if i % 4 == 0:
                client.download(f"{sim.url}/api/v2/attachments/{files[i // 4]['id']}", io.BytesIO())
        assert sim.stats().get("rate_limited", 0) == 0 and sim.stats()["max_in_window"] == 5


def test_events_reach_the_callback_and_a_failing_callback_is_harmless(xray, make_client):
    events = []

    def on_event(kind, info):
        events.append((kind, info))
        raise RuntimeError("display broke")

    client = make_client(on_event=on_event)
    client.authenticate()
    xray.set_faults(error_every=2)
    client.graphql("statuses", STATUSES)
    client.graphql("statuses", STATUSES)
    assert [k for k, _ in events] == ["retry"] and events[0][1]["query"] == "statuses"


def test_stats_are_plain_counters():
    assert ClientStats().as_dict()["requests"] == 0


# ---- regions and verification ------------------------------------------------------------------


def test_regions_map_to_xray_hosts_or_to_prefixes_of_a_stand_in():
    assert region_base_url("https://xray.cloud.getxray.app", "eu") == "https://eu.xray.cloud.getxray.app"
    assert region_base_url("https://xray.cloud.getxray.app/", "global") == "https://xray.cloud.getxray.app"
    assert region_base_url("http://127.0.0.1:8002", "au") == "http://127.0.0.1:8002/au"
    assert region_base_url("http://127.0.0.1:8002/", "global") == "http://127.0.0.1:8002"
    assert region_base_url("http://127.0.0.1:8002", None) == "http://127.0.0.1:8002"
    assert REGIONS == ("global", "us", "eu", "au")
    with pytest.raises(ValueError):
        region_base_url("http://127.0.0.1:8002", "mars")


def test_verify_reports_connected_with_the_tests_visible(xray):
    result = verify_credentials(xray.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    assert result == Verification("connected", len(xray.dataset.tests), f"Connected: {len(xray.dataset.tests)} tests visible.")


def test_verify_reports_rejected_credentials(xray):
    result = verify_credentials(xray.url, DEFAULT_CLIENT_ID, "wrong")
    assert result.status == "rejected" and "Client ID or secret" in result.message and result.tests_visible is None


def test_verify_suggests_the_region_when_only_the_data_call_fails(xray):
    xray.add_client("eu-key", "eu-secret", region="eu")
    assert verify_credentials(region_base_url(xray.url, "eu"), "eu-key", "eu-secret").ok
    result = verify_credentials(xray.url, "eu-key", "eu-secret")
    assert result.status == "rejected" and "region" in result.message


def test_verify_reports_an_unreachable_xray_quickly(xray):
    with socket_closed_port() as port:
        started = time.monotonic()
        result = verify_credentials(f"http://127.0.0.1:{port}", "id", "secret", sleep=lambda s: None)
    assert result.status == "unreachable" and time.monotonic() - started < 5
    xray.set_faults(error_every=1, fault_targets=["authenticate", "graphql"])
    result = verify_credentials(xray.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, sleep=lambda s: None)
    assert result.status == "unreachable" and xray.stats()["authenticate"] == 2


class socket_closed_port:
    """A local port with nothing listening (bound, then closed)."""

    def __enter__(self):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc):
        return False


def test_a_throttling_body_instead_of_a_file_is_retried_not_stored(xray, make_client, fake_time):
    att = a_file(xray, 1000)
    client = make_client()
    client.authenticate()
    xray.set_faults(throttle_body_every=1, fault_targets=["attachment"])
    xray_once = {"done": False}

    def lift_after_first_wait(seconds):
        fake_time.sleep(seconds)
        if not xray_once["done"]:
            xray_once["done"] = True
            xray.clear_faults()

    client._sleep = lift_after_first_wait
    fh = io.BytesIO()
    size, digest = client.download(f"{xray.url}/api/v2/attachments/{att['id']}", fh)
    assert fh.getvalue() == xray.dataset.attachment_bytes(att["id"]) and size == att["size"]
    assert client.stats.throttled == 1


def test_a_json_attachment_is_stored_as_it_is(make_client):
    class JsonFile:
        """A fake transport serving one JSON file that merely mentions an error."""

        def __init__(self):
            self.body = json.dumps({"error": {"text": "not a throttle"}}).encode()

        def post(self, url, **kwargs):
            return FakeResponse(200, json.dumps("a.b.c").encode())

        def get(self, url, **kwargs):
            return FakeResponse(200, self.body, {"Content-Type": "application/json"})

        def close(self):
            pass

    transport = JsonFile()
    client = make_client(base="https://xray.cloud.getxray.app", session=transport)
    fh = io.BytesIO()
    client.download("https://xray.cloud.getxray.app/api/v2/attachments/x", fh)
    assert fh.getvalue() == transport.body


class FakeResponse:
    def __init__(self, status, body: bytes, headers=None):
        self.status_code, self._body = status, body
        self.headers = {"Content-Length": str(len(body)), **(headers or {})}
        self.is_redirect = False

    def json(self):
        return json.loads(self._body)

    def iter_content(self, size):
        for i in range(0, len(self._body), 7):  # small chunks, as a network gives them
            yield self._body[i:i + 7]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_verify_gives_up_on_a_hanging_xray_after_one_read_timeout(xray):
    xray.set_faults(latency_ms=1500, fault_targets=["authenticate", "graphql"])
    started = time.monotonic()
    result = verify_credentials(xray.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, timeout=(1, 0.3))
    assert result.status == "unreachable" and time.monotonic() - started < 1.5
    assert xray.stats()["authenticate"] == 1


def test_the_client_closes_its_session_as_a_context_manager(xray):
    with XrayClient(xray.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET) as client:
        assert client.graphql("statuses", STATUSES)["getStatuses"]
        pool = client.session.adapters["http://"].poolmanager
        assert pool.pools
    assert not pool.pools
