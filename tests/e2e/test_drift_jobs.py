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

from bot.features.drift_jobs import DriftJob, load_jobs
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
        scheduler = stack.container.features.drift_scheduler
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
        assessment, incident = await stack.container.features.drift.run(job(ref, cur))
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
        runner = stack.container.features.drift
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


def test_drift_check_cli_prints_a_table_and_json_and_keeps_stderr_quiet_off_a_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
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
    assert "numeric" in out and " ks " in out  # the test chosen per feature is shown
    assert err == ""  # progress is for terminals only: CI logs and pipes stay clean
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"psi_composite", "ks_p_value", "drift_detected", "feature_scores", "feature_tests"}
    assert data["feature_scores"]["income"] > 0.25 and data["drift_detected"] is True
    assert data["feature_tests"]["income"]["test"] == "ks"
    assert main(["drift", "check", "--reference", str(tmp_path / "nope.csv"), "--current",
                 str(tmp_path / "cur.parquet")]) == 2
    assert "no such file" in capsys.readouterr().err


def write_plan_csv(path: Path, premium_share: float, rows: int = 3000) -> str:
    """A categorical top feature (``plan``) next to a stable numeric one."""
    plans = RNG.choice(["basic", "plus", "premium"], size=rows,
                       p=[(1 - premium_share) / 2, (1 - premium_share) / 2, premium_share])
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["plan", "utilisation", "score"])
        for plan in plans:
            out.writerow([plan, RNG.normal(0.3, 0.1), RNG.beta(2, 5)])
    return str(path)


async def test_a_categorical_top_feature_opens_an_incident_with_its_chart(
    database_url: str, tmp_path: Path
) -> None:
    """The worst drift is a category's: the job opens the incident and the chart shows category bars
    (it used to crash the chart with np.isnan on strings, and no incident was opened)."""
    ref, cur = write_plan_csv(tmp_path / "ref.csv", 0.1), write_plan_csv(tmp_path / "cur.csv", 0.7)
    plan_job = DriftJob.model_validate({
        "model": "credit-risk-v3", "features": ["plan", "utilisation"], "prediction": "score",
        "source": {"kind": "csv", "reference": ref, "current": cur}})
    async with LocalStack(database_url, settings_overrides={"tick_seconds": 0}) as stack:
        assessment, incident = await stack.container.features.drift.run(plan_job)
        await stack.settle()
        assert incident is not None and assessment.top_features(1)[0][0] == "plan"
        assert assessment.features["plan"].kind == "categorical"
        assert assessment.features["plan"].test in {"chisquare", "jensenshannon"}
        assert stack.slack.files and stack.slack.files[0]["name"] == "drift.png"


def plan_table(premium_share: float, rows: int = 3000) -> pa.Table:
    return pa.table({
        "plan": RNG.choice(["basic", "plus", "premium"], size=rows,
                           p=[(1 - premium_share) / 2, (1 - premium_share) / 2, premium_share]),
        "utilisation": RNG.normal(0.3, 0.1, rows),
        "score": RNG.beta(2, 5, rows),
    })


async def test_categorical_drift_from_parquet_and_from_sql_opens_an_incident_with_its_chart(
    database_url: str, tmp_path: Path
) -> None:
    """The other two job sources: streamed Parquet, and a SQL table computed in the database."""
    pq.write_table(plan_table(0.1), tmp_path / "ref.parquet")
    pq.write_table(plan_table(0.7), tmp_path / "cur.parquet")
    now = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    engine = create_engine(database_url)
    log = sa.Table("plan_log", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                   sa.Column("scored_at", sa.DateTime(timezone=True)), sa.Column("plan", sa.String(20)),
                   sa.Column("utilisation", sa.Float()), sa.Column("score", sa.Float()))
    async with engine.begin() as conn:
        await conn.run_sync(log.metadata.create_all)
        rows = []
        windows = ((timedelta(days=30), plan_table(0.1, 800)), (timedelta(hours=2), plan_table(0.7, 800)))
        for offset, table in windows:
            for i, row in enumerate(table.to_pylist()):
                rows.append({**row, "scored_at": now - offset + timedelta(seconds=i)})
        await conn.execute(log.insert(), rows)
    await engine.dispose()
    common = {"features": ["plan", "utilisation"], "prediction": "score"}
    parquet_job = DriftJob.model_validate({**common, "model": "credit-risk-v3", "source": {
        "kind": "parquet", "reference": str(tmp_path / "ref.parquet"),
        "current": str(tmp_path / "cur.parquet")}})
    sql_job = DriftJob.model_validate({**common, "model": "fraud-detector", "source": {
        "kind": "sql", "url": database_url, "table": "plan_log", "timestamp_column": "scored_at",
        "reference_window": {"start": now - timedelta(days=40), "end": now - timedelta(days=20)},
        "evaluation_window": "24h"}})
    async with LocalStack(database_url, clock=FakeClock(now),
                          settings_overrides={"tick_seconds": 0}) as stack:
        for configured, source in ((parquet_job, "files"), (sql_job, "sql pushdown")):
            assessment, incident = await stack.container.features.drift.run(configured)
            assert incident is not None and assessment.source == source
            assert assessment.top_features(1)[0][0] == "plan"
            assert assessment.features["plan"].kind == "categorical"
        await stack.settle()
        assert [f["name"] for f in stack.slack.files] == ["drift.png", "drift.png"]  # one chart per incident


