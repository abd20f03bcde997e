"""The URL policy, pure: one strict parse, canonical rebuilds, and the table of what each purpose may reach.

The property tests run a corpus of parser-differential strings (backslashes, userinfo, whitespace, control
characters, numeric host shorthands, IPv6 forms, encodings) — each also combined with every prefix and suffix
below — and check that whatever the policy accepts means the same host to urllib3 (which requests connects
with), to requests' own URL preparation and to the standard library, and that the canonical form is stable.
"""
from __future__ import annotations

import itertools
from urllib.parse import urlsplit

import pytest
import requests
from urllib3.util import parse_url

from app.urls import (Purpose, UrlRefused, address_kind, normalize_base_url, normalize_url, parse_strict, policy_for,
                      same_origin)

HOSTS = [
    "victim.atlassian.net", "evil.example", "127.0.0.1", "127.0.0.2", "localhost", "[::1]", "[::ffff:127.0.0.1]",
    "169.254.169.254", "0x7f.1", "0177.0.0.1", "2130706433", "127.1", "10.0.0.1", "xn--e1afmkfd.xn--p1ai",
    "пример.рф", "%65vil.example", "a..b", "a.b.", "-a.b", "a_b.internal", "[fe80::1%25eth0]", "[::1", "::1",
]
DIFFERENTIALS = [
    "https://evil.example\\@victim.atlassian.net",
    "http://127.0.0.2\\@127.0.0.1:9",
    "https://evil.example\\.victim.atlassian.net",
    "https://victim.atlassian.net\\@evil.example",
    "https://evil.example%5C@victim.atlassian.net",
    "https://evil.example@victim.atlassian.net",
    "https://victim.atlassian.net@evil.example",
    "https://user:pass@victim.atlassian.net",
    "https://:@victim.atlassian.net",
    "https://evil.example#@victim.atlassian.net",
    "https://evil.example?@victim.atlassian.net",
    "https://evil.example/@victim.atlassian.net",
    "https://evil.example;@victim.atlassian.net",
    "https://victim.atlassian.net\r\nX-Injected: 1",
    "https://victim.atlassian.net\n.evil.example",
    "https://victim.atlassian.net\t",
    " https://victim.atlassian.net",
    "https://victim.atlassian.net /x",
    "https://victim.atlassian.net\x00.evil.example",
    "https://victim.atlassian.net\x7f",
    "https://victim.atlassian.net\u3002evil.example",
    "https://victim\uff0eatlassian\uff0enet",
    "https:/victim.atlassian.net",
    "https:victim.atlassian.net",
    "//victim.atlassian.net",
    "https:///victim.atlassian.net",
    "https://victim.atlassian.net:99999",
    "https://victim.atlassian.net:-1",
    "https://victim.atlassian.net:0x50",
    "javascript://victim.atlassian.net/%0aalert(1)",
    "file://victim.atlassian.net/etc/passwd",
    "ftp://victim.atlassian.net",
    "HTTPS://VICTIM.ATLASSIAN.NET/",
    "https://victim.atlassian.net./",
    "https://victim.atlassian.net:443/jira/",
    "http://victim.atlassian.net:80",
    "https://victim.atlassian.net/a/../b",
    "https://victim.atlassian.net/%2e%2e/x",
    "https://victim.atlassian.net/a%20b",
    "https://[::1]:8000/",
    "https://[::ffff:7f00:1]/",
    "https://[64:ff9b::7f00:1]/",
    "https://[fd00:ec2::254]/",
    "https://0.0.0.0/",
    "https://169.254.169.254/latest/meta-data",
]
SUFFIXES = ["", "/", "/path", ":8443", ":8443/p", "?q=1", "#f", "\\", "\\@evil.example", "@evil.example", " ", "%00"]
PREFIXES = ["https://", "http://", "HTTP://", "https:\\\\", "https:/", "https://user@", "https://a\\@"]


def corpus() -> list[str]:
    generated = [prefix + host + suffix for prefix, host, suffix in itertools.product(PREFIXES, HOSTS, SUFFIXES)]
    return DIFFERENTIALS + generated


def _accepted(raw: str):
    try:
        return parse_strict(raw, allow_query=True)
    except UrlRefused:
        return None


def _host_disagreements(raw: str) -> list[str]:
    parsed = _accepted(raw)
    if parsed is None:
        return []
    # urllib3 is what requests connects with; requests' preparation must agree, and so must the standard library.
    seen = {
        "urllib3": (parse_url(raw).host or "").strip("[]").lower(),
        "requests": urlsplit(requests.Request("GET", raw).prepare().url).hostname or "",
        "urlsplit(raw)": urlsplit(raw).hostname or "",
        "urlsplit(canonical)": urlsplit(parsed.url).hostname or "",
    }
    return [f"{raw!r}: policy {parsed.host!r}, {name} {host!r}" for name, host in seen.items() if host != parsed.host]


def test_an_accepted_url_names_the_host_the_http_client_connects_to():
    strings = corpus()
    accepted = [raw for raw in strings if _accepted(raw) is not None]
    assert len(accepted) > 50  # the property is not vacuous
    assert [problem for raw in strings for problem in _host_disagreements(raw)] == []


