"""PagerDuty events as incident changes, and incident changes here as PagerDuty calls.

In: a verified, shape-checked Webhooks V3 event (handlers/webhooks/pagerduty.py) becomes the
same use case Slack runs (declare, status change, note, severity). Out: a declare or status
change made here becomes outbox rows (``PD_*`` kinds, delivered by bot/delivery/pagerduty.py),
written in the use case's own transaction by the reactions :meth:`PagerDutyEvents.on_declared`
and :meth:`PagerDutyEvents.on_status_changed`.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from domain.events import IncidentDeclared, StatusChanged
from domain.model import Actor, Incident, Severity, Status, TriggerSource
from domain.paging.ports import AlreadyLinked, PagerDutyLink, PagingUnitOfWork
from domain.policy import Policy
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import DeclareIncident, IncidentRef, IncidentService

PD_STATUS = "pagerduty_status"  # outbox: PUT /incidents/{id} acknowledged | resolved
PD_NOTE = "pagerduty_note"  # outbox: POST /incidents/{id}/notes (the Slack channel)
PD_EVENT = "pagerduty_event"  # outbox: Events API v2 trigger | acknowledge | resolve
PD_RESPONDERS = "pagerduty_responders"  # outbox: PagerDuty users -> Slack users -> invite
PAGERDUTY = "pagerduty"  # the service account named as actor and created_by
PAGED_SEVERITIES = (Severity.P1, Severity.P2)
_REASONS = {"incident.acknowledged": ("ack", "acknowledged in PagerDuty"),
            "incident.resolved": (Status.RESOLVED, "resolved in PagerDuty"),
            "incident.reopened": ("reopen", "reopened in PagerDuty")}


class Verdict(enum.Enum):
    """What became of an inbound event (the handler turns it into an HTTP status)."""

    CREATED = "created"  # a new incident
    APPLIED = "applied"  # a change to one
    DUPLICATE = "duplicate"  # already applied: a redelivery
    IGNORED = "ignored"  # nothing to do (unknown incident, stale, not a kind we act on)
    RETRY = "retry"  # could not be recorded now; the sender should send it again


@dataclass(frozen=True)
class EventResult:
    verdict: Verdict
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PagerDutyConfig:
    """Which model a PagerDuty service's incidents attach to, and where our pages go."""

    service_models: dict[str, str] = field(default_factory=dict)
    default_model: str | None = None
    routing_keys: dict[str, str] = field(default_factory=dict)  # team (or "default") -> key


class PageAcks(Protocol):
    """The paging steps of the webhook use case (domain/paging/pages.py ``Paging``): a PagerDuty
    incident our page opened, and the responders to invite when they acknowledge."""

    async def on_triggered(self, uow: UnitOfWork, data: dict[str, Any]) -> uuid.UUID | None: ...

    async def invited(self, uow: UnitOfWork, incident_id: uuid.UUID, pd_users: list[str]) -> None: ...

    async def on_update(self, uow: UnitOfWork, linked: uuid.UUID | None, event: dict[str, Any],
                        event_type: str, data: dict[str, Any],
                        incident_data: dict[str, Any]) -> bool: ...


def parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def pd_actor(event: dict[str, Any]) -> Actor:
    agent = event.get("agent") or {}
    return Actor(PAGERDUTY, f"PagerDuty ({agent['summary']})" if agent.get("summary") else "PagerDuty")


