"""The Forge manifest of Connect on Forge, built from the rendered Connect descriptor (pure: no app, no I/O).

Everything Forge learns about the Connect side comes from the descriptor dict: the key, the remote's baseUrl,
each module type as `jira:<type>` with the very same entries, the lifecycle callbacks, the scopes. What only
Forge has (the app ARI, the runtime, the remote's operations, egress) is passed in or fixed here.
"""
from __future__ import annotations

import copy
from typing import Iterable

import yaml

PRODUCT = "jira"
RUNTIME = "nodejs22.x"  # required by the schema even though the app ships no Forge functions
REMOTE_KEY = "connect"
LIFECYCLE_KEY = "lifecycle-events"
MIGRATION_MODULE_KEY = "connect-to-forge-migration"
# The backend stores tenants' Xray data (in-scope end-user data), computes the backups and fetches from Jira
# and Xray: Forge asks remotes to declare all three for data residency and its admin consent screen.
REMOTE_OPERATIONS = ("storage", "compute", "fetch")


def forge_scope(connect_scope: str) -> str:
    """A descriptor scope as Forge names it: READ → read:connect-jira, ACT_AS_USER → act-as-user:connect-jira."""
    return f"{connect_scope.lower().replace('_', '-')}:connect-{PRODUCT}"


def build_manifest(descriptor: dict, *, app_id: str, egress: Iterable[str] = (),
                   migration_guide_url: str | None = None) -> dict:
    """The manifest wrapping `descriptor`; `app_id` is the app ARI, `egress` the URLs the backend calls.

    `migration_guide_url` adds the `connectToForgeMigration` declaration (Atlassian accepts it from canary
    apps only, so it is opt-in).
    """
    connect_modules = {f"{PRODUCT}:lifecycle": [{"key": LIFECYCLE_KEY, **descriptor.get("lifecycle", {})}]}
    for module_type, modules in descriptor.get("modules", {}).items():
        connect_modules[f"{PRODUCT}:{module_type}"] = copy.deepcopy(modules)
    permissions: dict = {"scopes": [forge_scope(scope) for scope in descriptor.get("scopes", [])]}
    addresses = list(egress)
    if addresses:
        # Tenants' Xray API keys and (for restores) their test data go to these hosts: in-scope end-user data.
        permissions["external"] = {"fetch": {"backend": [{"address": url, "inScopeEUD": True} for url in addresses]}}
    manifest = {
        "app": {
            "id": app_id,
            "runtime": {"name": RUNTIME},
            "connect": {"key": descriptor["key"], "remote": REMOTE_KEY,
                        "authentication": descriptor.get("authentication", {}).get("type", "jwt")},
            "licensing": {"enabled": bool(descriptor.get("enableLicensing", False))},
        },
        "remotes": [{"key": REMOTE_KEY, "baseUrl": descriptor["baseUrl"], "operations": list(REMOTE_OPERATIONS),
                     "storage": {"inScopeEUD": True}}],
        "permissions": permissions,
        "connectModules": connect_modules,
    }
    if migration_guide_url:
        manifest["modules"] = {"connectToForgeMigration": [{
            "key": MIGRATION_MODULE_KEY,
            "migrationGuideUrl": migration_guide_url,
            "willMigrateToForgeBeforeEOS": "YES",
        }]}
    return manifest


def manifest_yaml(manifest: dict, header: str = "") -> str:
    """The manifest as the YAML text `forge deploy` reads, under an optional comment header."""
    lines = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return lines + yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)
