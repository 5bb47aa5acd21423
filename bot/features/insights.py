"""Learning from incidents (issue 21): ``/incident stats``, the weekly digest, tracker export.

``install(container)``:

- registers the ``stats`` verb (handlers/insights.py) in the verb table;
- schedules the weekly digest on the container's scheduler, on the policy file's ``digest:``
  crontab (UTC; default Mondays 09:00). The digest is written to the outbox with a
  ``digests_sent`` row in one transaction (a restart or a second replica never posts a week
  twice) and delivered to the incidents channel, its chart uploaded in the message's thread;
- wires the tracker export of action items (bot/trackers/, when ``TRACKERS`` names one): the
  periodic sync and ``POST /webhooks/trackers/{kind}``;
- renders the postmortem draft through ``POSTMORTEM_TEMPLATE`` (or the shipped layout), with
  the exported action items' tickets linked.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from bot.delivery.dispatcher import Permanent
from bot.reports.html import bar_chart
from bot.slack_ui.insights import (
    DIGEST_KIND,
    STATS_HELP,
    digest_chart_series,
    digest_payload,
    digest_text,
)
from bot.slack_ui.postmortem_template import PostmortemTemplate, TicketLink
from bot.trackers.sync import TrackerSync
from domain.governance.postmortem import ActionItemRow, IncidentFacts, TimelineEntry
from domain.insights import ReportSource, targets_from_policy
from domain.ports import OutboxMessage
from domain.trackers import parse_trackers
from handlers.insights import stats_verb, tracker_webhook
from scheduler.cron import crontab_trigger
from storage.insights_store import claim_digest, tickets_for_incident
from storage.outbox_store import OutboxRow
from storage.reports import SqlReports

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("insights")
DIGEST_JOB = "insights-digest"
TRACKER_JOB = "insights-trackers"


@dataclass
class WeeklyDigest:
    """Builds the week's digest and hands it to the outbox; :meth:`deliver` posts it."""

    container: Container
    reports: ReportSource

    async def run(self) -> bool:
        """The digest of the 7 days up to now (to the minute); False when already sent."""
        now = self.container.clock.now().replace(second=0, microsecond=0)
        start = now - timedelta(days=7)
        this_week = await self.reports.report(start, now, now, breach_limit=0)
        last_week = await self.reports.report(start - timedelta(days=7), start, now, breach_limit=0)
        followups = await self.reports.overdue_followups(now)
        lifecycle = self.container.features.channel_lifecycle
        if lifecycle is not None:  # private incidents' titles stay out of the incidents channel
            followups = await lifecycle.hide_private_followups(followups)
        text = digest_text(this_week, last_week, followups)
        labels, series = digest_chart_series(this_week, last_week)
        png = bar_chart("SLA compliance (% met): this week and the week before", labels, series, "%"
                        ) if labels else None
        count = this_week.overall.count if this_week.overall else 0
        async with self.container.uow_factory() as uow:
            if not await claim_digest(uow, start, now, now, count):
                log.info("digest.already_sent", period_start=start.isoformat())
                return False
            await uow.outbox.add(OutboxMessage(
                DIGEST_KIND, None, digest_payload(text, png, start,
                                                  chart_unavailable=bool(labels) and png is None),
                dedup_key=f"digest:{start.isoformat()}", lane="slack:digest"))
            await uow.commit()
        self.container.dispatcher.wake()
        log.info("digest.queued", period_start=start.isoformat(), incidents=count,
                 chart=png is not None)
        return True

    async def scheduled(self) -> None:
        """The scheduler's entry: never raises (a failed digest is logged, the next one runs)."""
        try:
            await self.run()
        except Exception:
            log.exception("digest.failed")

    async def deliver(self, row: OutboxRow) -> None:
        """Post the digest in the incidents channel; the chart goes into its thread."""
        client = self.container.slack_client
        response = await client.chat_postMessage(
            channel=self.container.settings.incident_channel, text=row.payload["text"],
            unfurl_links=False)
        png = row.payload.get("png")
        if not png:
            return  # no matplotlib on this host: the text says it all
        import base64

        try:
            content = base64.b64decode(png)
        except ValueError as exc:
            raise Permanent(f"bad chart payload: {exc}") from exc
        await client.files_upload_v2(
            channel=response["channel"], thread_ts=response["ts"], content=content,
            filename="sla-compliance.png", title="SLA compliance: this week and the week before")


@dataclass
class Insights:
    """What this feature exposes (``container.features.insights``)."""

    reports: SqlReports
    digest: WeeklyDigest
    trackers: TrackerSync


def install(container: Container) -> None:
    policy = container.policy
    reports = SqlReports(container.engine, targets_from_policy(policy), policy.name)
    digest = WeeklyDigest(container, reports)
    container.slack.verbs.add("stats", stats_verb(reports), help=STATS_HELP, scoped=False)
    container.dispatcher.handlers[DIGEST_KIND] = digest.deliver
    if policy.digest.enabled:
        try:
            trigger = crontab_trigger(policy.digest.cron)
        except ValueError as exc:
            log.error("digest.bad_schedule", cron=policy.digest.cron, error=str(exc))
        else:
            container.scheduler.add_job(digest.scheduled, trigger, id=DIGEST_JOB, max_instances=1,
                                        coalesce=True, replace_existing=True)
    trackers = TrackerSync(container, parse_trackers(container.settings.trackers))
    minutes = container.settings.tracker_sync_minutes
    if trackers.routing.by_team and minutes > 0:
        container.scheduler.add_job(trackers.scheduled, "interval", minutes=minutes, id=TRACKER_JOB,
                                    max_instances=1, coalesce=True, replace_existing=True)
    container.routes.append(web.post("/webhooks/trackers/{kind}", tracker_webhook(
        trackers, container.settings.tracker_webhook_secret)))
    container.features.insights = Insights(reports, digest, trackers)
    _install_postmortem_template(container)


def _install_postmortem_template(container: Container) -> None:
    """The postmortem draft from POSTMORTEM_TEMPLATE (or the shipped layout), with the action
    items' tracker tickets linked. A template that does not load stops start-up (TemplateProblem
    names the file and the line)."""
    from domain.postmortems import Postmortems

    template = PostmortemTemplate.load(container.settings.postmortem_template)
    engine = container.engine

    async def render(facts: IncidentFacts, timeline: Sequence[TimelineEntry],
                     items: Sequence[ActionItemRow], factors: str | None, incident_id: uuid.UUID) -> str:
        async with engine.connect() as conn:
            tickets = await tickets_for_incident(conn, incident_id)
        return template.render(facts, timeline, items, factors,
                               tickets={n: TicketLink(key, url) for n, (key, url) in tickets.items()})

    for gate in container.service.gates.close:  # the postmortem feature's use cases
        if isinstance(gate, Postmortems):
            gate.render = render
