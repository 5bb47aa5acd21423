"""The secret scan CI runs (.ci/secret-scan, `make secrets`) fails on a real-looking secret and
passes the reviewed test fakes of .secrets.baseline (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOOK = Path(sys.executable).parent / "detect-secrets-hook"


def scan(*files: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / ".ci" / "secret-scan"), *map(str, files)], cwd=ROOT,
                          env={**os.environ, "SCAN_HOOK": str(HOOK)},
                          capture_output=True, text=True, timeout=120)


def test_a_planted_token_fails_the_scan_naming_file_and_line(tmp_path: Path) -> None:
    leak = tmp_path / "settings.py"
    # assembled here so this file itself holds no token-shaped string; the random-looking part
    # alone is high-entropy, hence the allowlist comment
    tail = "Zq8rVt3LmN0pXw7YkJ4sHd2F"  # pragma: allowlist secret
    token = "-".join(["xoxb", "2843759102", "5823746150923", tail])
    leak.write_text(f'import os\n\nSLACK_BOT_TOKEN = "{token}"\n')
    result = scan(leak)
    assert result.returncode == 1
    assert f"Location:    {leak}:3" in result.stderr and "Slack Token" in result.stderr
    assert "secret scan: FAILED" in result.stderr


def test_the_reviewed_fakes_pass_and_the_baseline_file_is_left_alone() -> None:
    baseline = ROOT / ".secrets.baseline"
    before = baseline.read_bytes()
    result = scan("bot/local/stack.py", "tests/unit/domain/governance/test_scrubber.py",
                  "deploy/kubernetes/secret.yaml")
    assert result.returncode == 0, result.stderr
    assert "secret scan: no secret in 3 files beyond the" in result.stdout
    assert baseline.read_bytes() == before


def test_every_baseline_entry_was_reviewed_as_not_a_secret() -> None:
    results = json.loads((ROOT / ".secrets.baseline").read_text())["results"]
    unreviewed = [f"{name}:{entry['line_number']}" for name, entries in results.items()
                  for entry in entries if entry.get("is_secret") is not False]
    assert unreviewed == [], "audit these with `detect-secrets audit .secrets.baseline`"
    assert all(Path(ROOT / name).exists() for name in results), "entries of files that are gone"
