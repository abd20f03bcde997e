"""`flask forge manifest`: never drifting from `GET /atlassian-connect.json`, and accepted by Atlassian's validator."""
from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml

from app.crypto import generate_key
from tests.support.forge_validator import ensure_validator, validate_manifests
from tests.support.paths import ROOT

FORGE_UUID = "0b6f9f66-1c2e-4b7b-9a57-1d1f1c0d5e11"
FORGE_ARI = f"ari:cloud:ecosystem::app/{FORGE_UUID}"
XRAY_HOSTS = ["https://xray.cloud.getxray.app", "https://us.xray.cloud.getxray.app",
              "https://eu.xray.cloud.getxray.app", "https://au.xray.cloud.getxray.app"]

ENVIRONMENTS = {
    "defaults": {},
    "staging key under a path": {"APP_BASE_URL": "https://backup.example.org/connect/",
                                 "APP_KEY": "com.example.xray-backup-staging"},
    "an https Xray stand-in": {"APP_BASE_URL": "https://xb.example.net", "XRAY_API_URL": "https://xray.example.net/x"},
}


def generate(app, *args: str) -> dict:
    result = app.test_cli_runner().invoke(args=["forge", "manifest", *args])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.stdout)


def values_of(tree, name: str) -> list:
    """Every value stored under key `name`, anywhere in a JSON-like tree, in document order."""
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == name:
                found.append(value)
            found.extend(values_of(value, name))
    elif isinstance(tree, list):
        for item in tree:
            found.extend(values_of(item, name))
    return found


# ---------------------------------------------------------------- no drift


@pytest.mark.parametrize("env", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
def test_the_manifest_and_the_descriptor_never_drift(make_app, env):
    app = make_app(FORGE_APP_ID=FORGE_UUID, **env)
    descriptor = app.test_client().get("/atlassian-connect.json").json
    manifest = generate(app)

    assert manifest["app"]["id"] == FORGE_ARI
    assert manifest["app"]["connect"]["key"] == descriptor["key"]
    assert manifest["app"]["connect"]["authentication"] == descriptor["authentication"]["type"]
    [remote] = manifest["remotes"]
    assert manifest["app"]["connect"]["remote"] == remote["key"]
    assert remote["baseUrl"] == descriptor["baseUrl"]

    connect_modules = manifest["connectModules"]
    # Same module types, nothing extra but the one lifecycle entry, and identical entries.
    assert set(connect_modules) == {"jira:lifecycle"} | {f"jira:{kind}" for kind in descriptor["modules"]}
    for kind, entries in descriptor["modules"].items():
        assert connect_modules[f"jira:{kind}"] == entries
    modules_only = {name: value for name, value in connect_modules.items() if name != "jira:lifecycle"}
    assert values_of(modules_only, "url") == values_of(descriptor["modules"], "url")
    assert values_of(modules_only, "conditions") == values_of(descriptor["modules"], "conditions")
    assert values_of(modules_only, "key") == values_of(descriptor["modules"], "key")
    [lifecycle] = connect_modules["jira:lifecycle"]
    assert lifecycle["installed"] == descriptor["lifecycle"]["installed"]
    assert lifecycle["uninstalled"] == descriptor["lifecycle"]["uninstalled"]

    connect_scopes = [s for s in manifest["permissions"]["scopes"] if s.endswith(":connect-jira")]
    assert connect_scopes == [s.lower().replace("_", "-") + ":connect-jira" for s in descriptor["scopes"]]


def test_xray_hosts_are_declared_as_egress_and_a_local_stand_in_is_not(make_app):
    manifest = generate(make_app(FORGE_APP_ID=FORGE_UUID, XRAY_API_URL="http://127.0.0.1:8002"))
    assert [entry["address"] for entry in manifest["permissions"]["external"]["fetch"]["backend"]] == XRAY_HOSTS
    proxied = generate(make_app(FORGE_APP_ID=FORGE_UUID, **ENVIRONMENTS["an https Xray stand-in"]))
    addresses = [entry["address"] for entry in proxied["permissions"]["external"]["fetch"]["backend"]]
    assert addresses == XRAY_HOSTS + ["https://xray.example.net"]


def test_without_forge_app_id_the_command_fails_naming_the_variable(make_app):
    result = make_app().test_cli_runner().invoke(args=["forge", "manifest"])
    assert result.exit_code == 1
    assert "FORGE_APP_ID" in result.output and "forge register" in result.output


def test_the_migration_guide_must_be_an_https_url(make_app):
    result = make_app(FORGE_APP_ID=FORGE_UUID).test_cli_runner().invoke(
        args=["forge", "manifest", "--migration-guide-url", "http://example.com/guide"])
    assert result.exit_code == 2 and "https://" in result.output


# ---------------------------------------------------------------- Atlassian's validator


def _command_output(folder, *args: str) -> str:
    """`python -m flask --app wsgi forge manifest` in its own process, as an operator runs it."""
    env = dict(os.environ, INSTANCE_PATH=str(folder / "instance"), ENCRYPTION_KEYS=f"k1:{generate_key()}",
               FORGE_APP_ID=FORGE_ARI, APP_BASE_URL="https://xray-backup.example.com", SCHEDULER_ENABLED="false",
               DATABASE_URL=f"sqlite:///{folder / 'app.db'}")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "forge", "manifest", *args], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _break(manifest: dict, how: str) -> dict:
    broken = copy.deepcopy(manifest)
    if how == "misspelt module type":
        broken["connectModules"]["jira:adminPage"] = broken["connectModules"].pop("jira:adminPages")
    elif how == "bare uuid app id":
        broken["app"]["id"] = FORGE_UUID
    elif how == "remote key too long":
        broken["remotes"][0]["key"] = broken["app"]["connect"]["remote"] = "x" * 24
    elif how == "unknown scope":
        broken["permissions"]["scopes"] = ["read:connect-jira-everything"]
    elif how == "no runtime":
        del broken["app"]["runtime"]
    else:
        raise AssertionError(how)
    return broken


