"""Paging from the incident (issue 19, item 7): ``/incident page <team|@user> [message]``, and the
paged responders invited to the channel when they acknowledge.

A page is one transaction: the page row, the timeline note, the audit event, the thread message
and the PagerDuty call as an outbox row (delivered by bot/delivery/pagerduty.py, retried, never
doubled). A linked PagerDuty incident gets responders (``responder_requests`` to the team's
escalation policy or the user's PagerDuty account); an unlinked incident pages the team's routing
key through Events API v2 with a dedup key of the incident and team, so a retried delivery is one
page in PagerDuty. The invite on acknowledge is an explicit step of the PagerDuty webhook use case
(:meth:`Paging.on_update`, called by :class:`domain.paging.pagerduty.PagerDutyEvents`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from domain.commands import UserReader
from domain.model import Actor, AuditEvent, DomainError, Incident, Severity, TimelineEvent, TimelineEventType
from domain.paging.oncall import (
    PagerDutyDirectory,
    PagerDutyUnavailable,
    PagingConfig,
    People,
    policy_for_team,
    slug,
    unknown_team,
)
from domain.paging.pagerduty import PAGERDUTY, PD_EVENT, PD_RESPONDERS
from domain.paging.ports import PagingUnitOfWork
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import THREAD, IncidentRef, IncidentService
from domain.text_boundary import clean

PD_RESPONDER_REQUEST = "pagerduty_responder_request"  # outbox: POST /incidents/{id}/responder_requests
TEAM, USER = "team", "user"
RESPONDERS, EVENT = "responders", "event"
_EVENT_SEVERITY = {Severity.P1: "critical", Severity.P2: "error", Severity.P3: "warning",
                   Severity.P4: "info"}
JOINED = ("joined", "accepted")  # a responder request's reply that means "I am coming"
USAGE = ("Say whom to page: `/incident page <team|@user> [message]`, "
         "e.g. `/incident page ml-platform scores are all zero`.")


@dataclass(frozen=True)
class PageTarget:
    kind: str  # TEAM | USER
    name: str  # the team, or the chat user id
    policy_id: str | None = None  # a team's escalation policy (responders on a linked incident)
    routing_key: str | None = None  # a team's Events API v2 routing key (an unlinked incident)
    pd_user_id: str | None = None  # a user's PagerDuty account


@dataclass(frozen=True)
class Page:
    """One page sent from an incident: whom, how, and (for an event) which PagerDuty incident it
    opened once PagerDuty's webhook tells us."""

    incident_id: uuid.UUID
    number: int  # 1, 2, ... within the incident
    target_kind: str
    target: str
    method: str  # RESPONDERS | EVENT
    message: str
    actor: str
    created_at: datetime
    dedup_key: str | None = None
    routing_key: str | None = None
    pd_incident_id: str | None = None
    pd_target_id: str | None = None


class PageLog(Protocol):
    """Port: the pages and the acknowledging responders already invited, in the caller's unit of work."""

    async def for_incident(self, incident_id: uuid.UUID) -> list[Page]: ...
    async def add(self, page: Page) -> None: ...

    async def learned(self, dedup_key: str, pd_incident_id: str) -> uuid.UUID | None:
        """PagerDuty opened ``pd_incident_id`` for our event ``dedup_key``: remember it; our
        incident, or None when the key is not one of our pages."""

    async def incident_for(self, pd_incident_id: str, dedup_key: str | None) -> uuid.UUID | None:
        """Our incident whose page opened this PagerDuty incident (by id, else by dedup key)."""

    async def invite_once(self, incident_id: uuid.UUID, pd_user_id: str, at: datetime) -> bool:
        """Record that the user is invited; False when they were already."""


class PageTexts(Protocol):
    """Port: the words (bot/slack_ui/paging.py)."""

    def target(self, target: PageTarget) -> str: ...
    def no_account(self, user_id: str, teams: str) -> str: ...
    def paged(self, incident: Incident, actor: Actor, target: str, message: str) -> str: ...


@dataclass(frozen=True)
class PageOutcome:
    incident: Incident
    page: Page
    repeat: bool  # the same target was paged before in this incident


def parse_page(rest: str, user: UserReader) -> tuple[str, str, str]:
    """``ml-platform scores are zero`` -> (TEAM, "ml-platform", "scores are zero"); a first word
    ``user`` reads as a user id (a mention, in Slack) -> (USER, that id, the rest)."""
    head, _, message = (rest or "").strip().partition(" ")
    if not head:
        raise DomainError(USAGE)
    user_id = user(head)
    if user_id is not None:
        return USER, user_id, message.strip()
    if head.startswith("@"):
        raise DomainError("Pick the user from Slack's @ list so it becomes a link: "
                          "`/incident page @user [message]`.")
    return TEAM, head, message.strip()