def test_the_canonical_form_is_a_fixed_point_without_userinfo_or_ambiguity():
    for raw in corpus():
        parsed = _accepted(raw)
        if parsed is None:
            continue
        canonical = parsed.url
        assert parse_strict(canonical, allow_query=True) == parsed, raw
        assert "@" not in urlsplit(canonical).netloc and "\\" not in canonical, raw
        assert canonical.isascii() and canonical.isprintable() and " " not in canonical, raw
        assert canonical.startswith(("http://", "https://")), raw


@pytest.mark.parametrize("raw", [
    "https://evil.example\\@victim.atlassian.net", "http://127.0.0.2\\@127.0.0.1:9", "https://u:p@site.atlassian.net",
    "https://evil.example@site.atlassian.net", "https://site.atlassian.net\r\n", "https://site.atlassian.net\nx",
    "https://site .atlassian.net", "https://site.atlassian.net\x00", "https://sité.atlassian.net",
    "http://0x7f.1", "http://2130706433", "http://127.1", "http://0177.0.0.1", "ftp://site.atlassian.net",
    "https://", "", None, 5, "https://a..b", "https://site.atlassian.net#x", "https://site.atlassian.net/?q=1",
    "https://site.atlassian.net:99999", "https://[fe80::1%25eth0]/", "x" * 3000,
])
def test_ambiguous_or_unsafe_urls_are_refused_with_a_reason(raw):
    with pytest.raises(UrlRefused) as refused:
        normalize_url(raw)
    assert refused.value.problem
    if isinstance(raw, str) and len(raw) > 6:
        assert raw not in str(refused.value)  # the reason never repeats the URL (it may carry secrets)


@pytest.mark.parametrize("raw, canonical", [
    ("HTTPS://Site.Atlassian.NET/", "https://site.atlassian.net"),
    ("https://site.atlassian.net:443/jira/", "https://site.atlassian.net/jira"),
    ("http://127.0.0.1:80/", "http://127.0.0.1"),
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
    ("https://[::1]:8443/x/", "https://[::1]:8443/x"),
    ("https://site.atlassian.net/a/../b", "https://site.atlassian.net/b"),
])
def test_base_urls_are_rebuilt_from_their_parsed_parts(raw, canonical):
    assert normalize_base_url(raw) == canonical


def test_origins_compare_the_strictly_parsed_host_and_effective_port():
    assert same_origin("https://xray.example/a", "https://XRAY.example:443/b?x=1")
    assert not same_origin("http://other\\@xray.example/file", "http://xray.example")
    assert not same_origin("http://other@xray.example/file", "http://xray.example")
    assert not same_origin("https://xray.example", "http://xray.example")
    assert not same_origin("https://xray.example:8443", "https://xray.example")
    assert not same_origin("not a url", "not a url")


@pytest.mark.parametrize("address, kind", [
    ("8.8.8.8", "public"), ("2606:4700::1111", "public"), ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"),
    ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("64:ff9b::7f00:1", "loopback"),
    ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"), ("100.100.100.200", "metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
    ("192.168.1.1", "private"), ("fc00::1", "private"), ("0.0.0.0", "reserved"), ("100.64.0.1", "reserved"),
    ("224.0.0.1", "reserved"), ("240.0.0.1", "reserved"),
])
def test_addresses_are_classified(address, kind):
    assert address_kind(address) == kind


def test_production_untrusted_purposes_need_https_and_public_hosts():
    for purpose in (Purpose.TENANT_SITE, Purpose.XRAY_DOWNLOAD, Purpose.WEBHOOK):
        policy = policy_for(purpose, production=True)
        assert policy.check("https://hooks.example.com/x") == "https://hooks.example.com/x"
        for refused in ("http://hooks.example.com/x", "https://127.0.0.1/", "https://localhost/",
                        "http://localhost:8000/", "https://10.0.0.5/", "https://169.254.169.254/",
                        "https://[::1]/", "https://[fe80::1]/"):
            with pytest.raises(UrlRefused):
                policy.check(refused)
        assert not policy.allows_address("127.0.0.1") and not policy.allows_address("10.0.0.5")
        assert policy.allows_address("93.184.216.34")


def test_development_allows_loopback_but_never_private_or_metadata_for_untrusted_purposes():
    policy = policy_for(Purpose.WEBHOOK, production=False)
    assert policy.check("http://127.0.0.1:9000/hook?x=1") == "http://127.0.0.1:9000/hook?x=1"
    assert policy.check("http://localhost:9000/hook") == "http://localhost:9000/hook"
    for refused in ("http://hooks.example.com/", "https://10.0.0.5/", "https://169.254.169.254/"):
        with pytest.raises(UrlRefused):
            policy.check(refused)


def test_configured_endpoints_may_be_private_but_need_https_in_production():
    production = policy_for(Purpose.CONFIGURED, production=True)
    assert production.check("https://minio.internal:9000") == "https://minio.internal:9000"
    assert production.allows_address("10.0.0.5")
    with pytest.raises(UrlRefused):
        production.check("http://minio.internal:9000")
    assert policy_for(Purpose.CONFIGURED, production=False).check("http://minio:9000") == "http://minio:9000"


def test_only_webhooks_and_downloads_keep_a_query():
    assert policy_for(Purpose.WEBHOOK, production=True).check("https://h.example/w?sig=a%2Fb") == \
        "https://h.example/w?sig=a%2Fb"
    with pytest.raises(UrlRefused):
        policy_for(Purpose.TENANT_SITE, production=True).check("https://s.atlassian.net/?x=1")
