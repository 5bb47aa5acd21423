"""Drift jobs end to end: both source kinds, the job run as the scheduler runs it, one incident per
drifted model, the chart uploaded into the announcement thread; SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from bot.drift_jobs import DriftJob, load_jobs
from bot.local.stack import LocalStack
from domain.model import Severity, TimelineEventType, TriggerSource
from domain.services import IncidentRef
from storage.db import create_engine
from storage.drift_tables import drift_assessments
from tests.fakes import FakeClock

RNG = np.random.default_rng(7)


def write_csv(path: Path, shift: float, rows: int = 3000) -> str:
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["income", "utilisation", "score"])
        for _ in range(rows):
            out.writerow([RNG.normal(50 + shift * 10, 10), RNG.normal(0.3, 0.1), RNG.beta(2 + shift * 3, 5)])
    return str(path)


def job(ref: str, cur: str, model: str = "credit-risk-v3") -> DriftJob:
    return DriftJob.model_validate(
        {
            "model": model,
            "every": "1h",
            "features": ["income", "utilisation"],
            "prediction": "score",
            "source": {"kind": "csv", "reference": ref, "current": cur},
        }
    )


async def test_a_scheduled_job_on_drifted_data_opens_one_incident_and_posts_the_chart(
    database_url: str, tmp_path: Path
) -> None:
    models_file = tmp_path / "models.yml"
    ref, cur = write_csv(tmp_path / "ref.csv", 0), write_csv(tmp_path / "cur.csv", 1.5)
    models_file.write_text(f"""models:
  - name: credit-risk-v3
    version: 3.1.0
    team: risk-ml
    labels: [revenue-critical]
    drift:
      every: 1h
      features: [income, utilisation]
      prediction: score
      source: {{kind: csv, reference: {ref}, current: {cur}}}
