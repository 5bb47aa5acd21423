"""Scheduled drift jobs, the drift chart in Slack and ``/incident drift <model>`` (issue 4)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import structlog
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import ValidationError

from bot.delivery.dispatcher import NO_ANNOUNCEMENT, Permanent
from bot.features.drift_jobs import DriftJob, DriftRunner, load_jobs
from bot.slack_ui.drift import summary_text
from domain.commands import Parsed
from domain.drift import DriftInputError, DriftUnavailable, missing_drift_packages
from domain.drift_runs import DRIFT_CHART
from domain.model import DomainError
from domain.services import IncidentRef
from handlers.slack_context import SlackContext
from scheduler.cron import crontab_trigger
from storage.drift_tables import drift_job_lock
from storage.outbox_store import OutboxRow

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("drift")


class DriftScheduler:
    """Runs each configured job on its schedule; one replica per job on PostgreSQL."""

    def __init__(self, container: Container, runner: DriftRunner, jobs: list[DriftJob]) -> None:
        self.container = container
        self.runner = runner
        self.jobs = jobs

    async def run_job(self, job: DriftJob) -> Any:
        """One run; a failing source is logged and retried at the next run, never raised."""
        try:
            async with drift_job_lock(self.container.engine, job.model) as mine:
                if not mine:
                    return None  # another replica runs this job now
                return await self.runner.run(job)
        except (DriftInputError, DomainError, OSError, DriftUnavailable) as exc:
            log.error("drift.job_failed", model=job.model, error=str(exc))
        except Exception:
            log.exception("drift.job_failed", model=job.model)
        return None

    def schedule(self) -> None:
        """Each job on its own trigger, on the container's scheduler."""
        for job in self.jobs:
            trigger = crontab_trigger(job.cron) if job.cron else IntervalTrigger(
                seconds=(job.every.total_seconds() if job.every else 3600))
            self.container.scheduler.add_job(self.run_job, trigger, args=[job], id=f"drift:{job.model}",
                                             max_instances=1, coalesce=True)


def install(container: Container) -> None:
    runner = DriftRunner(container.service, container.policy, container.metrics,
                         memory_mb=container.settings.drift_memory_mb)
    jobs: list[DriftJob] = []
    if container.settings.models_file:
        try:
            jobs = load_jobs(container.settings.models_file)
        except (OSError, ValueError, ValidationError) as exc:
            log.error("drift.jobs_unreadable", file=container.settings.models_file, error=str(exc)[:500])
    scheduler = DriftScheduler(container, runner, jobs)
    container.features.drift, container.features.drift_scheduler = runner, scheduler
    if jobs and missing_drift_packages():
        # a core install (no drift extra): say so once at start, not at every scheduled run
        log.error("drift.unavailable", models=[job.model for job in jobs],
                  error=str(DriftUnavailable(missing_drift_packages())))
    else:
        scheduler.schedule()

    async def deliver_chart(row: OutboxRow) -> None:
        assert row.incident_id is not None
        view = await container.service.view(IncidentRef(incident_id=row.incident_id))
        link = view.link
        if not (link and link.announcement_channel and link.announcement_ts):
            raise Permanent(NO_ANNOUNCEMENT)
        try:
            png = base64.b64decode(row.payload["png"])
        except (KeyError, ValueError) as exc:
            raise Permanent(f"bad chart payload: {exc}") from exc
        await container.slack_client.files_upload_v2(
            channel=link.announcement_channel, thread_ts=link.announcement_ts, content=png,
            filename="drift.png", title=row.payload.get("title", "Drift"))

    container.dispatcher.handlers[DRIFT_CHART] = deliver_chart

    async def drift_command(ctx: SlackContext, parsed: Parsed, body: dict[str, Any], respond: Any) -> None:
        name = parsed.rest.strip()
        by_model = {job.model: job for job in scheduler.jobs}
        if name not in by_model:
            known = ", ".join(f"`{m}`" for m in sorted(by_model)) or "none (configure them in MODELS_FILE)"
            raise DomainError(f"No drift job for model `{name or '?'}`. Models with drift jobs: {known}.")
        try:
            assessment, incident = await runner.run(by_model[name])
        except DriftInputError as exc:
            raise DomainError(f"The drift check for `{name}` could not read its data: {exc}") from exc
        except DriftUnavailable as exc:
            raise DomainError(f"The drift check for `{name}` cannot run on this install: {exc}") from exc
        thresholds = container.policy.drift
        verdict = (f" → {incident.key} [{incident.severity.label}]" if incident else " → no incident needed")
        await ctx.reply(body, respond, summary_text(name, assessment, thresholds.psi_warn,
                                                    thresholds.psi_critical) + verdict)

    container.slack.verbs.add("drift", drift_command,
                              help="`/incident drift <model>`: run the drift checks for a model now")
