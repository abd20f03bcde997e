"""The descriptor: the rules in connect-protocol.md and the contract, and every URL in it is routed."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.connect.descriptor import TEMPLATE

VALID_SCOPES = {"READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN", "ACT_AS_USER", "ACCESS_EMAIL_ADDRESSES"}


@pytest.fixture
def descriptor(client):
    response = client.get("/atlassian-connect.json", headers={"Host": "attacker.example"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def test_base_url_and_key_come_from_configuration_not_the_host_header(descriptor):
    assert descriptor["baseUrl"] == "https://xray-backup.example.test"
    assert descriptor["key"] == "xray-backup"
    assert "attacker.example" not in json.dumps(descriptor)
    assert descriptor["links"]["self"] == "https://xray-backup.example.test/atlassian-connect.json"


def test_configured_values_are_substituted(make_app):
    app = make_app(APP_BASE_URL="https://backup.example.org/connect/", APP_KEY="com.example.xray-backup")
    body = app.test_client().get("/atlassian-connect.json").json
    assert body["baseUrl"] == "https://backup.example.org/connect"
    assert body["key"] == "com.example.xray-backup"


def test_the_template_is_a_file_with_placeholders_only():
    text = Path(TEMPLATE).read_text()
    assert "{{baseUrl}}" in text and "{{appKey}}" in text
    assert "http://" not in text and "https://" not in text.replace("{{baseUrl}}", "")


def test_required_fields_follow_the_connect_rules(descriptor):
    assert re.fullmatch(r"[a-zA-Z0-9\-._]+", descriptor["key"]) and len(descriptor["key"]) <= 64
    assert len(descriptor["baseUrl"]) <= 200
    assert descriptor["authentication"] == {"type": "jwt"}
    assert descriptor["apiMigrations"] == {"signed-install": True, "context-qsh": True}
    assert descriptor["name"] and descriptor["description"]
    assert descriptor["vendor"]["name"] and descriptor["vendor"]["url"].startswith("https://")
    assert descriptor["lifecycle"] == {"installed": "/installed", "uninstalled": "/uninstalled",
                                       "enabled": "/enabled", "disabled": "/disabled"}


def test_scopes_are_valid_and_minimal(descriptor):
    assert set(descriptor["scopes"]) <= VALID_SCOPES
    # Admin check and project list are read-only calls; nothing is written to Jira.
    assert descriptor["scopes"] == ["READ"]


def test_the_admin_pages_sit_in_a_web_section_for_admins_only(descriptor):
    sections = descriptor["modules"]["webSections"]
    assert len(sections) == 1 and sections[0]["location"] == "admin_plugins_menu"
    section_key = sections[0]["key"]
    pages = {p["key"]: p for p in descriptor["modules"]["adminPages"]}
    assert set(pages) == {"xray-credentials", "backups"}
    assert pages["xray-credentials"]["name"]["value"] == "Xray Credentials"
    assert pages["backups"]["name"]["value"] == "Backups"
    assert pages["xray-credentials"]["url"] == "/pages/xray-credentials"
    assert pages["backups"]["url"] == "/pages/backups"
    for page in pages.values():
        assert page["location"] == f"admin_plugins_menu/{section_key}"
        assert {"condition": "user_is_admin"} in page["conditions"]
        assert "lic=" not in page["url"] and "jwt" not in page["url"]


def test_module_keys_are_valid_and_unique(descriptor):
    keys = [m["key"] for modules in descriptor["modules"].values() for m in modules]
    assert len(keys) == len(set(keys))
    assert all(re.fullmatch(r"[a-z0-9-]+", k) for k in keys)


def test_every_url_in_the_descriptor_is_routed(app, descriptor):
    adapter = app.url_map.bind("xray-backup.example.test")
    for url in descriptor["lifecycle"].values():
        endpoint, _ = adapter.match(url, method="POST")
        assert endpoint.startswith("lifecycle.")
    for page in descriptor["modules"]["adminPages"]:
        adapter.match(page["url"].split("?")[0], method="GET")
    adapter.match("/atlassian-connect.json", method="GET")


def test_the_lifecycle_and_descriptor_routes_are_public_and_the_pages_are_not(app, descriptor):
    from app.connect.auth import is_public

    adapter = app.url_map.bind("xray-backup.example.test")
    for url in descriptor["lifecycle"].values():
        assert is_public(app.view_functions[adapter.match(url, method="POST")[0]])
    for page in descriptor["modules"]["adminPages"]:
        assert not is_public(app.view_functions[adapter.match(page["url"], method="GET")[0]])
