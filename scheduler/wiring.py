"""SLO clocks, update cadences and escalation, plugged into the bot (issue 3).

APScheduler is only the metronome: every ``TICK_SECONDS`` it runs one :class:`ClockTicker`
tick; every deadline and everything already fired lives in the database. Stakeholder updates
(the use case in ``domain/updates.py``, its Slack listeners in ``handlers/updates.py``) reset
the update cadence; every incident change asks the tick to re-plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from bot.slack_ui.timers import UpdateTexts
from domain.events import IncidentEvent
from domain.model import Actor, Incident
from domain.services import IncidentRef, IncidentService
from domain.updates import StakeholderUpdates
from handlers import updates as update_listeners
from scheduler.clocks import ESCALATE, ClockTicker
from scheduler.delivery import REMIND, EscalationDelivery
from storage.clock_marks import SqlClockMarks

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("scheduler")


def stakeholder_updates(service: IncidentService) -> StakeholderUpdates:
    """The update use cases over the SQL clock rows and the Slack words."""
    return StakeholderUpdates(service, SqlClockMarks, UpdateTexts())


async def post_update(service: IncidentService, ref: IncidentRef, actor: Actor, text: str) -> Incident:
    """Post a stakeholder update (for callers outside Slack: scripts and tests)."""
    return await stakeholder_updates(service).post(ref, actor, text)


def install(container: Container) -> None:
    ticker = ClockTicker(container.engine, container.uow_factory, container.clock, container.policy,
                         on_fired=lambda action: _count(container, action),
                         after_commit=container.service.after_commit,
                         interval=container.settings.tick_seconds,
                         on_lag=container.metrics.observe_tick, tracer=container.tracing.tracer)
    container.features.clocks = ticker
    escalations = EscalationDelivery(container.slack_client, container.uow_factory)
    container.dispatcher.handlers[ESCALATE] = escalations.escalate
    container.dispatcher.handlers[REMIND] = escalations.remind  # reminders naming @handles
    updates = stakeholder_updates(container.service)
    container.service.reactions.on(IncidentEvent, updates.on_change)
    update_listeners.register(container.bolt, container.slack, updates)

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