async def test_a_chart_that_fails_to_draw_never_costs_the_incident(database_url: str, tmp_path: Path) -> None:
    from bot.features.drift_jobs import DriftRunner

    ref, cur = write_plan_csv(tmp_path / "ref.csv", 0.1), write_plan_csv(tmp_path / "cur.csv", 0.7)
    plan_job = DriftJob.model_validate({"model": "credit-risk-v3", "features": ["plan", "utilisation"],
                                        "source": {"kind": "csv", "reference": ref, "current": cur}})

    def broken_chart(*_: object) -> bytes:
        raise ValueError("matplotlib could not draw this")

    async with LocalStack(database_url, settings_overrides={"tick_seconds": 0}) as stack:
        runner = DriftRunner(stack.container.service, stack.container.policy, chart=broken_chart)
        assessment, incident = await runner.run(plan_job)
        await stack.settle()
        assert incident is not None and assessment.drift_detected
        view = await stack.container.service.view(IncidentRef(incident_id=incident.id), with_timeline=True)
        assert view.link.announcement_ts  # announced, without a chart
        assert stack.slack.files == []


def test_drift_check_is_a_ci_gate_and_writes_a_report_and_a_chart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli.main import main

    write_plan_csv(tmp_path / "ref.csv", 0.1)
    write_plan_csv(tmp_path / "cur.csv", 0.7)
    write_plan_csv(tmp_path / "same.csv", 0.1)
    base = ["drift", "check", "--reference", str(tmp_path / "ref.csv"), "--prediction-column", "score"]
    drifted = [*base, "--current", str(tmp_path / "cur.csv")]
    report, chart = tmp_path / "drift.html", tmp_path / "drift.png"
    assert main([*drifted, "--fail-on", "drift", "--report", str(report), "--chart", str(chart)]) == 1
    assert main([*drifted, "--fail-on", "critical"]) == 1
    assert main([*drifted]) == 0  # no gate asked for: assessed is success
    assert main([*base, "--current", str(tmp_path / "same.csv"), "--fail-on", "drift"]) == 0
    html = report.read_text()
    assert html.count('src="data:image/png;base64,') >= 2 and "plan" in html and "categorical" in html
    assert "<script" not in html and "http" not in html.split("<body>")[1]  # self-contained
    assert chart.read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    assert main([*drifted, "--features", "plan,utilisaton"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no column 'utilisaton'" in err and "utilisation" in err


def test_drift_check_streams_files_in_a_memory_budget_with_the_same_psi(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli.main import main

    pq.write_table(plan_table(0.1, 60_000), tmp_path / "ref.parquet", row_group_size=5000)
    pq.write_table(plan_table(0.7, 60_000), tmp_path / "cur.parquet", row_group_size=5000)
    args = ["drift", "check", "--reference", str(tmp_path / "ref.parquet"), "--current",
            str(tmp_path / "cur.parquet"), "--format", "json"]
    assert main([*args, "--engine", "memory"]) == 0
    in_memory = json.loads(capsys.readouterr().out)
    assert main([*args, "--engine", "streaming", "--memory-mb", "64"]) == 0
    streamed = json.loads(capsys.readouterr().out)
    assert streamed["source"] == "files" and in_memory["source"] == "memory"
    assert streamed["feature_scores"] == in_memory["feature_scores"]  # exact edges: the same PSI
    assert streamed["feature_tests"]["plan"]["kind"] == "categorical"