""")
    async with LocalStack(
        database_url,
        clock=FakeClock(),
        settings_overrides={"models_file": str(models_file), "tick_seconds": 0},
    ) as stack:
        scheduler = stack.container.features["drift_scheduler"]
        [configured] = scheduler.jobs
        first = await scheduler.run_job(configured)  # what APScheduler calls on each interval
        second = await scheduler.run_job(configured)
        await stack.settle()
        assessment, incident = first
        assert incident is not None and second[1] is not None and second[1].id == incident.id  # one incident
        assert assessment.drift_detected and assessment.psi_composite > 0.25
        view = await stack.container.service.view(IncidentRef(number=1), with_timeline=True)
        assert view.incident.trigger_source is TriggerSource.AUTOMATED_DRIFT
        assert view.incident.created_by == "drift-job"
        assert view.incident.severity is Severity.P2  # critical PSI on a revenue-critical model
        alerts = [e for e in view.timeline if e.event_type is TimelineEventType.AUTOMATED_ALERT]
        assert len(alerts) == 1 and "composite PSI" in alerts[0].body
        assert len(await stack.container.service.list_incidents()) == 1
        uploads = stack.slack.calls_to("files.completeUploadExternal")  # one chart per assessment
        assert [u.params.get("thread_ts") for u in uploads] == [view.link.announcement_ts] * 2
        assert stack.slack.files and stack.slack.files[0]["name"] == "drift.png"
        async with stack.container.engine.connect() as conn:
            rows = (await conn.execute(sa.select(drift_assessments))).mappings().all()
        assert len(rows) == 2 and all(r["incident_id"] == incident.id for r in rows)
        assert set(rows[0]["feature_scores"]) == {"income", "utilisation"}
        metrics = stack.container.metrics.render()[0].decode()
        assert "mlplatform_drift_psi_composite{" in metrics


async def test_no_drift_no_incident_but_an_assessment(database_url: str, tmp_path: Path) -> None:
    ref, cur = write_csv(tmp_path / "ref.csv", 0), write_csv(tmp_path / "cur.csv", 0)
    async with LocalStack(database_url, settings_overrides={"tick_seconds": 0}) as stack:
        assessment, incident = await stack.container.features["drift"].run(job(ref, cur))
        assert incident is None and not assessment.drift_detected
        assert await stack.container.service.list_incidents() == []


async def test_parquet_files_and_a_sql_table_are_sources(database_url: str, tmp_path: Path) -> None:
    table = pa.table(
        {
            "income": RNG.normal(50, 10, 2000),
            "utilisation": RNG.normal(0.3, 0.1, 2000),
            "score": RNG.random(2000),
        }
    )
    pq.write_table(table, tmp_path / "ref.parquet")
    pq.write_table(table, tmp_path / "cur.parquet")
    now = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    engine = create_engine(database_url)
    log = sa.Table(
        "scoring_log",
        sa.MetaData(),
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("scored_at", sa.DateTime(timezone=True)),
        sa.Column("income", sa.Float()),
        sa.Column("utilisation", sa.Float()),
        sa.Column("score", sa.Float()),
    )
    async with engine.begin() as conn:
        await conn.run_sync(log.metadata.create_all)
        rows = [
            {
                "id": uuid.uuid4(),
                "scored_at": now - timedelta(days=30, minutes=i),
                "income": float(RNG.normal(50, 10)),
                "utilisation": 0.3,
                "score": float(RNG.random()),
            }
            for i in range(500)
        ]
        rows += [
            {
                "id": uuid.uuid4(),
                "scored_at": now - timedelta(minutes=i + 1),
                "income": float(RNG.normal(80, 10)),
                "utilisation": 0.3,
                "score": float(RNG.random()),
            }
            for i in range(500)
        ]
        await conn.execute(log.insert(), rows)
    await engine.dispose()
    sql_job = DriftJob.model_validate(
        {
            "model": "fraud-detector",
            "features": ["income", "utilisation"],
            "prediction": "score",
            "source": {
                "kind": "sql",
                "url": database_url,
                "table": "scoring_log",
                "timestamp_column": "scored_at",
                "reference_window": {"start": now - timedelta(days=40), "end": now - timedelta(days=20)},
                "evaluation_window": "24h",
            },
        }
    )
    async with LocalStack(
        database_url, clock=FakeClock(now), settings_overrides={"tick_seconds": 0}
    ) as stack:
        runner = stack.container.features["drift"]
        parquet, _ = await runner.run(
            job(str(tmp_path / "ref.parquet"), str(tmp_path / "cur.parquet"), "fraud-detector")
        )
        assert parquet.psi_composite == 0 and not parquet.drift_detected
        sql, incident = await runner.run(sql_job)
        assert sql.reference_rows == 500 and sql.current_rows == 500
        assert sql.feature_scores["income"] > 0.25 and incident is not None
        assert incident.severity is Severity.P3  # critical PSI, model not revenue-critical
        assert sql.evaluation_window_start == now - timedelta(hours=24)


def test_jobs_file_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "models.yml"
    bad.write_text("models:\n  - name: m\n    drift: {features: [a], source: {kind: sql, url: x}}\n")
    with pytest.raises(ValueError, match="a sql source needs table, timestamp_column, reference_window"):
        load_jobs(bad)


def test_drift_check_cli_prints_a_table_json_and_a_progress_bar(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli.main import main

    rows = 100_000
    for name, shift in (("ref", 0.0), ("cur", 1.0)):
        pq.write_table(pa.table({"income": RNG.normal(50 + shift * 10, 10, rows),
                                 "utilisation": RNG.normal(0.3, 0.1, rows), "score": RNG.random(rows)}),
                       tmp_path / f"{name}.parquet")
    args = ["drift", "check", "--reference", str(tmp_path / "ref.parquet"), "--current",
            str(tmp_path / "cur.parquet"), "--prediction-column", "score"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "drift_detected   true" in out and "income" in out and "critical" in out
    assert "2/2 features" in err and "[##############################]" in err
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"psi_composite", "ks_p_value", "drift_detected", "feature_scores"}
    assert data["feature_scores"]["income"] > 0.25 and data["drift_detected"] is True
    assert main(["drift", "check", "--reference", str(tmp_path / "nope.csv"), "--current",
                 str(tmp_path / "cur.parquet")]) == 2
    assert "no such file" in capsys.readouterr().err
