"""The URL policy: one strict parser and one set of rules for every URL the app stores or calls. Pure.

Every URL is parsed once with urllib3's `parse_url` — the parser the HTTP client itself uses — so the host an
allow-list or origin check sees is the host a request connects to. Anything another parser could read
differently is refused rather than repaired: a backslash, userinfo, whitespace, control or non-ASCII
characters, an empty or numeric-shorthand host ("0x7f.1", "2130706433"), a port out of range. What is kept is
rebuilt from the parsed parts as `scheme://host[:port][/path]` (plus the query where a purpose allows one),
and only that string is stored or called.

Where a URL may lead is a `UrlPolicy`: the schemes it may use and which resolved addresses it may connect to
(checked at connect time, on every hop, by `app.urls.guard`). `policy_for(purpose, production=…)` is the one
place that says what each purpose gets.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}
# Letters, digits, '-' and '_' per label (service names may hold '_'); no empty label, at most 63 characters.
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_DOTTED_QUAD = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_NUMERIC_LOOKING = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
# Cloud metadata services, named so error messages can say so (they are link-local or private anyway).
METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("169.254.170.2")}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValueError):
    """A URL the policy does not accept; `problem` is safe to show (it never repeats the URL)."""

    def __init__(self, problem: str):
        self.problem = problem
        super().__init__(problem)


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str
    host: str            # lower case; IPv6 literals without brackets
    port: int | None     # None when it is the scheme's default
    path: str            # "" or starting with "/"
    query: str | None = None

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        """Scheme, host and effective port: what decides whether a credential may go to a URL."""
        return self.scheme, self.host, self.port or DEFAULT_PORTS[self.scheme]

    @property
    def url(self) -> str:
        text = f"{self.scheme}://{self.netloc}{self.path}"
        return text if self.query is None else f"{text}?{self.query}"


def parse_strict(raw: object, *, allow_query: bool = False) -> ParsedUrl:
    """Parse an http(s) URL the way the HTTP client will, refusing anything ambiguous; raise UrlRefused."""
    if not isinstance(raw, str) or not raw:
        raise UrlRefused("must be a non-empty string")
    if len(raw) > MAX_URL_LENGTH:
        raise UrlRefused(f"longer than {MAX_URL_LENGTH} characters")
    if not raw.isascii():
        raise UrlRefused("contains non-ASCII characters (use punycode hosts and percent-encoded paths)")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise UrlRefused("contains whitespace or control characters")
    if "\\" in raw:
        raise UrlRefused("contains a backslash")
    try:
        parts = parse_url(raw)
    except (LocationParseError, ValueError):
        raise UrlRefused("is not a valid URL") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in DEFAULT_PORTS or not raw.lower().startswith(scheme + "://"):
        raise UrlRefused("must start with http:// or https://")
    authority = re.split(r"[/?#]", raw.split("://", 1)[1], maxsplit=1)[0]
    if parts.auth is not None or "@" in authority:
        raise UrlRefused("must not contain a user name or password")
    if "%" in authority:
        raise UrlRefused("has a percent-encoded host")  # urllib3 decodes it, other parsers do not
    if parts.fragment is not None:
        raise UrlRefused("must not contain a fragment (#…)")
    if parts.query is not None and not allow_query:
        raise UrlRefused("must not contain a query (?…)")
    host = _check_host(parts.host or "")
    port = parts.port
    if port is not None and not 0 < port < 65536:
        raise UrlRefused("has a port out of range")
    if port == DEFAULT_PORTS[scheme]:
        port = None
    path = parts.path or ""
    if path == "/":
        path = ""
    return ParsedUrl(scheme, host, port, path, parts.query)


def _check_host(host: str) -> str:
    host = host.lower()
    if host.startswith("[") and host.endswith("]"):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise UrlRefused("has an invalid IPv6 address") from None
        if address.scope_id:
            raise UrlRefused("has an IPv6 zone identifier")
        return host[1:-1]  # as the HTTP client spells it, so comparisons see what it connects to
    if not host:
        raise UrlRefused("has no host")
    if len(host) > 253:
        raise UrlRefused("has a host name longer than 253 characters")
    labels = host.split(".")
    if all(_NUMERIC_LOOKING.match(label) for label in labels) or _NUMERIC_LOOKING.match(labels[-1]):
        # Shorthand, octal and hex forms ("127.1", "0x7f.0.0.1", "017700000001") mean other hosts to other parsers.
        if not _DOTTED_QUAD.match(host):
            raise UrlRefused("has an IP address that is not in plain dotted-quad form")
        return host
    if not all(_LABEL.match(label) for label in labels):
        raise UrlRefused("has an invalid host name")
    return host


def normalize_url(raw: object, *, allow_query: bool = False) -> str:
    """The canonical form of an http(s) URL (`scheme://host[:port][/path]`), or UrlRefused."""
    return parse_strict(raw, allow_query=allow_query).url


def normalize_base_url(raw: object) -> str:
    """A base URL to append paths to: canonical, no query, no trailing slash."""
    return normalize_url(raw).rstrip("/")


def origin_of(url: str) -> tuple[str, str, int] | None:
    """The origin of a URL, or None when the policy refuses to parse it (so it matches nothing)."""
    try:
        return parse_strict(url, allow_query=True).origin
    except UrlRefused:
        return None


def same_origin(a: str, b: str) -> bool:
    """Tell whether two URLs share scheme, host and port, both parsed strictly; a refused URL shares nothing."""
    first = origin_of(a)
    return first is not None and first == origin_of(b)


# ---------------------------------------------------------------- addresses


def address_kind(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """`public`, `loopback`, `metadata`, `link-local`, `private` or `reserved`: what decides if a connection may go."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private and not ip.is_reserved and not ip.is_unspecified and not ip.is_multicast:
        return "private"
    if ip.is_global and not ip.is_multicast:
        return "public"
    return "reserved"


