""".ci/audit-dependencies: a vulnerability fails CI; an unreachable advisory source is said, not hidden."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.deploy.tools import ROOT

SCRIPT = ROOT / ".ci" / "audit-dependencies"


def _run_with(tmp_path: Path, stdout: str, stderr: str = "",
              code: int = 0) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "pip-audit"
    fake.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({stdout!r})\n"
                    f"sys.stderr.write({stderr!r})\nsys.exit({code})\n")
    fake.chmod(0o755)
    return subprocess.run([sys.executable, str(SCRIPT), str(fake)], capture_output=True, text=True,
                          timeout=60)


def test_a_known_vulnerability_fails(tmp_path: Path) -> None:
    report = {"dependencies": [
        {"name": "aiohttp", "version": "3.9.0", "vulns": [
            {"id": "GHSA-xxxx", "fix_versions": ["3.9.4"], "description": "request smuggling"}]},
        {"name": "yarl", "version": "1.9.0", "vulns": []}], "fixes": []}
    result = _run_with(tmp_path, json.dumps(report), code=1)
    assert result.returncode == 1
    assert "aiohttp 3.9.0: GHSA-xxxx (fixed in 3.9.4)" in result.stdout


def test_nothing_audited_is_a_skip_said_as_such(tmp_path: Path) -> None:
    report = {"dependencies": [{"name": "aiohttp", "skip_reason": "Dependency not found on PyPI"}],
              "fixes": []}
    result = _run_with(tmp_path, json.dumps(report))
    assert result.returncode == 0 and "SKIPPED" in result.stdout and "nothing was audited" in result.stdout
    crashed = _run_with(tmp_path, "", "requests.exceptions.ConnectionError: no route to host", 1)
    assert crashed.returncode == 0 and "SKIPPED: the advisory source is unreachable" in crashed.stdout


def test_a_clean_audit_passes_and_names_what_was_not_audited(tmp_path: Path) -> None:
    report = {"dependencies": [{"name": "aiohttp", "version": "3.14.5", "vulns": []},
                               {"name": "mylocal", "skip_reason": "not on PyPI"}], "fixes": []}
    result = _run_with(tmp_path, json.dumps(report))
    assert result.returncode == 0
    assert "1 packages of requirements-dev.lock audited, no known vulnerability; not audited: mylocal" \
        in result.stdout


def test_a_missing_pip_audit_is_an_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "none")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
