"""Drift jobs: where a model's windows come from, running the assessment, and turning drift into
incidents (issue 4). The math is :mod:`domain.drift`; this is the I/O around it.

A job is configured next to its model in ``models.yml`` (``MODELS_FILE``)::

    models:
      - name: credit-risk-v3
        ...
        drift:
          every: 1h                 # or cron: "0 * * * *"
          features: [income, utilisation, age]
          weights: {income: 2}
          prediction: score
          bins: 10
          source:                   # kind: csv | parquet | sql
            kind: sql
            url: postgresql://reader@warehouse/ml
            table: credit_scoring_log
            timestamp_column: scored_at
            reference_window: {start: 2026-10-01T00:00:00Z, end: 2026-11-01T00:00:00Z}
            evaluation_window: 24h  # the last 24 h before the run
          # files instead: {kind: parquet, reference: ref.parquet, current: cur.parquet}
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.drift import DriftAssessment, DriftInputError, assess, require_drift_extra
from domain.model import Actor, Incident, Severity, TimelineEvent, TimelineEventType, TriggerSource
from domain.policy import Policy, parse_duration
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import DeclareIncident, IncidentRef, IncidentService
from storage.db import create_engine
from storage.drift_tables import drift_assessments
from storage.uow import sql_connection

if TYPE_CHECKING:  # numpy, pyarrow and matplotlib come with the drift extra: imported where used
    import numpy as np

log = structlog.get_logger("drift")

DRIFT_JOB = Actor("drift-job", "drift job")
DRIFT_CHART = "drift_chart"  # outbox kind: upload the chart into the announcement thread
SEVERITY_ORDER = [Severity.P4, Severity.P3, Severity.P2, Severity.P1]


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
    source: Source

    _every = field_validator("every", mode="before")(parse_duration)


def load_jobs(path: str | Path) -> list[DriftJob]:
    """The drift jobs of every model in a ``models.yml`` that has a ``drift`` section."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    jobs = []
    for entry in data.get("models", []):
        if isinstance(entry, dict) and entry.get("drift"):
            jobs.append(DriftJob.model_validate({**entry["drift"], "model": entry["name"]}))
    return jobs


@dataclass
class Windows:
    reference: dict[str, np.ndarray]
    current: dict[str, np.ndarray]
    reference_start: datetime | None = None
    reference_end: datetime | None = None
    evaluation_start: datetime | None = None
    evaluation_end: datetime | None = None


