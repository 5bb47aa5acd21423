"""Drift jobs: where a model's windows come from, running the assessment, and turning drift into
incidents (issues 4, 20). The math is :mod:`domain.drift`; the reading is in ``storage/``
(:mod:`storage.drift_files` streams files, :mod:`storage.drift_pushdown` computes in the
database); this module ties them to the incident.

A job is configured next to its model in ``models.yml`` (``MODELS_FILE``)::

    models:
      - name: credit-risk-v3
        ...
        drift:
          every: 1h                 # or cron: "0 * * * *"
          features: [income, utilisation, age, plan]
          weights: {income: 2}
          prediction: score
          bins: 10
          feature_types: {age: numeric}          # override the kind found from the data
          feature_tests: {income: wasserstein}   # numeric: ks | wasserstein;
                                                 # categorical: chisquare | jensenshannon
          memory_mb: 512            # files: the streaming budget (default DRIFT_MEMORY_MB)
          source:                   # kind: csv | parquet | sql
            kind: sql               # computed in the database: only aggregates come back
            url: postgresql://reader@warehouse/ml
            table: credit_scoring_log
            timestamp_column: scored_at
            reference_window: {start: 2026-10-01T00:00:00Z, end: 2026-11-01T00:00:00Z}
            evaluation_window: 24h  # the last 24 h before the run
          # files instead (paths, directories, s3:// or gs:// URIs), streamed in bounded memory:
          # {kind: parquet, reference: ref.parquet, current: cur.parquet}
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.slack_ui.drift import SlackDriftTexts
from domain.drift import DriftAssessment, DriftInputError, FeatureSpecs, assess_counts, require_drift_extra
from domain.drift_runs import DriftRuns
from domain.drift_stats import CATEGORICAL_TESTS, NUMERIC_TESTS
from domain.model import Incident, MLModel
from domain.policy import Policy, parse_duration
from domain.services import IncidentService
from scheduler.cron import crontab_trigger
from storage.drift_tables import record_assessment

log = structlog.get_logger("drift")

DEFAULT_MEMORY_MB = 1024
TestName = Literal["ks", "wasserstein", "chisquare", "jensenshannon"]


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["csv", "parquet", "sql"]
    reference: str | None = None  # files
    current: str | None = None
    url: str | None = None  # sql
    table: str | None = None
    timestamp_column: str | None = None
    reference_window: Window | None = None
    evaluation_window: timedelta = timedelta(hours=24)

    _window = field_validator("evaluation_window", mode="before")(parse_duration)

    @model_validator(mode="after")
    def _complete(self) -> Source:
        if self.kind == "sql":
            missing = [
                k
                for k in ("url", "table", "timestamp_column", "reference_window")
                if getattr(self, k) is None
            ]
        else:
            missing = [k for k in ("reference", "current") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.kind} source needs {', '.join(missing)}")
        return self


class DriftJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = ""
    every: timedelta | None = None
    cron: str | None = None
    features: list[str] = Field(min_length=1)
    weights: dict[str, float] = Field(default_factory=dict)
    prediction: str | None = None
    bins: int = Field(default=10, ge=2, le=100)
    feature_types: dict[str, Literal["numeric", "categorical"]] = Field(default_factory=dict)
    feature_tests: dict[str, TestName] = Field(default_factory=dict)
    memory_mb: int | None = Field(default=None, ge=64)
    source: Source

    _every = field_validator("every", mode="before")(parse_duration)

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        """Read as cron reads it (scheduler.cron), and refused here rather than at scheduling."""
        if value is not None:
            try:
                crontab_trigger(value)
            except ValueError as exc:
                raise ValueError(f"'{value}' is not a crontab line (e.g. \"0 * * * *\"): {exc}") from None
        return value

    @model_validator(mode="after")
    def _tests_fit_types(self) -> DriftJob:
        for name, test in self.feature_tests.items():
            kind = self.feature_types.get(name)
            allowed = NUMERIC_TESTS if kind == "numeric" else CATEGORICAL_TESTS if kind else None
            if allowed is not None and test not in allowed:
                raise ValueError(f"feature {name!r} is {kind}: its test is one of {', '.join(allowed)}")
        return self

    def specs(self) -> FeatureSpecs:
        return FeatureSpecs(kinds=dict(self.feature_types), tests=dict(self.feature_tests))


def load_jobs(path: str | Path) -> list[DriftJob]:
    """The drift jobs of every model in a ``models.yml`` that has a ``drift`` section."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    jobs = []
    for entry in data.get("models", []):
        if isinstance(entry, dict) and entry.get("drift"):
            jobs.append(DriftJob.model_validate({**entry["drift"], "model": entry["name"]}))
    return jobs


@dataclass
class Measured:
    """An assessment with the windows it compared."""

    assessment: DriftAssessment
    reference_start: datetime | None = None
    reference_end: datetime | None = None
    evaluation_start: datetime | None = None
    evaluation_end: datetime | None = None