def acknowledger(event_type: str, event: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The PagerDuty user who took the page: the agent of an acknowledgement, or the responder
    who replied that they are joining."""
    if event_type == "incident.acknowledged":
        agent = event.get("agent") or {}
        if str(agent.get("type", "")).startswith("user") and agent.get("id"):
            return str(agent["id"])
    if event_type == "incident.responder.replied" and data.get("state") in JOINED:
        user = data.get("user") or {}
        return str(user["id"]) if user.get("id") else None
    return None


class Paging:
    """The page use case and the invite-on-acknowledge step."""

    def __init__(self, service: IncidentService, config: PagingConfig, directory: PagerDutyDirectory,
                 people: People, pages: Callable[[UnitOfWork], PageLog], texts: PageTexts) -> None:
        self.service = service
        self.config = config
        self.directory = directory
        self.people = people
        self.pages = pages
        self.texts = texts

    # -- whom (reads, before the transaction) -------------------------------------------------

    async def target(self, rest: str, user: UserReader) -> tuple[PageTarget, str]:
        """The target named by the command (a person as ``user`` reads one), and the message;
        refused when it cannot be paged."""
        kind, name, message = parse_page(rest, user)
        if kind == USER:
            return await self._user(name), message
        return await self._team(name), message

    async def _team(self, name: str) -> PageTarget:
        wanted = slug(name)
        policies = {slug(t): (t, p) for t, p in self.config.teams.items()}
        keys = {slug(t): (t, k) for t, k in self.config.routing_keys.items() if t != "default"}
        team = (policies.get(wanted) or keys.get(wanted) or (name, None))[0]
        policy_id = policies.get(wanted, (None, None))[1] or await self._policy_named(name)
        routing_key = keys.get(wanted, (None, None))[1]
        if policy_id is None and routing_key is None:
            raise unknown_team(name, self.config.known_teams())
        return PageTarget(TEAM, team, policy_id=policy_id, routing_key=routing_key)

    async def _policy_named(self, name: str) -> str | None:
        """The escalation policy named as the team, when PagerDuty can be asked."""
        if not self.config.api_configured:
            return None
        try:
            policy = policy_for_team(name, await self.directory.escalation_policies())
        except PagerDutyUnavailable:
            return None  # the routing key, or the list of teams, is still the useful answer
        return policy.id if policy else None

    async def _user(self, user_id: str) -> PageTarget:
        if not self.config.api_configured:
            raise PagerDutyUnavailable("Paging a person needs PagerDuty's REST API: set "
                                       "PAGERDUTY_API_TOKEN, or page a team.")
        email = await self.people.email_of(user_id)
        pd_user = await self.directory.user_by_email(email) if email else None
        if pd_user is None:
            teams = ", ".join(f"`{t}`" for t in self.config.known_teams()) or "none configured"
            raise DomainError(self.texts.no_account(user_id, teams))
        return PageTarget(USER, user_id, pd_user_id=pd_user.id)

    # -- the page (one transaction) ---------------------------------------------------------------

    async def page(self, ref: IncidentRef, actor: Actor, target: PageTarget, message: str) -> PageOutcome:
        message = clean(message, "page").strip()

        async def work(uow: UnitOfWork) -> PageOutcome:
            incident = await self.service.resolve_ref(uow, ref)
            if not incident.status.is_active:
                raise DomainError(f"{incident.key} is {incident.status.value}; pages are for active "
                                  "incidents (`/incident reopen` first).")
            log = self.pages(uow)
            earlier = await log.for_incident(incident.id)
            link = await cast(PagingUnitOfWork, uow).pagerduty_links.for_incident(incident.id)
            now = self.service.clock.now()
            base = Page(incident.id, len(earlier) + 1, target.kind, target.name, RESPONDERS,
                        message, actor.id, now)
            if link is not None and link.pd_incident_id:
                page = await self._responders(uow, incident, actor, target, base, link.pd_incident_id)
            else:
                page = await self._event(uow, incident, actor, target, base)
            await log.add(page)
            await self._record(uow, incident, actor, target, page)
            repeat = any(p.target_kind == page.target_kind and p.target == page.target for p in earlier)
            return PageOutcome(incident, page, repeat)

        return await self.service.run(work)

    async def _responders(self, uow: UnitOfWork, incident: Incident, actor: Actor,
                          target: PageTarget, page: Page, pd_incident: str) -> Page:
        pd_target = target.pd_user_id if target.kind == USER else target.policy_id
        if not pd_target:
            raise DomainError(f"{incident.key} is linked to a PagerDuty incident, where responders "
                              f"are added by escalation policy, and none is known for team "
                              f"`{target.name}`: map it in PAGERDUTY_TEAMS.")
        kind = "user_reference" if target.kind == USER else "escalation_policy_reference"
        # unique per page: the delivery finds it on the PagerDuty incident when an answer was lost
        pd_message = f"{incident.key} page {page.number} from {actor.name}: " \
                     f"{page.message or incident.title}"
        await uow.outbox.add(OutboxMessage(PD_RESPONDER_REQUEST, incident.id, {
            "pd_incident_id": pd_incident, "message": pd_message[:1000],
            "targets": [{"id": pd_target, "type": kind}]}))
        return Page(**{**page.__dict__, "method": RESPONDERS, "pd_incident_id": pd_incident,
                       "pd_target_id": pd_target})

    async def _event(self, uow: UnitOfWork, incident: Incident, actor: Actor, target: PageTarget,
                     page: Page) -> Page:
        if target.kind == USER:
            teams = ", ".join(f"`{t}`" for t in self.config.known_teams()) or "none configured"
            raise DomainError(f"{incident.key} has no PagerDuty incident to add "
                              f"{self.texts.target(target)} to as a responder. Page a team "
                              f"instead: {teams}.")
        if not target.routing_key:
            raise DomainError(f"No Events API v2 routing key for team `{target.name}`: add it to "
                              "PAGERDUTY_ROUTING_KEYS to page it from an incident PagerDuty did not open.")
        dedup_key = f"incident-bot/{incident.id}/page/{slug(target.name)}"
        summary = f"{incident.key} [{incident.severity.label}] {incident.title}"
        if page.message:
            summary += f": {page.message}"
        await uow.outbox.add(OutboxMessage(PD_EVENT, incident.id, {
            "action": "trigger", "dedup_key": dedup_key, "routing_key": target.routing_key,
            "payload": {"summary": summary[:1024], "source": "incident-bot",
                        "severity": _EVENT_SEVERITY.get(incident.severity, "error"),
                        "custom_details": {"incident": incident.key, "paged_by": actor.name,
                                           "message": page.message}}}))
        return Page(**{**page.__dict__, "method": EVENT, "dedup_key": dedup_key,
                       "routing_key": target.routing_key})

    async def _record(self, uow: UnitOfWork, incident: Incident, actor: Actor, target: PageTarget,
                      page: Page) -> None:
        label = self.texts.target(target)
        await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.NOTE,
            body=f"Paged {label}" + (f": {page.message}" if page.message else ""),
            author=actor.id, author_name=actor.name, occurred_at=page.created_at,
            created_at=page.created_at))
        await uow.audit.add(AuditEvent(
            occurred_at=page.created_at, actor=actor.id, actor_name=actor.name,
            action="incident.paged", resource_type="incident", resource_id=str(incident.id),
            details={"number": incident.number, "page": page.number, "target_kind": target.kind,
                     "target": target.name, "method": page.method,
                     "pd_incident_id": page.pd_incident_id, "pd_target_id": page.pd_target_id,
                     "dedup_key": page.dedup_key}))
        await uow.outbox.add(OutboxMessage(THREAD, incident.id, {
            "text": self.texts.paged(incident, actor, label, page.message)}))

    # -- the PagerDuty webhook's steps ----------------------------------------------------------

    async def on_triggered(self, uow: UnitOfWork, data: dict[str, Any]) -> uuid.UUID | None:
        """PagerDuty opened an incident for one of our Events API pages (its ``incident_key`` is
        our dedup key): remember which, so its acknowledgement finds our incident; our incident,
        or None when the key is not ours (then the webhook declares as usual). In the webhook's
        unit of work."""
        key, pd_id = data.get("incident_key"), data.get("id")
        if not key or not pd_id:
            return None
        return await self.pages(uow).learned(str(key), str(pd_id))

    async def invited(self, uow: UnitOfWork, incident_id: uuid.UUID, pd_users: list[str]) -> None:
        """PagerDuty's assignees the webhook use case invited itself (on trigger, escalation):
        their acknowledgement then invites nobody again."""
        log = self.pages(uow)
        now = self.service.clock.now()
        for pd_user in pd_users:
            await log.invite_once(incident_id, pd_user, now)

    async def on_update(self, uow: UnitOfWork, linked: uuid.UUID | None, event: dict[str, Any],
                        event_type: str, data: dict[str, Any], incident_data: dict[str, Any]) -> bool:
        """An acknowledgement (or a responder joining) of an incident we linked or paged: invite
        that person to the channel (PagerDuty user -> e-mail -> chat user, by the outbox), once."""
        pd_user = acknowledger(event_type, event, data)
        if pd_user is None:
            return False
        log = self.pages(uow)
        incident_id = linked or await log.incident_for(
            str(incident_data.get("id") or ""), incident_data.get("incident_key"))
        if incident_id is None:
            return False
        now = self.service.clock.now()
        if not await log.invite_once(incident_id, pd_user, now):
            return False
        await uow.outbox.add(OutboxMessage(PD_RESPONDERS, incident_id, {"users": [pd_user]}))
        agent = (event.get("agent") or {}).get("summary") or pd_user
        await uow.audit.add(AuditEvent(
            occurred_at=now, actor=PAGERDUTY, actor_name=f"PagerDuty ({agent})",
            action="incident.responder_joined", resource_type="incident",
            resource_id=str(incident_id),
            details={"pd_user": pd_user, "event": event_type,
                     "pd_incident_id": incident_data.get("id")}))
        return True
