"""Smoke test of the fault-injection driver (benchmarks/faults.py): a real ``incident-bot serve``
process killed with ``kill -9`` during a small burst on SQLite, restarted, and every request
accounted for. It checks the driver's bookkeeping, not the bot's figures (those are the
benchmark's output): whatever the bot lost, the counts must add up."""

from __future__ import annotations

import importlib.util
import signal
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
N = 20


def load_faults() -> ModuleType:
    spec = importlib.util.spec_from_file_location("faults_driver", ROOT / "benchmarks" / "faults.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


async def test_kill9_burst_accounting_adds_up(tmp_path: Path) -> None:
    faults = load_faults()
    args = faults.parse(["--db", "sqlite", "-n", str(N), "--drain", "8", "--kill-after", "0.4"])
    async with faults.Scenario("sqlite", args, tmp_path, "smoke") as scenario:
        result = await faults.crash_burst(scenario, "a kill -9 burst", signal.SIGKILL, N,
                                          args.kill_after, args.drain)
        incidents = await scenario.db.incidents()
    assert result.check() == [], result
    assert result.sent == N
    assert result.acked + result.busy + result.failed == N
    assert 0 <= result.lost <= result.acked
    titles = {row["title"] for row in incidents}
    acked_present = sum(1 for s in scenario.sent if s.status == 200 and s.title in titles)
    assert result.lost == result.acked - acked_present  # lost = acked but not in `incidents`
    assert result.figures["exit_code"] == -signal.SIGKILL  # it really was killed
    for column in ("dup_announcements", "dup_channels", "dup_pins", "dup_posts", "undelivered"):
        value = getattr(result, column)
        assert isinstance(value, int) and 0 <= value <= len(incidents), (column, value)
    table = faults.table([result])
    assert "a kill -9 burst" in table and "sqlite" in table
