"""The incident report over 100,000 incidents on PostgreSQL (issue 21: under 2 s).

Seeds a fresh database with ``INSERT ... SELECT generate_series`` (incidents over 90 days
across 20 models and 8 teams, timers fired, postmortems, action items), then runs the report
(``storage.reports.build_report``, the same call as ``incident-bot report``) a few times and
prints the median::

    .venv/bin/python -m benchmarks.report_100k [--count 100000] [--runs 5]

PostgreSQL comes from TEST_POSTGRES_URL (default: the local server); the database is dropped
afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from domain.insights import targets_from_policy
from domain.policy import default_policy
from storage import migrate
from storage.db import create_engine
from storage.reports import build_report
from tests.databases import create_pg_database, drop_pg_database

START = datetime(2026, 8, 1, tzinfo=UTC)

S = "CAST(:start AS timestamptz)"

SEED = [
    f"""INSERT INTO models (id, name, version, stage, team, registered_at, labels)
    SELECT md5('model' || g)::uuid, 'model-' || g, '1.0.0', 'production', 'team-' || (g % 8),
           {S}, ARRAY[]::text[] FROM generate_series(1, 20) g""",
    f"""INSERT INTO incidents (id, number, title, severity, status, model_id, trigger_source, labels,
        created_at, updated_at, acknowledged_at, mitigated_at, resolved_at, created_by, version)
    SELECT md5('inc' || g)::uuid, g, 'incident ' || g,
        (ARRAY['p1','p2','p3','p3','p4'])[1 + g % 5]::incident_severity,
        CASE WHEN g % 50 = 0 THEN 'open' ELSE 'resolved' END::incident_status,
        md5('model' || (1 + g % 20))::uuid,
        (ARRAY['manual','automated_drift','automated_performance','pagerduty'])[1 + g % 4]::trigger_source,
        ARRAY[]::text[], c, c, a, m, r, 'U0BENCH', 1
    FROM (SELECT g, {S} + (g * interval '77 seconds') AS c FROM generate_series(1, :count) g) s,
    LATERAL (SELECT CASE WHEN g % 50 = 0 THEN
        NULL ELSE c + ((g * 37) % 1200) * interval '1 second' END AS a) a1,
    LATERAL (SELECT CASE WHEN g % 50 = 0 THEN
        NULL ELSE a + ((g * 53) % 9000) * interval '1 second' END AS m) m1,
    LATERAL (SELECT CASE WHEN g % 50 = 0 THEN
        NULL ELSE m + ((g * 71) % 40000) * interval '1 second' END AS r) r1""",
    f"""INSERT INTO incident_timers_fired (incident_id, key, kind, due_at, fired_at)
    SELECT md5('inc' || g)::uuid, k || ':' || g, k, {S}, {S}
    FROM generate_series(1, :count) g,
         unnest(ARRAY['escalation', 'no_commander', 'update_due']) k
    WHERE (g + length(k)) % 7 = 0""",
    f"""INSERT INTO postmortems (incident_id, required, due_at, draft_posted_at)
    SELECT md5('inc' || g)::uuid, true, {S} + (g * interval '77 seconds') + interval '2 days',
           CASE WHEN g % 3 = 0 THEN NULL ELSE {S} + (g * interval '77 seconds') + interval '1 day' END
    FROM generate_series(1, :count) g WHERE g % 5 IN (1, 2)""",
    """INSERT INTO postmortem_analyses (incident_id, contributing_factors, recorded_by, recorded_at)
    SELECT incident_id, 'bench', 'U0BENCH', draft_posted_at FROM postmortems
    WHERE draft_posted_at IS NOT NULL""",
    f"""INSERT INTO action_items (id, incident_id, number, text, owner, due_date, severity, ticket,
        status, created_by, created_at)
    SELECT md5('ai' || g || n)::uuid, md5('inc' || g)::uuid, n, 'action', 'U0OWNER',
           ({S} + (g * interval '77 seconds') + interval '14 days')::date, 'p2', 'OPS-' || g,
           CASE WHEN (g + n) % 2 = 0 THEN 'open' ELSE 'done' END, 'U0BENCH', {S}
    FROM generate_series(1, :count) g, generate_series(1, 2) n WHERE g % 5 IN (1, 2)""",
    "ANALYZE",
]


async def run(count: int, runs: int) -> None:
    url = await create_pg_database()
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        began = time.perf_counter()
        async with engine.begin() as conn:
            for statement in SEED[:-1]:
                await conn.execute(sa.text(statement), {"start": START, "count": count})
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(SEED[-1]))
        print(f"seeded {count:,} incidents in {time.perf_counter() - began:.1f} s")
        targets = targets_from_policy(default_policy())
        until = START + timedelta(seconds=77 * (count + 1))
        timings = []
        for _ in range(runs):
            began = time.perf_counter()
            report = await build_report(engine, targets, START, until, until)
            timings.append(time.perf_counter() - began)
        overall = report.overall
        assert overall is not None and overall.count == count, overall
        print(f"report over {overall.count:,} incidents ({len(report.groups)} groups, "
              f"{report.breaches_total:,} breaches): median {statistics.median(timings):.3f} s, "
              f"runs {', '.join(f'{t:.3f}' for t in timings)}")
    finally:
        await engine.dispose()
        await drop_pg_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.count, args.runs))


if __name__ == "__main__":
    main()