def is_loopback_host(host: str) -> bool:
    """A host name or literal that means this machine (checked again on the resolved address when connecting)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return address_kind(host) == "loopback"
    except ValueError:
        return False


# ---------------------------------------------------------------- policies


class Purpose(Enum):
    CONFIGURED = "a configured endpoint"     # operator's own: install keys, Xray API, S3
    TENANT_SITE = "a Jira site"              # a tenant's baseUrl (also allow-listed)
    XRAY_DOWNLOAD = "an attachment download"  # Xray's links and the redirects they lead to
    WEBHOOK = "a webhook"                    # alert webhooks an admin enters


@dataclass(frozen=True)
class UrlPolicy:
    """What one purpose's URLs may use: schemes, and the resolved addresses a connection may reach."""

    purpose: Purpose
    https_only: bool             # http:// refused (except to loopback hosts when `http_loopback`)
    loopback: bool = False       # loopback addresses allowed (development)
    http_loopback: bool = False  # http:// allowed to loopback hosts (development)
    private: bool = False        # private, link-local and metadata addresses allowed (operator endpoints only)
    allow_query: bool = False

    def check(self, raw: object, *, allow_query: bool | None = None) -> str:
        """The canonical URL if this purpose may use it, else UrlRefused (`allow_query` overrides the policy's)."""
        parsed = parse_strict(raw, allow_query=self.allow_query if allow_query is None else allow_query)
        if self.https_only and parsed.scheme != "https" and not (self.http_loopback and is_loopback_host(parsed.host)):
            raise UrlRefused("must use https://")
        if not self.loopback and is_loopback_host(parsed.host):
            raise UrlRefused("must not point at this machine (loopback)")
        try:
            kind = address_kind(parsed.host)
        except ValueError:
            kind = None  # a name: its addresses are checked when connecting
        if kind is not None and not self.allows_address(parsed.host):
            raise UrlRefused(f"must not point at a {kind} address")
        return parsed.url

    def allows_address(self, address: str) -> bool:
        """Tell whether a connection may go to this resolved address."""
        kind = address_kind(address)
        if kind == "public" or self.private:
            return True
        return kind == "loopback" and self.loopback


def policy_for(purpose: Purpose, *, production: bool) -> UrlPolicy:
    """The one table of what each purpose may reach, in production and in development."""
    if purpose is Purpose.CONFIGURED:
        # The operator chose these (an S3 store may well be on a private network); production needs TLS.
        return UrlPolicy(purpose, https_only=production, loopback=True, private=True)
    development = not production
    return UrlPolicy(purpose, https_only=True, loopback=development, http_loopback=development,
                     allow_query=purpose in (Purpose.WEBHOOK, Purpose.XRAY_DOWNLOAD))
