"""SLO clocks, update cadences and escalation, plugged into the bot (issue 3).

APScheduler is only the metronome: every ``TICK_SECONDS`` it runs one :class:`ClockTicker`
tick; every deadline and everything already fired lives in the database.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncRespond

from domain import timer_messages as say
from domain.commands import Parsed
from domain.model import Actor, AuditEvent, DomainError, Incident, Status, TimelineEvent, TimelineEventType
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import THREAD, IncidentRef, IncidentService, Outcome
from domain.text_boundary import clean
from handlers.slack_context import SlackContext
from scheduler.clocks import ESCALATE, ClockTicker, mark_episode, mark_stale
from scheduler.delivery import EscalationDelivery
from storage.uow import sql_connection

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("scheduler")

UPDATE_CALLBACK = "post_update"


async def post_update(service: IncidentService, ref: IncidentRef, actor: Actor, text: str) -> Outcome:
    """A stakeholder update: into the announcement's thread, on the timeline, resets the cadence."""
    text = clean(text, "update").strip()  # the one boundary for outside text (issue 14)
    if not text:
        raise DomainError("Write the update: `/incident update <text>`.")

    async def work(uow: UnitOfWork) -> Outcome:
        incident = await service.resolve_ref(uow, ref)
        if not incident.status.is_active:
            raise DomainError(f"{incident.key} is {incident.status.value}; updates are for active "
                              "incidents.")
        now = service.clock.now()
        await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.NOTE,
            body=f"Stakeholder update: {text}", author=actor.id, author_name=actor.name,
            occurred_at=now, created_at=now))
        await uow.audit.add(AuditEvent(
            occurred_at=now, actor=actor.id, actor_name=actor.name, action="incident.update_posted",
            resource_type="incident", resource_id=str(incident.id),
            details={"number": incident.number, "length": len(text)}))
        await uow.outbox.add(OutboxMessage(THREAD, incident.id, {
            "text": say.update_posted_text(incident, actor.mention, text)}))
        await mark_episode(sql_connection(uow), incident.id, last_update_at=now)
        return Outcome(incident, f":mega: Update on {incident.key} posted in its announcement's thread; "
                                 "the update clock starts again.")

    return await service.run(work)


def install(container: Container) -> None:
    ticker = ClockTicker(container.engine, container.uow_factory, container.clock, container.policy,
                         on_fired=lambda action: _count(container, action),
                         after_commit=container.service.after_commit,
                         interval=container.settings.tick_seconds,
                         on_lag=container.metrics.observe_tick)
    container.features.clocks = ticker
    container.dispatcher.handlers[ESCALATE] = EscalationDelivery(
        container.slack_client, container.uow_factory).escalate

    async def on_reopen(uow: UnitOfWork, incident: Incident, action: str, details: dict[str, Any]) -> None:
        if action == "incident.status_updated" and details.get("to") == Status.INVESTIGATING.value \
                and details.get("from") in (Status.RESOLVED.value, Status.MITIGATED.value):
            await mark_episode(sql_connection(uow), incident.id,
                               episode_started_at=incident.updated_at)

    async def replan(uow: UnitOfWork, incident: Incident, action: str, details: dict[str, Any]) -> None:
        await mark_stale(sql_connection(uow), incident)

    container.service.observers += [on_reopen, replan]
    _register_slack(container)

    async def tick() -> None:
        try:
            result = await ticker.tick()
            if result.fired:
                log.info("clocks.tick", planned=result.planned, fired=result.fired,
                         ms=round(result.seconds * 1000, 1))
        except Exception:  # a failed tick is retried by the next one; never kill the scheduler
            log.exception("clocks.tick_failed")

    if container.settings.tick_seconds > 0:
        container.scheduler.add_job(tick, "interval", seconds=container.settings.tick_seconds,
                                    id="slo-tick", max_instances=1, coalesce=True,
                                    misfire_grace_time=None)


def _count(container: Container, action: Any) -> None:
    container.metrics.slo_breaches.labels(action.severity.value, action.kind.value).inc()


def _register_slack(container: Container) -> None:
    ctx: SlackContext = container.slack
    bolt = container.bolt

    async def update_command(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                             respond: AsyncRespond) -> None:
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        outcome = await post_update(ctx.service, ref, actor, parsed.rest)
        await ctx.reply(body, respond, outcome.message)

    ctx.verbs.add("update", update_command, help="`/incident update <text>`: post a stakeholder update "
                                                "(resets the update cadence)")

    @bolt.action(say.UPDATE_ACTION)
    async def update_button(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        incident_id = (body.get("actions") or [{}])[0].get("value", "")
        ctx.after_ack(ctx.client.views_open(trigger_id=body["trigger_id"], view={
            "type": "modal", "callback_id": UPDATE_CALLBACK,
            "private_metadata": json.dumps({"incident_id": incident_id}),
            "title": {"type": "plain_text", "text": "Stakeholder update"},
            "submit": {"type": "plain_text", "text": "Post update"},
            "blocks": [{"type": "input", "block_id": "update", "label": {
                "type": "plain_text", "text": "What changed, impact, next steps"}, "element": {
                "type": "plain_text_input", "action_id": "update", "multiline": True}}],
        }))

    @bolt.view(UPDATE_CALLBACK)
    async def update_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values: dict[str, dict[str, Any]] = view.get("state", {}).get("values", {}).get("update", {})
        text = str(next(iter(values.values()), {}).get("value") or "").strip()
        if not text:
            await ack(response_action="errors", errors={"update": "Write the update first."})
            return
        try:
            incident_id = uuid.UUID(json.loads(view.get("private_metadata") or "{}").get("incident_id", ""))
        except (ValueError, TypeError, AttributeError):
            await ack(response_action="errors", errors={"update": "This form lost its incident; "
                                                                  "use `/incident update <text>`."})
            return
        await ack()
        ctx.after_ack(post(body["user"], incident_id, text))

    async def post(user: dict[str, Any], incident_id: uuid.UUID, text: str) -> None:
        actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
        try:
            await post_update(ctx.service, IncidentRef(incident_id=incident_id), actor, text)
        except DomainError as exc:
            await ctx.client.chat_postMessage(channel=user["id"], text=f":warning: {exc}")