async def measure(job: DriftJob, now: datetime, *, memory_mb: int = DEFAULT_MEMORY_MB,
                  psi_warn: float = 0.15, ks_p_value: float = 0.05) -> Measured:
    """Assess a job's windows without holding their rows: SQL sources are computed in the
    database, files are streamed in ``memory_mb``."""
    columns = [*job.features, *([job.prediction] if job.prediction else [])]
    source = job.source
    specs = job.specs()

    def score(counts: Any, ref_rows: int, cur_rows: int, kind: str) -> DriftAssessment:
        return assess_counts(counts, features=job.features, prediction=job.prediction, weights=job.weights,
                             psi_warn=psi_warn, ks_p_value=ks_p_value, specs=specs,
                             reference_rows=ref_rows, current_rows=cur_rows, source=kind)

    if source.kind == "sql":
        from storage.drift_pushdown import pushdown_from_url

        assert source.url and source.table and source.timestamp_column and source.reference_window
        ref_w = source.reference_window
        eval_start = now - source.evaluation_window
        pushed = await pushdown_from_url(
            source.url, source.table, source.timestamp_column, columns, bins=job.bins,
            reference=(ref_w.start, ref_w.end), current=(eval_start, now), kinds=specs.kinds)
        a = await asyncio.to_thread(score, pushed.counts, pushed.reference_rows, pushed.current_rows,
                                    "sql pushdown")
        a = DriftAssessment(**{**a.__dict__, "bytes_received": pushed.bytes_received})
        return Measured(a, ref_w.start, ref_w.end, eval_start, now)
    from storage.drift_files import stream_counts

    assert source.reference and source.current
    reference, current = source.reference, source.current

    def stream() -> DriftAssessment:
        streamed = stream_counts(reference, current, columns, bins=job.bins, kinds=specs.kinds,
                                 memory_mb=job.memory_mb or memory_mb)
        return score(streamed.counts, streamed.reference_rows, streamed.current_rows, "files")

    return Measured(await asyncio.to_thread(stream), evaluation_end=now)


def safe_chart(render: Callable[[DriftAssessment, float, float], bytes], a: DriftAssessment, psi_warn: float,
               psi_critical: float, model: str) -> bytes | None:
    """The chart, or None when drawing it fails: the incident is opened either way."""
    try:
        return render(a, psi_warn, psi_critical)
    except Exception:  # any matplotlib / data failure: logged, never raised
        log.exception("drift.chart_failed", model=model)
        return None


class DriftRunner:
    """Runs one job: assess (files, a warehouse), then the use case of domain/drift_runs.py
    stores ``drift_assessments`` and opens or feeds the model's drift incident."""

    def __init__(self, service: IncidentService, policy: Policy, metrics: Any = None, *,
                 memory_mb: int = DEFAULT_MEMORY_MB,
                 chart: Callable[[DriftAssessment, float, float], bytes] | None = None) -> None:
        self.service = service
        self.policy = policy
        self.metrics = metrics
        self.memory_mb = memory_mb
        self.chart = chart
        # what an assessment does to incidents (the use case); a snooze (issue 18) sets its gate
        self.runs = DriftRuns(service, policy, SlackDriftTexts(), record_assessment)
        # Issue 18 (model actions): accepted drift re-baselines a job
        self.job_override: Callable[[DriftJob, datetime], Awaitable[DriftJob]] | None = None

    def _render(self, a: DriftAssessment, psi_warn: float, psi_critical: float) -> bytes:
        if self.chart is not None:
            return self.chart(a, psi_warn, psi_critical)
        from bot.reports.drift import chart_png

        return chart_png(a, psi_warn, psi_critical)

    async def assess(self, job: DriftJob, now: datetime) -> DriftAssessment:
        """The job's assessment with its windows (no incident, nothing stored)."""
        thresholds = self.policy.drift
        m = await measure(job, now, memory_mb=self.memory_mb, psi_warn=thresholds.psi_warn,
                          ks_p_value=thresholds.ks_p_value)
        return DriftAssessment(**{**m.assessment.__dict__, "reference_window_start": m.reference_start,
                                  "reference_window_end": m.reference_end,
                                  "evaluation_window_start": m.evaluation_start,
                                  "evaluation_window_end": m.evaluation_end or now})

    async def run(
        self, job: DriftJob, now: datetime | None = None
    ) -> tuple[DriftAssessment, Incident | None]:
        require_drift_extra()  # says "install incident-bot[drift]" on a core install
        now = now or self.service.clock.now()
        model = await self._model(job.model)
        if self.job_override is not None:
            job = await self.job_override(job, now)
        return await self._act_on(model, await self.assess(job, now), now)

    async def run_submitted(self, model_name: str, a: DriftAssessment,
                            now: datetime) -> tuple[DriftAssessment, Incident | None]:
        """The job's own run (thresholds, snooze, feed or declare, the stored row) for an
        assessment computed elsewhere and submitted over the API: nothing to measure and
        nothing to re-baseline, since the windows were the submitter's."""
        return await self._act_on(await self._model(model_name), a, now)

    async def _model(self, name: str) -> MLModel:
        model = next((m for m in await self.service.list_models() if m.name == name), None)
        if model is None:
            raise DriftInputError(f"model {name!r} is not registered")
        return model

    async def _act_on(self, model: MLModel, a: DriftAssessment,
                      now: datetime) -> tuple[DriftAssessment, Incident | None]:
        thresholds = self.policy.drift
        if self.metrics is not None:
            self.metrics.drift_psi_composite.labels(str(model.id), model.name).set(a.psi_composite)
            self.metrics.drift_detections_total.labels(str(model.id), str(a.drift_detected).lower()).inc()
        severity = await self.runs.severity(model, a, now)
        chart = None
        if severity is not None:  # drawn before the transaction, in a thread: it takes a while
            png = await asyncio.to_thread(safe_chart, self._render, a, thresholds.psi_warn,
                                          thresholds.psi_critical, model.name)
            chart = base64.b64encode(png).decode() if png is not None else None
        return a, await self.runs.act_on(model, a, now, severity, chart)