GOOD = {"plain": (), "with connectToForgeMigration": ("--migration-guide-url",
                                                      "https://xray-backup.example.com/forge-guide")}
BROKEN = ["misspelt module type", "bare uuid app id", "remote key too long", "unknown scope", "no runtime"]


@pytest.fixture(scope="module")
def validated(tmp_path_factory) -> dict:
    """What @forge/manifest's validate() says of each generated manifest and each broken copy, by name."""
    ensure_validator()  # skips (or, under CI, fails) at once, saying why, where node/npm are missing
    folder = tmp_path_factory.mktemp("forge-manifests")
    texts = {name: _command_output(folder, *args) for name, args in GOOD.items()}
    plain = yaml.safe_load(texts["plain"])
    texts.update({how: yaml.safe_dump(_break(plain, how), sort_keys=False) for how in BROKEN})
    paths = []
    for index, text in enumerate(texts.values()):
        (folder / str(index)).mkdir()
        paths.append(folder / str(index) / "manifest.yml")
        paths[-1].write_text(text)
    return dict(zip(texts, validate_manifests(paths)))


@pytest.mark.parametrize("name", GOOD)
def test_the_generated_manifest_passes_atlassians_validator(validated, name):
    assert validated[name] == {"success": True, "errors": []}


@pytest.mark.parametrize("how", BROKEN)
def test_a_broken_manifest_fails_atlassians_validator(validated, how):
    assert validated[how]["success"] is False
    assert any(error["level"] == "error" for error in validated[how]["errors"]), validated[how]


@pytest.mark.parametrize("ci", ["", "1"], ids=["locally", "under CI"])
def test_without_node_the_validator_tests_skip_saying_why_and_fail_under_ci(tmp_path, ci):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable), CI=ci, XB_FORGE_MANIFEST_CACHE=str(tmp_path / "c"))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                             f"{__file__}::test_the_generated_manifest_passes_atlassians_validator"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    if ci:
        assert result.returncode == 1, result.stdout[-2000:]
        assert "CI must run Atlassian's manifest validator" in result.stdout
    else:
        assert result.returncode == 0, result.stdout[-2000:]
        assert "2 skipped" in result.stdout and "node and npm are not installed" in result.stdout
    assert not (tmp_path / "c" / "node_modules").exists()