class PagerDutyEvents:
    """The PagerDuty use cases, over the incident service and the paging links."""

    def __init__(self, service: IncidentService, policy: Policy, config: PagerDutyConfig,
                 acks: PageAcks | None = None) -> None:
        self.service = service
        self.policy = policy
        self.config = config
        self.acks = acks  # pages from Slack: their PagerDuty incidents, invites on acknowledge

    async def handle(self, event: dict[str, Any], data: dict[str, Any]) -> EventResult:
        """One V3 event (``event.data`` shape-checked by the handler)."""
        event_type = str(event["event_type"])
        if event_type == "incident.triggered":
            return await self.triggered(event, data)
        if event_type.startswith("incident."):
            return await self.updated(event, event_type, data)
        return EventResult(Verdict.IGNORED, {"ignored": event_type})

    # -- PagerDuty -> here ----------------------------------------------------------------------

    async def triggered(self, event: dict[str, Any], data: dict[str, Any]) -> EventResult:
        """A paged incident, declared here once: the duplicate check, the declaration and the
        link in one transaction (a concurrent redelivery loses at the link, writing nothing).
        The incident our own SEV-1/2 page opened (its ``incident_key`` is the page's dedup key)
        is linked to the incident that paged, not declared a second time."""
        pd_id = str(data.get("id") or "")
        if not pd_id:
            raise MissingField("event.data.id (the PagerDuty incident) is missing")
        occurred = parse_time(event.get("occurred_at"))

        async def work(uow: UnitOfWork) -> EventResult:
            links = cast(PagingUnitOfWork, uow).pagerduty_links
            if await links.by_pd_incident(pd_id) is not None:
                return EventResult(Verdict.DUPLICATE, {"duplicate": pd_id})
            key = data.get("incident_key")
            page = await links.by_page(str(key)) if key else None
            if page is not None:
                return await self._our_page(uow, page, pd_id, data, occurred)
            if self.acks is not None and await self.acks.on_triggered(uow, data) is not None:
                return EventResult(Verdict.APPLIED, {"page_opened": pd_id})  # ours: no new incident
            incident = await self.service.declare_in(uow, self._declaration(data), pd_actor(event))
            await self._link(uow, incident, pd_id, data, occurred)
            return EventResult(Verdict.CREATED, {"incident": incident.key})

        try:
            return await self.service.run(work)
        except AlreadyLinked:  # a concurrent redelivery won the race: one incident, as wanted
            return EventResult(Verdict.DUPLICATE, {"duplicate": pd_id})

    def _declaration(self, data: dict[str, Any]) -> DeclareIncident:
        """The incident a PagerDuty incident becomes, on the model its service maps to."""
        service = data.get("service") or {}
        model = self.config.service_models.get(str(service.get("id"))) or self.config.default_model
        if not model:
            raise UnmappedService(f"no model for PagerDuty service {service.get('id')} "
                                  f"({service.get('summary')}): map it in PAGERDUTY_SERVICE_MODELS")
        priority = (data.get("priority") or {}).get("summary")
        number = data.get("number", data.get("id"))
        return DeclareIncident(
            title=str(data.get("title") or f"PagerDuty incident {number}"),
            severity=self.policy.pagerduty_severity.severity_for(priority, data.get("urgency")),
            model_name=model, trigger_source=TriggerSource.PAGERDUTY,
            description=f"Paged by PagerDuty: <{data.get('html_url')}|#{number}> "
                        f"on service {service.get('summary', '?')}",
            labels=["pagerduty"])

    async def _our_page(self, uow: UnitOfWork, page: PagerDutyLink, pd_id: str,
                        data: dict[str, Any], occurred: datetime | None) -> EventResult:
        """PagerDuty opened ``pd_id`` for our own page: the paging incident's link learns it, so
        PagerDuty's changes move that incident and ours reach it (raises :class:`AlreadyLinked`
        when a concurrent redelivery recorded it first)."""
        links = cast(PagingUnitOfWork, uow).pagerduty_links
        if not await links.opened(page.incident_id, pd_id, data.get("html_url"), occurred):
            raise AlreadyLinked(pd_id)  # the link names a PagerDuty incident already
        incident = await self.service.resolve_ref(uow, IncidentRef(incident_id=page.incident_id))
        await self._linked(uow, incident.id, pd_id, data)
        return EventResult(Verdict.APPLIED, {"page_linked": pd_id, "incident": incident.key})

    async def _link(self, uow: UnitOfWork, incident: Incident, pd_id: str, data: dict[str, Any],
                    occurred: datetime | None) -> None:
        """Link both ways (raises :class:`AlreadyLinked` when a concurrent delivery linked first)
        and invite PagerDuty's assignees."""
        await cast(PagingUnitOfWork, uow).pagerduty_links.add(PagerDutyLink(
            incident_id=incident.id, pd_incident_id=pd_id, pd_url=data.get("html_url"),
            last_event_at=occurred))
        await self._linked(uow, incident.id, pd_id, data)

    async def _linked(self, uow: UnitOfWork, incident_id: uuid.UUID, pd_id: str,
                      data: dict[str, Any]) -> None:
        """The other way: PagerDuty's incident names our channel; its assignees are invited."""
        await uow.outbox.add(OutboxMessage(PD_NOTE, incident_id, {"pd_incident_id": pd_id}))
        assignees = [a.get("id") for a in data.get("assignees") or [] if a.get("id")]
        if assignees:
            await uow.outbox.add(OutboxMessage(PD_RESPONDERS, incident_id, {"users": assignees}))
            if self.acks is not None:  # already invited: their acknowledgement is no news
                await self.acks.invited(uow, incident_id, assignees)

    async def updated(self, event: dict[str, Any], event_type: str,
                      data: dict[str, Any]) -> EventResult:
        """A change on a linked incident: the change and its bookkeeping (the newest event
        applied, responders to invite) in one transaction; stale and unknown ones are ignored."""
        incident_data = data if data.get("type") == "incident" else (data.get("incident") or {})
        occurred = parse_time(event.get("occurred_at"))

        async def work(uow: UnitOfWork) -> EventResult:
            links = cast(PagingUnitOfWork, uow).pagerduty_links
            link = await links.by_pd_incident(str(incident_data.get("id") or ""))
            if link is not None and occurred and link.last_event_at and occurred < link.last_event_at:
                return EventResult(Verdict.IGNORED, {"ignored": "older than the last event applied"})
            invited = self.acks is not None and await self.acks.on_update(
                uow, link.incident_id if link else None, event, event_type, data, incident_data)
            if link is None:
                return _ignored(invited, "not an incident this bot knows")
            ref = IncidentRef(incident_id=link.incident_id)
            status = (await self.service.resolve_ref(uow, ref)).status
            changed = await self._apply(uow, event, event_type, data, incident_data, ref, status)
            if changed is None:
                return _ignored(invited, event_type)
            assignees = [a.get("id") for a in incident_data.get("assignees") or [] if a.get("id")]
            if changed and assignees and event_type in ("incident.escalated", "incident.reassigned"):
                await uow.outbox.add(OutboxMessage(PD_RESPONDERS, link.incident_id, {"users": assignees}))
                if self.acks is not None:
                    await self.acks.invited(uow, link.incident_id, assignees)
            if occurred:
                await links.applied(link.incident_id, occurred)
            return EventResult(Verdict.APPLIED, {"applied": event_type})

        return await self.service.run(work)

    async def _apply(self, uow: UnitOfWork, event: dict[str, Any], event_type: str,
                     data: dict[str, Any], incident_data: dict[str, Any], ref: IncidentRef,
                     status: Status) -> bool | None:
        """Run the one use case the event type maps to: whether it changed something, or None
        when the event asks for nothing in the incident's current status."""
        actor = pd_actor(event)
        wanted = {"incident.acknowledged": status is Status.OPEN,
                  "incident.resolved": status.is_active,
                  "incident.reopened": status is Status.RESOLVED}
        if event_type in _REASONS:
            if not wanted[event_type]:
                return None
            target, reason = _REASONS[event_type]
            return (await self.service.change_status_in(uow, ref, target, actor, reason)).changed
        if event_type == "incident.priority_updated":
            severity = self.policy.pagerduty_severity.severity_for(
                (incident_data.get("priority") or {}).get("summary"), incident_data.get("urgency"))
            if status is Status.CLOSED:
                return False  # its severity is final; the event still counts as applied
            return (await self.service.change_severity_in(uow, ref, actor, severity)).changed
        occurred = parse_time(event.get("occurred_at"))
        source_ref = f"pagerduty:{event.get('id')}"
        if event_type == "incident.annotated":
            text = f"PagerDuty note: {data.get('content') or '(empty note)'}"
        elif event_type in ("incident.escalated", "incident.reassigned"):
            who = ", ".join(a.get("summary") or "?" for a in incident_data.get("assignees") or [])
            text = f"PagerDuty: {event_type.split('.')[1]} to {who or 'nobody'}"
        else:
            return None
        return (await self.service.add_note_in(uow, ref, actor, text, occurred_at=occurred,
                                               source_ref=source_ref, echo=True)).changed

    # -- here -> PagerDuty (reactions: inside the use case's transaction) ----------------------

    async def on_status_changed(self, uow: UnitOfWork, event: StatusChanged) -> None:
        """An acknowledgement or a resolve made here is mirrored to PagerDuty."""
        if event.actor.id == PAGERDUTY:
            return  # a change PagerDuty told us about is not echoed back to it
        if event.is_acknowledgement:  # a reopen is not an acknowledgement
            target = "acknowledged"
        elif event.status is Status.RESOLVED:
            target = "resolved"
        else:
            return
        incident = event.incident
        link = await cast(PagingUnitOfWork, uow).pagerduty_links.for_incident(incident.id)
        if link is None:
            return
        if link.page_dedup_key:  # our page (and the PagerDuty incident it opened, if known)
            await uow.outbox.add(OutboxMessage(PD_EVENT, incident.id, {
                "action": "acknowledge" if target == "acknowledged" else "resolve",
                "dedup_key": link.page_dedup_key, "routing_key": link.page_routing_key}))
        elif link.pd_incident_id:
            await uow.outbox.add(OutboxMessage(PD_STATUS, incident.id, {
                "pd_incident_id": link.pd_incident_id, "status": target}))

    async def on_declared(self, uow: UnitOfWork, event: IncidentDeclared) -> None:
        """A SEV-1 / SEV-2 declared here pages the owning team's on-call (Events API v2)."""
        incident = event.incident
        if incident.trigger_source is TriggerSource.PAGERDUTY or incident.severity not in PAGED_SEVERITIES:
            return
        model = await uow.models.get(incident.model_id)
        keys = self.config.routing_keys
        routing_key = keys.get(model.team if model else "") or keys.get("default")
        if not routing_key:
            return
        dedup_key = f"incident-bot/{incident.id}"
        await cast(PagingUnitOfWork, uow).pagerduty_links.add(PagerDutyLink(
            incident_id=incident.id, page_dedup_key=dedup_key, page_routing_key=routing_key))
        await uow.outbox.add(OutboxMessage(PD_EVENT, incident.id, {
            "action": "trigger", "dedup_key": dedup_key, "routing_key": routing_key,
            "payload": {
                "summary": f"{incident.key} [{incident.severity.label}] {incident.title}"[:1024],
                "source": f"incident-bot/{event.model_name}",
                "severity": "critical" if incident.severity is Severity.P1 else "error",
                "custom_details": {"incident": incident.key, "model": event.model_name,
                                   "declared_by": event.actor.id},
            }}))


def _ignored(invited: bool, why: str) -> EventResult:
    """Nothing to change here; but an acknowledging responder invited is an applied event."""
    if invited:
        return EventResult(Verdict.APPLIED, {"applied": "responder invited"})
    return EventResult(Verdict.IGNORED, {"ignored": why})


class MissingField(ValueError):
    """The event lacks a field this use case needs (a 400: the sender's to fix)."""


class UnmappedService(LookupError):
    """No model for the paging service (a 422: ours to configure)."""
