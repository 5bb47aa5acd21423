"""Drift files on S3 (issue 20): ``drift check`` and the drift job stream a Parquet and a CSV from
``s3://`` URIs through pyarrow's S3 filesystem, against moto's S3 server on loopback (endpoint
and fake credentials from the environment, as pyarrow reads them: AWS_ENDPOINT_URL, AWS_*),
within DRIFT_MEMORY_MB. ``gs://`` goes through pyarrow's GCS filesystem the same way but is not
exercised: there is no local GCS stand-in on PyPI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from bot.features.drift_jobs import DriftJob
from bot.local.stack import LocalStack
from tests.warehouses import s3_server

RNG = np.random.default_rng(20)
FAKE_KEY = "testing"  # pragma: allowlist secret (moto takes any credentials)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    yield from s3_server()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh bucket holding ref/cur as Parquet (row groups of 5,000) and CSV, copies in tmp_path."""
    for key, value in {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": FAKE_KEY,
                       "AWS_SECRET_ACCESS_KEY": FAKE_KEY, "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    name = f"drift-{uuid.uuid4().hex[:12]}"
    s3 = fs.S3FileSystem(endpoint_override=s3_endpoint, access_key=FAKE_KEY, secret_key=FAKE_KEY,
                         region="us-east-1", allow_bucket_creation=True)
    s3.create_dir(name)
    for window, shift in (("ref", 0.0), ("cur", 1.0)):
        rows = 40_000
        table = pa.table({"income": RNG.normal(50 + 8 * shift, 10, rows),
                          "plan": RNG.choice(["basic", "plus", "premium"], rows, p=[0.45, 0.45, 0.1]),
                          "utilisation": RNG.normal(0.3, 0.1, rows), "score": RNG.beta(2 + shift, 5, rows)})
        pq.write_table(table, tmp_path / f"{window}.parquet", row_group_size=5000)
        pacsv.write_csv(table, tmp_path / f"{window}.csv")
        for ext in ("parquet", "csv"):
            with s3.open_output_stream(f"{name}/{window}.{ext}") as out:
                out.write((tmp_path / f"{window}.{ext}").read_bytes())
    return name


def check(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    from bot.cli.main import main

    assert main(["drift", "check", "--prediction-column", "score", "--format", "json", *args]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_drift_check_streams_parquet_and_csv_from_s3_within_drift_memory_mb(
        bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    local = check(capsys, "--reference", str(tmp_path / "ref.parquet"), "--current",
                  str(tmp_path / "cur.parquet"), "--engine", "memory")
    for ext in ("parquet", "csv"):
        remote = check(capsys, "--reference", f"s3://{bucket}/ref.{ext}", "--current", f"s3://{bucket}/cur.{ext}")
        assert remote["source"] == "files" and remote["reference_rows"] == remote["current_rows"] == 40_000
        assert remote["feature_scores"] == local["feature_scores"], ext  # exact edges: the same PSI
        assert remote["drift_detected"] and remote["feature_tests"]["plan"]["kind"] == "categorical"
    # a budget the numeric columns do not fit: edges from a sample, said, and the PSI close
    monkeypatch.setenv("DRIFT_MEMORY_MB", "1")
    tight = check(capsys, "--reference", f"s3://{bucket}/ref.parquet", "--current", f"s3://{bucket}/cur.csv")
    assert tight["feature_tests"]["income"]["note"].startswith("edges from a ")
    for name, score in local["feature_scores"].items():
        assert tight["feature_scores"][name] == pytest.approx(score, abs=0.01), name


async def test_a_drift_job_on_s3_files_opens_its_incident(bucket: str, database_url: str) -> None:
    jobs = [DriftJob.model_validate({
        "model": "credit-risk-v3", "features": ["income", "plan", "utilisation"], "prediction": "score",
        "source": {"kind": kind, "reference": f"s3://{bucket}/ref.{kind}",
                   "current": f"s3://{bucket}/cur.{kind}"}}) for kind in ("parquet", "csv")]
    overrides = {"tick_seconds": 0, "drift_memory_mb": 64}
    async with LocalStack(database_url, settings_overrides=overrides) as stack:
        runner = stack.container.features.drift
        parquet, incident = await runner.run(jobs[0])
        csv, _ = await runner.run(jobs[1])
        await stack.settle()
        assert incident is not None
        assert len(await stack.container.service.list_incidents()) == 1  # one incident per model
        assert parquet.source == csv.source == "files"
        assert parquet.feature_scores == csv.feature_scores and parquet.feature_scores["income"] > 0.25
        assert (parquet.reference_rows, parquet.current_rows) == (40_000, 40_000)
        assert stack.slack.files and stack.slack.files[0]["name"] == "drift.png"
