"""The pure manifest builder: the descriptor wrapped as Forge expects, nothing added to or lost from its modules."""
from __future__ import annotations

import copy

import pytest
import yaml

from app.connect.descriptor import render_descriptor
from app.connect.manifest import build_manifest, forge_scope, manifest_yaml

APP_ID = "ari:cloud:ecosystem::app/0b6f9f66-1c2e-4b7b-9a57-1d1f1c0d5e11"


@pytest.fixture
def descriptor():
    return render_descriptor("https://backup.example.com", "xray-backup")


@pytest.mark.parametrize("connect, forge", [
    ("READ", "read:connect-jira"),
    ("WRITE", "write:connect-jira"),
    ("PROJECT_ADMIN", "project-admin:connect-jira"),
    ("ACT_AS_USER", "act-as-user:connect-jira"),
    ("ACCESS_EMAIL_ADDRESSES", "access-email-addresses:connect-jira"),
])
def test_connect_scopes_are_named_as_forge_names_them(connect, forge):
    assert forge_scope(connect) == forge


def test_every_descriptor_module_type_becomes_one_jira_module_with_the_same_entries(descriptor):
    descriptor["modules"]["generalPages"] = [{"key": "overview", "url": "/pages/overview", "name": {"value": "O"}}]
    before = copy.deepcopy(descriptor)
    manifest = build_manifest(descriptor, app_id=APP_ID)
    assert descriptor == before  # the descriptor is not modified
    modules = manifest["connectModules"]
    assert set(modules) == {"jira:lifecycle", "jira:webSections", "jira:adminPages", "jira:generalPages"}
    for module_type, entries in descriptor["modules"].items():
        assert modules[f"jira:{module_type}"] == entries
    modules["jira:adminPages"][0]["url"] = "/changed"
    assert descriptor["modules"]["adminPages"][0]["url"] != "/changed"  # copies, not shared lists


def test_the_lifecycle_is_one_entry_holding_the_descriptors_callbacks(descriptor):
    lifecycle = build_manifest(descriptor, app_id=APP_ID)["connectModules"]["jira:lifecycle"]
    assert lifecycle == [{"key": "lifecycle-events", **descriptor["lifecycle"]}]
    assert lifecycle[0]["installed"] == "/installed" and lifecycle[0]["uninstalled"] == "/uninstalled"


def test_the_app_and_its_remote_come_from_the_descriptor_and_the_forge_id(descriptor):
    manifest = build_manifest(descriptor, app_id=APP_ID, egress=["https://xray.cloud.getxray.app"])
    assert manifest["app"]["id"] == APP_ID
    assert manifest["app"]["connect"] == {"key": "xray-backup", "remote": "connect", "authentication": "jwt"}
    assert manifest["app"]["runtime"]["name"]
    [remote] = manifest["remotes"]
    assert remote["key"] == "connect" and remote["baseUrl"] == "https://backup.example.com"
    assert "compute" in remote["operations"] and remote["storage"] == {"inScopeEUD": True}
    assert manifest["permissions"]["scopes"] == ["read:connect-jira"]
    assert manifest["permissions"]["external"]["fetch"]["backend"] == [
        {"address": "https://xray.cloud.getxray.app", "inScopeEUD": True}]
    assert "modules" not in manifest  # no Forge module, so no endpoint declared without the UI that calls it


def test_the_migration_declaration_is_added_only_when_asked(descriptor):
    manifest = build_manifest(descriptor, app_id=APP_ID, migration_guide_url="https://example.com/guide")
    assert manifest["modules"] == {"connectToForgeMigration": [{
        "key": "connect-to-forge-migration", "migrationGuideUrl": "https://example.com/guide",
        "willMigrateToForgeBeforeEOS": "YES"}]}


def test_the_yaml_reads_back_as_the_same_manifest_under_its_comment_header(descriptor):
    manifest = build_manifest(descriptor, app_id=APP_ID, migration_guide_url="https://example.com/guide")
    text = manifest_yaml(manifest, "first line\nsecond line")
    assert text.startswith("# first line\n# second line\n")
    assert yaml.safe_load(text) == manifest
    assert "willMigrateToForgeBeforeEOS: 'YES'" in text  # a string, not YAML 1.1's boolean
