"""axe-core in the browser tests, without vendoring it: npm installs a pinned version into a cache outside the
repository once (like a fixture), and each check runs it in the page through Playwright (not subject to the
pages' CSP). Where npm is absent the checks are skipped saying why; under CI=1 that is a failure."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

AXE_VERSION = "4.10.3"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xray-backup-tests" / f"axe-core-{AXE_VERSION}"
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 5).map(n => n.target.join(" "))}));
}"""


def _unavailable(message: str):
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The text of axe.min.js (axe-core AXE_VERSION), installed with npm into CACHE on first use."""
    script = CACHE / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is missing: install Node.js and npm to run the axe-core accessibility checks")
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(CACHE),
                               f"axe-core@{AXE_VERSION}"], capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not script.exists():
            _unavailable(f"npm could not install axe-core {AXE_VERSION}: {done.stderr.strip()[-500:]}")
    return script.read_text()


def axe_violations(page_or_frame, source: str) -> list[dict]:
    """Run axe-core in the page (or frame) as it is now; its violations, each with up to five offending nodes."""
    if not page_or_frame.evaluate("() => !!window.axe"):
        page_or_frame.evaluate(source)
    return page_or_frame.evaluate(RUN_AXE)


def assert_accessible(page_or_frame, source: str) -> None:
    violations = axe_violations(page_or_frame, source)
    assert violations == [], "axe-core found: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'])}" for v in violations)
