"""The pure JWT core: qsh canonicalisation (protocol examples, Atlassian's vectors) and typed verification."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from urllib.parse import unquote, urlsplit

import jwt as pyjwt
import pytest
from atlassian_jwt.url_utils import canonicalize_request as atlassian_canonicalize

from app.connect import jwt as core
from tests.support.shared_data import shared_file
from sim.jira import generate_rsa_key, public_pem

NOW = 1_800_000_000
SECRET = "s3cret-shared-secret-of-the-tenant-0123456789"
BASE = "https://xray-backup.example.test"


# ---------------------------------------------------------------- qsh: the examples in connect-protocol.md

PROTOCOL_EXAMPLES = [
    ("GET", "/path/to/service", "zee_last=param&repeated=parameter 1&first=param&repeated=parameter 2", "",
     "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"),
    ("POST", "/simple", "foo=humbug&foo=bah", "", "POST&/simple&foo=bah,humbug"),
    ("GET", "/and/more/", "foo=humbug&foo=bah&first=param1&last=param 2&last=param 1", "",
     "GET&/and/more&first=param1&foo=bah,humbug&last=param%201,param%202"),
    ("GET", "/some/path", "foo=bah%2Bbah", "", "GET&/some/path&foo=bah%2Bbah"),
    ("GET", "/some/path&a=b", "x=y", "", "GET&/some/path%26a=b&x=y"),
    ("GET", "/hello-world", "a&b=foo&c", "", "GET&/hello-world&a=&b=foo&c="),
    ("GET", "/jira/rest/api/2/project/jira", "x=y", "/jira", "GET&/rest/api/2/project/jira&x=y"),
    ("GET", "/", "", "", "GET&/&"),
    ("GET", "", "", "", "GET&/&"),
    ("GET", "/path/to/service", "a=1&A=2&b=3&B=4", "", "GET&/path/to/service&A=2&B=4&a=1&b=3"),
]


@pytest.mark.parametrize("method,path,query,base_path,expected", PROTOCOL_EXAMPLES)
def test_canonical_request_matches_the_protocol_examples(method, path, query, base_path, expected):
    assert core.canonical_request(method, path, query, base_path) == expected


@pytest.mark.parametrize("method,path,query,expected", [
    ("GET", "/", "", "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"),
    ("GET", "/path", "", "799be84a7fa35570087163c0cd9af3abff7ac05c2c12ba0bb1d7eebc984b3ac2"),
    ("GET", "/jira/configuration",
     "xdm_e=https://test.atlassian.net&xdm_c=channel-com.github.integration.test__github-post-install-page&cp="
     "&xdm_deprecated_addon_key_do_not_use=com.github.integration.test&lic=none&cv=1001.0.0-SNAPSHOT",
     "bcb1e97709b6bcbce5b08cabffe01050e13edabb7a64efbd45ee15ee4b6494d9"),
    ("GET", "/path/to/service", "a=1&A=2&b=3&B=4", "70282c7cf82834bd5a3d6dacda1b4ccd5cf5860a63a1fa2fb86b64d576e6a1d5"),
])
def test_qsh_matches_the_published_hashes(method, path, query, expected):
    assert core.qsh(method, path, query) == expected


def test_qsh_ignores_the_jwt_parameter_and_lowercase_method():
    assert core.canonical_request("get", "/p", "b=2&jwt=abc&a=1") == "GET&/p&a=1&b=2"


def test_unicode_and_reserved_characters_are_percent_encoded_as_utf8():
    assert core.canonical_query("name=%E5%AE%AE+x&star=a*b&tilde=~") == "name=%E5%AE%AE%20x&star=a%2Ab&tilde=~"


def test_only_one_trailing_slash_is_removed_and_base_path_once():
    assert core.canonical_uri("/a//") == "/a/"
    assert core.canonical_uri("/app/app/x", "/app") == "/app/x"
    assert core.canonical_uri("/application/x", "/app") == "/application/x"  # not a path prefix
    assert core.canonical_uri("/jira/", "/jira") == "/"


def test_qsh_for_url_strips_the_tenant_base_url_path():
    assert core.qsh_for_url("GET", "https://x.atlassian.net/jira/rest/api/2/project/jira?x=y",
                            "https://x.atlassian.net/jira") == hashlib.sha256(
        b"GET&/rest/api/2/project/jira&x=y").hexdigest()


def test_atlassian_jwt_does_not_strip_a_base_url_path_but_ours_does():
    # Why the project keeps its own canonicaliser: the library hashes the full path.
    assert atlassian_canonicalize("GET", "/jira/rest/api/2/project/jira?x=y") == "GET&/jira/rest/api/2/project/jira&x=y"
    assert core.canonical_request("GET", "/jira/rest/api/2/project/jira", "x=y", "/jira") == (
        "GET&/rest/api/2/project/jira&x=y")


# ---------------------------------------------------------------- Atlassian's signed-URL vectors


def _vectors():
    data = json.loads(shared_file("testdata", "jwt-signed-urls.json").read_text())
    return data["secret"], data["tests"]


def _split(signed_url: str):
    parts = urlsplit(signed_url)
    return unquote(parts.path), parts.query


def test_every_atlassian_vector_canonicalises_and_verifies():
    secret, tests = _vectors()
    assert len(tests) >= 70
    for case in tests:
        path, query = _split(case["signedUrl"])
        assert core.canonical_request("GET", path, query) == case["canonicalUrl"], case["name"]
        token = dict(p.split("=", 1) for p in query.split("&") if p.startswith("jwt="))["jwt"]
        claims = pyjwt.decode(token, options={"verify_signature": False})
        expected = core.qsh("GET", path, query)
        assert expected == claims["qsh"], case["name"]
        # The tokens expired in 2016: verify at their issue time.
        verified = core.verify_hs256(token, lambda iss: secret, expected_qsh=expected, now=claims["iat"])
        assert verified.client_key == claims["iss"]


def test_atlassian_jwt_query_canonicalisation_agrees_on_every_vector():
    _secret, tests = _vectors()
    for case in tests:
        parts = urlsplit(case["signedUrl"])
        relative = parts.path + "?" + parts.query
        assert atlassian_canonicalize("GET", relative) == case["canonicalUrl"], case["name"]
        assert core.canonical_request("GET", *_split(case["signedUrl"])) == atlassian_canonicalize("GET", relative)


def test_a_vector_token_is_refused_when_its_qsh_is_for_another_request():
    secret, tests = _vectors()
    path, query = _split(tests[0]["signedUrl"])
    token = dict(p.split("=", 1) for p in query.split("&") if p.startswith("jwt="))["jwt"]
    iat = pyjwt.decode(token, options={"verify_signature": False})["iat"]
    with pytest.raises(core.QshMismatch):
        core.verify_hs256(token, lambda iss: secret, expected_qsh=core.qsh("GET", path, "param=other"), now=iat)


# ---------------------------------------------------------------- HS256 verification


def _hs(claims=None, secret=SECRET, algorithm="HS256", headers=None, drop=()):
    body = {"iss": "jira:tenant-1", "sub": "acc-1", "iat": NOW, "exp": NOW + 180, "qsh": core.CONTEXT_QSH}
    body.update(claims or {})
    for name in drop:
        body.pop(name)
    return pyjwt.encode(body, secret, algorithm=algorithm, headers=headers)


def _verify(token, expected_qsh=core.CONTEXT_QSH, now=NOW, secrets=None):
    table = secrets if secrets is not None else {"jira:tenant-1": SECRET}
    return core.verify_hs256(token, table.get, expected_qsh=expected_qsh, now=now)


def test_a_valid_context_token_verifies_and_names_the_account():
    verified = _verify(_hs())
    assert verified.client_key == "jira:tenant-1"
    assert verified.account_id == "acc-1"


def test_now_may_be_a_datetime():
    assert _verify(_hs(), now=datetime.fromtimestamp(NOW, timezone.utc)).client_key == "jira:tenant-1"


@pytest.mark.parametrize("token,error", [
    (None, core.MissingToken),
    ("", core.MissingToken),
    ("garbage", core.MalformedToken),
    ("a.b.c", core.MalformedToken),
])
def test_missing_or_garbled_tokens_are_refused(token, error):
    with pytest.raises(error):
        _verify(token)


def test_alg_none_is_refused():
    token = pyjwt.encode({"iss": "jira:tenant-1", "iat": NOW, "exp": NOW + 60, "qsh": core.CONTEXT_QSH}, None,
                         algorithm="none")
    with pytest.raises(core.AlgorithmNotAllowed):
        _verify(token)


def test_a_token_signed_with_another_secret_is_refused():
    with pytest.raises(core.InvalidSignature):
        _verify(_hs(secret="fake-secret-fake-secret-fake-secret-00"))


def test_hs512_is_refused_even_with_the_right_secret():
    with pytest.raises(core.AlgorithmNotAllowed):
        _verify(_hs(algorithm="HS512"))


def test_an_unknown_issuer_is_refused_before_any_signature_check():
    with pytest.raises(core.UnknownIssuer):
        _verify(_hs({"iss": "jira:someone-else"}))


@pytest.mark.parametrize("claim", ["iss", "iat", "exp"])
def test_tokens_without_required_claims_are_refused(claim):
    with pytest.raises((core.MissingClaim, core.UnknownIssuer)):
        _verify(_hs(drop=[claim]))


def test_expiry_allows_30_seconds_of_skew_and_no_more():
    token = _hs({"exp": NOW})
    assert _verify(token, now=NOW + 30)
    with pytest.raises(core.TokenExpired):
        _verify(token, now=NOW + 31)


def test_future_tokens_are_refused_beyond_the_leeway():
    token = _hs({"iat": NOW + 30, "exp": NOW + 300})
    assert _verify(token, now=NOW)
    with pytest.raises(core.TokenNotYetValid):
        _verify(_hs({"iat": NOW + 31, "exp": NOW + 300}), now=NOW)
    with pytest.raises(core.TokenNotYetValid):
        _verify(_hs({"nbf": NOW + 120}), now=NOW)


def test_context_routes_refuse_a_computed_or_missing_qsh():
    with pytest.raises(core.QshMismatch):
        _verify(_hs({"qsh": core.qsh("GET", "/api/x")}))
    with pytest.raises(core.QshMismatch):
        _verify(_hs(drop=["qsh"]))


def test_page_routes_refuse_a_context_token_and_a_wrong_qsh():
    page_qsh = core.qsh("GET", "/pages/backups", "a=1")
    assert _verify(_hs({"qsh": page_qsh}), expected_qsh=page_qsh)
    with pytest.raises(core.QshMismatch):
        _verify(_hs(), expected_qsh=page_qsh)
    with pytest.raises(core.QshMismatch):
        _verify(_hs({"qsh": core.qsh("GET", "/pages/backups", "a=2")}), expected_qsh=page_qsh)


def test_error_messages_never_contain_the_secret_or_token():
    token = _hs(secret="another-secret-another-secret-000000")
    with pytest.raises(core.JwtError) as info:
        _verify(token)
    assert SECRET not in str(info.value) and token not in str(info.value)


# ---------------------------------------------------------------- RS256 install verification


@pytest.fixture(scope="module")
def rsa_key():
    return generate_rsa_key()


def _install_token(key, claims=None, kid="kid-1", algorithm="RS256", drop=()):
    body = {"iss": "jira:tenant-1", "iat": NOW, "exp": NOW + 180, "aud": [BASE],
            "qsh": core.qsh("POST", "/installed")}
    body.update(claims or {})
    for name in drop:
        body.pop(name)
    return pyjwt.encode(body, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def _verify_install(token, pem, client_key="jira:tenant-1", now=NOW):
    def lookup(kid):
        if kid != "kid-1":
            raise core.KeyUnavailable()
        return pem

    return core.verify_install(token, lookup, expected_qsh=core.qsh("POST", "/installed"), app_base_url=BASE,
                               body_client_key=client_key, now=now)


def test_a_signed_install_verifies(rsa_key):
    assert _verify_install(_install_token(rsa_key), public_pem(rsa_key)).client_key == "jira:tenant-1"


def test_install_audience_may_be_a_string_with_a_trailing_slash(rsa_key):
    assert _verify_install(_install_token(rsa_key, {"aud": BASE + "/"}), public_pem(rsa_key))


@pytest.mark.parametrize("claims,error", [
    ({"aud": ["https://evil.example"]}, core.InvalidAudience),
    ({"aud": None}, core.InvalidAudience),
    ({"qsh": core.qsh("POST", "/uninstalled")}, core.QshMismatch),
    ({"qsh": core.CONTEXT_QSH}, core.QshMismatch),
    ({"iss": "jira:tenant-2"}, core.IssuerMismatch),
    ({"exp": NOW - 31}, core.TokenExpired),
    ({"iat": NOW + 31, "exp": NOW + 300}, core.TokenNotYetValid),
])
def test_bad_install_claims_are_refused(rsa_key, claims, error):
    token = _install_token(rsa_key, {k: v for k, v in claims.items()},
                           drop=[k for k, v in claims.items() if v is None])
    with pytest.raises(error):
        _verify_install(token, public_pem(rsa_key))


def test_install_without_qsh_is_refused(rsa_key):
    with pytest.raises(core.QshMismatch):
        _verify_install(_install_token(rsa_key, drop=["qsh"]), public_pem(rsa_key))


def test_install_signed_by_another_key_is_refused(rsa_key):
    with pytest.raises(core.InvalidSignature):
        _verify_install(_install_token(generate_rsa_key()), public_pem(rsa_key))


def test_install_signed_hs256_with_the_public_pem_as_secret_is_refused(rsa_key):
    pem = public_pem(rsa_key)
    body = {"iss": "jira:tenant-1", "iat": NOW, "exp": NOW + 180, "aud": BASE, "qsh": core.qsh("POST", "/installed")}
    header = pyjwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "kid-1"}).encode())
    payload = pyjwt.utils.base64url_encode(json.dumps(body).encode())
    import hmac

    signature = pyjwt.utils.base64url_encode(hmac.new(pem.encode(), header + b"." + payload, hashlib.sha256).digest())
    token = (header + b"." + payload + b"." + signature).decode()
    with pytest.raises(core.AlgorithmNotAllowed):
        _verify_install(token, pem)


def test_install_with_hs256_is_refused(rsa_key):
    with pytest.raises(core.AlgorithmNotAllowed):
        _verify_install(_install_token("a-shared-secret-a-shared-secret-0", algorithm="HS256"), public_pem(rsa_key))


def test_install_without_kid_is_refused(rsa_key):
    with pytest.raises(core.InvalidKeyId):
        _verify_install(_install_token(rsa_key, kid=None), public_pem(rsa_key))


# ---------------------------------------------------------------- outgoing tokens


def test_tokens_for_jira_carry_the_app_key_and_the_exact_request_qsh():
    token = core.encode_for_jira("GET", "https://site.atlassian.net/jira/rest/api/3/project/search?startAt=0&maxResults=50",
                                 app_key="xray-backup", shared_secret=SECRET, base_url="https://site.atlassian.net/jira",
                                 now=NOW)
    claims = pyjwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims["iss"] == "xray-backup"
    assert claims["exp"] - claims["iat"] <= 180
    assert claims["qsh"] == hashlib.sha256(b"GET&/rest/api/3/project/search&maxResults=50&startAt=0").hexdigest()


# ---- the rare shapes (security round 2, finding 12): JavaScript's sort order, as Atlassian's libraries use.
# Expected strings derived by hand from atlassian-jwt's createCanonicalRequest: decoded names and values sorted
# with JavaScript's default sort (UTF-16 code units), then percent-encoded.
JS_ORDER_VECTORS = [
    # a non-ASCII name beside ASCII ones: "é" (U+00E9) sorts after "z"
    ("z=1&%C3%A9=2&a=3", "a=3&z=1&%C3%A9=2"),
    # repeated values mixing astral and BMP characters: "😀" (surrogates D83D DE00) sorts before "Ａ" (U+FF21)
    ("v=%EF%BC%A1&v=%F0%9F%98%80&v=b", "v=b,%F0%9F%98%80,%EF%BC%A1"),
    # names compared decoded, not encoded: "a-" before "a/" (while "a%2F" < "a-" encoded)
    ("a%2F=1&a-=2", "a-=2&a%2F=1"),
    # BMP characters below the surrogate range keep code point order
    ("k=%E4%B8%AD&k=%C3%A9&k=z", "k=z,%C3%A9,%E4%B8%AD"),
    # both rare shapes together, with the jwt parameter ignored
    ("%F0%9F%98%80=x&%EF%BC%A1=y&jwt=ignored&b=1", "b=1&%F0%9F%98%80=x&%EF%BC%A1=y"),
]


@pytest.mark.parametrize("query, canonical", JS_ORDER_VECTORS)
def test_rare_query_shapes_sort_as_atlassians_javascript_library_does(query, canonical):
    assert core.canonical_query(query) == canonical
    assert core.canonical_request("GET", "/pages/backups", query) == f"GET&/pages/backups&{canonical}"


@pytest.mark.parametrize("query, canonical", JS_ORDER_VECTORS)
def test_a_page_token_signed_over_a_rare_shape_verifies(query, canonical):
    secret = "a-shared-secret-for-the-rare-shapes-0123456789"
    qsh = hashlib.sha256(f"GET&/pages/backups&{canonical}".encode()).hexdigest()
    token = pyjwt.encode({"iss": "jira:site", "iat": 1000, "exp": 1100, "qsh": qsh}, secret, algorithm="HS256")
    expected = core.qsh("GET", "/pages/backups", query)
    assert core.verify_hs256(token, lambda iss: secret, expected_qsh=expected, now=1050).client_key == "jira:site"