def read_file(path: str, columns: list[str]) -> dict[str, np.ndarray]:
    """CSV or Parquet columns as numpy arrays (pyarrow; only the needed columns are read)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not Path(path).exists():
        raise DriftInputError(f"{path}: no such file")
    if path.endswith((".parquet", ".pq")):
        try:
            table = pq.read_table(path, columns=columns)
        except Exception as exc:  # pyarrow raises several types for a missing column
            raise DriftInputError(f"{path}: {exc}") from exc
    else:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(include_columns=columns))
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise DriftInputError(f"{path}: no column {', '.join(missing)}")
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in columns}


async def read_sql(
    engine: AsyncEngine, table: str, timestamp_column: str, columns: list[str], start: datetime, end: datetime
) -> dict[str, np.ndarray]:
    """Rows with start <= timestamp < end, from SQLite or PostgreSQL (async drivers)."""
    import numpy as np

    source = sa.table(table, *(sa.column(c) for c in {*columns, timestamp_column}))
    ts = source.c[timestamp_column]
    query = sa.select(*(source.c[c] for c in columns)).where(ts >= start, ts < end)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
    except sa.exc.SQLAlchemyError as exc:
        raise DriftInputError(f"{table}: {str(exc).splitlines()[0]}") from exc
    return {c: np.array([r[i] for r in rows], dtype=object) for i, c in enumerate(columns)}


async def load_windows(job: DriftJob, now: datetime) -> Windows:
    columns = [*job.features, *([job.prediction] if job.prediction else [])]
    source = job.source
    if source.kind == "sql":
        assert source.url and source.table and source.timestamp_column and source.reference_window
        ref_w = source.reference_window
        eval_start = now - source.evaluation_window
        engine = create_engine(source.url)  # one engine (and pool) for both windows
        try:
            ref = await read_sql(
                engine, source.table, source.timestamp_column, columns, ref_w.start, ref_w.end
            )
            cur = await read_sql(engine, source.table, source.timestamp_column, columns, eval_start, now)
        finally:
            await engine.dispose()
        return Windows(_numeric(ref), _numeric(cur), ref_w.start, ref_w.end, eval_start, now)
    assert source.reference and source.current
    ref_file, cur_file = await asyncio.gather(
        asyncio.to_thread(read_file, source.reference, columns),
        asyncio.to_thread(read_file, source.current, columns),
    )
    return Windows(ref_file, cur_file, evaluation_end=now)


def _numeric(data: dict[str, np.ndarray]) -> dict[str, Any]:
    import numpy as np

    out: dict[str, Any] = {}
    for name, values in data.items():
        try:
            out[name] = np.array([np.nan if v is None else float(v) for v in values], dtype=float)
        except (TypeError, ValueError):
            out[name] = list(values)  # categorical
    return out


def summary_text(model: str, a: DriftAssessment, psi_warn: float, psi_critical: float) -> str:
    top = ", ".join(f"`{name}` {score:.3f}" for name, score in a.top_features(5))
    ks = f"{a.ks_p_value:.3g}" if a.ks_p_value is not None else "n/a"
    windows = ""
    if a.evaluation_window_start and a.evaluation_window_end:
        windows = (
            f" Evaluation window {a.evaluation_window_start:%Y-%m-%d %H:%M}–"
            f"{a.evaluation_window_end:%Y-%m-%d %H:%M} UTC"
        )
        if a.reference_window_start and a.reference_window_end:
            windows += f" vs reference {a.reference_window_start:%Y-%m-%d}–{a.reference_window_end:%Y-%m-%d}"
        windows += "."
    return (
        f"Drift on `{model}`: composite PSI *{a.psi_composite:.3f}* (warn {psi_warn}, critical "
        f"{psi_critical}), KS p-value *{ks}* on predictions; {a.current_rows:,} rows vs "
        f"{a.reference_rows:,} reference rows. Top features: {top}.{windows}"
    )


def chart_png(a: DriftAssessment, windows: Windows, psi_warn: float, psi_critical: float) -> bytes:
    """Per-feature PSI bars with the warn / critical lines, and the most drifted feature's
    reference vs current distribution."""
    import io

    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = a.top_features(15)
    fig, (bars, dist) = plt.subplots(1, 2, figsize=(11, 4), dpi=90)
    bars.barh([n for n, _ in reversed(top)], [s for _, s in reversed(top)], color="#4c72b0")
    for value, colour in ((psi_warn, "#e1a100"), (psi_critical, "#c0392b")):
        bars.axvline(value, color=colour, linestyle="--", linewidth=1, label=f"PSI {value}")
    bars.set_title(f"PSI per feature (composite {a.psi_composite:.3f})")
    bars.legend(loc="lower right", fontsize=8)
    if top:
        name = top[0][0]
        ref, cur = windows.reference.get(name), windows.current.get(name)
        if isinstance(ref, np.ndarray) and isinstance(cur, np.ndarray):
            ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
            sample = np.random.default_rng(0)
            ref = ref if ref.size <= 200_000 else sample.choice(ref, 200_000, replace=False)
            cur = cur if cur.size <= 200_000 else sample.choice(cur, 200_000, replace=False)
            dist.hist(ref, bins=50, alpha=0.55, density=True, label="reference")
            dist.hist(cur, bins=50, alpha=0.55, density=True, label="current")
            dist.legend(fontsize=8)
        dist.set_title(f"{name}: reference vs current")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


class DriftRunner:
    """Runs one job: assess, store ``drift_assessments``, open or feed the model's drift incident."""

    def __init__(self, service: IncidentService, policy: Policy, metrics: Any = None) -> None:
        self.service = service
        self.policy = policy
        self.metrics = metrics

    async def run(
        self, job: DriftJob, now: datetime | None = None
    ) -> tuple[DriftAssessment, Incident | None]:
        require_drift_extra()  # says "install incident-bot[drift]" on a core install
        now = now or self.service.clock.now()
        models = {m.name: m for m in await self.service.list_models()}
        model = models.get(job.model)
        if model is None:
            raise DriftInputError(f"model {job.model!r} is not registered")
        windows = await load_windows(job, now)
        thresholds = self.policy.drift
        found = await asyncio.to_thread(
            assess,
            windows.reference,
            windows.current,
            features=job.features,
            prediction=job.prediction,
            weights=job.weights,
            bins=job.bins,
            psi_warn=thresholds.psi_warn,
            ks_p_value=thresholds.ks_p_value,
        )
        a = DriftAssessment(
            **{
                **found.__dict__,
                "reference_window_start": windows.reference_start,
                "reference_window_end": windows.reference_end,
                "evaluation_window_start": windows.evaluation_start,
                "evaluation_window_end": windows.evaluation_end or now,
            }
        )
        if self.metrics is not None:
            self.metrics.drift_psi_composite.labels(str(model.id), model.name).set(a.psi_composite)
            self.metrics.drift_detections_total.labels(str(model.id), str(a.drift_detected).lower()).inc()
        severity = thresholds.severity_for(a.psi_composite, a.drift_detected, model.labels)
        text = summary_text(model.name, a, thresholds.psi_warn, thresholds.psi_critical)
        chart = None
        if severity is not None:
            png = await asyncio.to_thread(chart_png, a, windows, thresholds.psi_warn, thresholds.psi_critical)
            chart = base64.b64encode(png).decode()
        assessment_id = uuid.uuid4()

        async def record(uow: UnitOfWork, incident: Incident | None) -> None:
            await sql_connection(uow).execute(
                drift_assessments.insert().values(
                    id=assessment_id,
                    model_id=model.id,
                    assessed_at=now,
                    psi_composite=a.psi_composite,
                    ks_p_value=a.ks_p_value,
                    drift_detected=a.drift_detected,
                    feature_scores=a.feature_scores,
                    reference_window_start=a.reference_window_start,
                    reference_window_end=a.reference_window_end,
                    evaluation_window_start=a.evaluation_window_start,
                    evaluation_window_end=a.evaluation_window_end,
                    incident_id=incident.id if incident else None,
                )
            )
            if incident is not None and chart is not None:
                await uow.outbox.add(
                    OutboxMessage(
                        DRIFT_CHART,
                        incident.id,
                        {"png": chart, "title": f"Drift on {model.name} at {now:%Y-%m-%d %H:%M} UTC"},
                    )
                )

        async def feed_open(uow: UnitOfWork) -> Incident | None:
            open_incident = await uow.incidents.find_open_for_model(
                model.id, TriggerSource.AUTOMATED_DRIFT.value
            )
            if severity is not None and open_incident is not None:
                await uow.timeline.add(
                    TimelineEvent(
                        incident_id=open_incident.id,
                        event_type=TimelineEventType.AUTOMATED_ALERT,
                        body=text,
                        author=DRIFT_JOB.id,
                        author_name=DRIFT_JOB.name,
                        occurred_at=now,
                        created_at=now,
                        source_ref=f"drift:{assessment_id}",
                    )
                )
            if severity is None:
                await record(uow, None)
            elif open_incident is not None:
                await record(uow, open_incident)
            # else: recorded with the new incident, in the declaration's transaction
            return open_incident

        open_incident = await self.service.run(feed_open)
        if severity is None:
            return a, None
        if open_incident is not None:
            if SEVERITY_ORDER.index(severity) > SEVERITY_ORDER.index(open_incident.severity):
                await self.service.change_severity(
                    IncidentRef(incident_id=open_incident.id), DRIFT_JOB, severity
                )
            return a, open_incident
        incident = await self.service.declare(
            DeclareIncident(
                title=f"Drift on {model.name}: PSI {a.psi_composite:.2f}",
                severity=severity,
                model_name=model.name,
                description=text,
                trigger_source=TriggerSource.AUTOMATED_DRIFT,
                labels=["drift"],
                then=lambda uow, incident: record(uow, incident),
            ),
            DRIFT_JOB,
        )
        return a, incident
