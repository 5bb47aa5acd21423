"""Cost of the SLO clock tick with 10,000 open incidents, and the process's memory.

Creates N active incidents of mixed severities declared over the last four hours (so their
clocks are live: reminders, breaches and escalations keep coming due), then runs the tick the
way the scheduler does, moving a fake clock 5 s per tick, and reports the first tick (plans
every incident), the median and p95 of the steady-state ticks, and peak RSS.

    .venv/bin/python benchmarks/tick.py [--incidents 10000] [--ticks 60] [--postgres URL]

Target (issue 3): steady-state tick under 50 ms, memory under 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.model import ModelStage, Severity, Status
from domain.policy import default_policy
from scheduler.clocks import ClockTicker
from storage import migrate
from storage import tables as t
from storage.db import create_engine
from storage.uow import uow_factory, write_lock_for

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


async def seed(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    model_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(t.models.insert().values(
            id=model_id, name="credit-risk-v3", version="3.1.0", stage=ModelStage.PRODUCTION,
            team="risk-ml", labels=[], registered_at=NOW))
        rows = []
        for number in range(1, n + 1):
            created = NOW - timedelta(seconds=rng.randint(0, 4 * 3600))
            status = rng.choice([Status.OPEN, Status.INVESTIGATING, Status.MITIGATED])
            rows.append({
                "id": uuid.uuid4(), "number": number, "title": f"bench incident {number}",
                "severity": rng.choice(list(Severity)), "status": status, "model_id": model_id,
                "trigger_source": "manual", "labels": [], "created_at": created,
                "updated_at": created, "created_by": "bench", "version": 1,
                "acknowledged_at": created + timedelta(minutes=3) if status is not Status.OPEN else None,
                "mitigated_at": created + timedelta(minutes=20) if status is Status.MITIGATED else None,
                "assigned_to": "U0IC" if rng.random() < 0.7 else None,
            })
        for start in range(0, n, 1000):
            await conn.execute(t.incidents.insert(), rows[start:start + 1000])


async def run(url: str, n: int, ticks: int) -> None:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    await seed(engine, n)
    clock = Clock(NOW)
    ticker = ClockTicker(engine, uow_factory(engine, clock, write_lock_for(engine)), clock,
                         default_policy())
    first = await ticker.tick()
    costs, planned, fired = [], [], []
    for _ in range(ticks):
        clock.current += timedelta(seconds=5)
        result = await ticker.tick()
        costs.append(result.seconds * 1000)
        planned.append(result.planned)
        fired.append(result.fired)
    await engine.dispose()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{engine.dialect.name:10} {n:>9} {first.seconds * 1000:>10.0f} {first.fired:>7} "
          f"{statistics.median(costs):>10.1f} {sorted(costs)[int(0.95 * (len(costs) - 1))]:>8.1f} "
          f"{statistics.mean(planned):>9.1f} {sum(fired):>7} {rss_mb:>8.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--postgres", help="also run on this PostgreSQL database URL (emptied first)")
    args = parser.parse_args()
    print(f"{'database':10} {'incidents':>9} {'first ms':>10} {'fired':>7} {'median ms':>10} "
          f"{'p95 ms':>8} {'planned':>9} {'fired':>7} {'RSS MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(f"sqlite+aiosqlite:///{tmp}/bench.db", args.incidents, args.ticks))
    if args.postgres:
        asyncio.run(reset_pg(args.postgres))
        asyncio.run(run(args.postgres, args.incidents, args.ticks))
    print("first: the tick that plans every incident once; median/p95: the following ticks, 5 s "
          "apart; planned: incidents re-planned per tick; RSS: peak of this process")
    return 0


async def reset_pg(url: str) -> None:
    engine = create_engine(url)
    await migrate.downgrade(engine, "base")
    await engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
