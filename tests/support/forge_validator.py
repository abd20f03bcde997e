"""Atlassian's own manifest validator (`@forge/manifest` 13.x) run by Node on a manifest file.

The package and `tslib` (which it requires but does not declare) are installed once into a cache OUTSIDE the
repository (`$XDG_CACHE_HOME/xray-backup/forge-manifest`, else `~/.cache/…`; `XB_FORGE_MANIFEST_CACHE` moves it)
with `npm install --no-audit --no-fund --ignore-scripts`, and reused by later runs. Without node/npm, or when npm
cannot install, the test is skipped saying why; under CI (`CI` set) that is a failure instead, so CI never
passes without running the validator (`scripts/test` installs Debian's nodejs/npm).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = "@forge/manifest"
MAJOR = "13"
INSTALL_TIMEOUT = 600
VALIDATE_TIMEOUT = 120

# validate(basic=false, path): schema and every rule; resolves to {success, errors: [{level, message, line}]}.
# One Node process validates every file given (loading the package takes seconds; a run takes milliseconds).
RUNNER = """
const [modulePath, ...manifestPaths] = process.argv.slice(1);
const {validate} = require(modulePath);
(async () => {
  const results = [];
  for (const path of manifestPaths) {
    const result = await validate(false, path);
    results.push({success: result.success, errors: result.errors || []});
  }
  process.stdout.write(JSON.stringify(results));
})().catch((error) => { process.stderr.write(String((error && error.stack) || error)); process.exit(2); });
"""


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"CI must run Atlassian's manifest validator, but {reason}")
    pytest.skip(reason)


def cache_dir() -> Path:
    explicit = os.environ.get("XB_FORGE_MANIFEST_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xray-backup" / "forge-manifest"


def _installed_version(folder: Path) -> str | None:
    package_json = folder / "node_modules" / "@forge" / "manifest" / "package.json"
    tslib = folder / "node_modules" / "tslib" / "package.json"
    if not package_json.exists() or not tslib.exists():
        return None
    return json.loads(package_json.read_text()).get("version")


def ensure_validator() -> Path:
    """The folder of an installed @forge/manifest 13.x (installing it on first use), or skip/fail saying why."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _unavailable("node and npm are not installed (Debian: apt-get install nodejs npm); "
                     "Atlassian's @forge/manifest validator needs them")
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent test sessions share the cache: install once
        version = _installed_version(folder)
        if version is None or version.split(".")[0] != MAJOR:
            if not (folder / "package.json").exists():
                (folder / "package.json").write_text('{"name": "xray-backup-forge-manifest-cache", "private": true}\n')
            result = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(folder),
                 f"{PACKAGE}@{MAJOR}", "tslib"],
                cwd=folder, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
            version = _installed_version(folder)
            if result.returncode != 0 or version is None:
                _unavailable(f"npm could not install {PACKAGE}@{MAJOR} into {folder}: "
                             f"{(result.stderr or result.stdout).strip()[-600:]}")
    return folder / "node_modules" / "@forge" / "manifest"


def validate_manifests(paths: list[Path]) -> list[dict]:
    """`{"success": bool, "errors": [...]}` from @forge/manifest's `validate()` of each manifest file, in order."""
    module = ensure_validator()
    result = subprocess.run([shutil.which("node"), "-e", RUNNER, str(module), *(str(Path(p).absolute()) for p in paths)],
                            capture_output=True, text=True, timeout=VALIDATE_TIMEOUT)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)
