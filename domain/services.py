"""Use cases. Each runs in one unit of work: state change, timeline event, audit event and the
outbox rows for what must be said are committed together, or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from domain import text_boundary
from domain.events import (
    CommanderAssigned,
    IncidentDeclared,
    IncidentEvent,
    NoteAdded,
    SeverityChanged,
    StatusChanged,
)
from domain.governance.roles import (
    RaciGate,
    RoleRefused,
    declare_activity,
    severity_change_activity,
    status_change_activity,
)
from domain.messages import Messages, PlainMessages
from domain.model import (
    Actor,
    AuditEvent,
    DomainError,
    Incident,
    MLModel,
    ModelStage,
    Severity,
    Status,
    TimelineEvent,
    TimelineEventType,
    TriggerSource,
)
from domain.policy import Policy
from domain.ports import Clock, ConcurrentUpdate, OutboxMessage, SlackLink, UnitOfWork
from domain.reactions import Reactions
from domain.state_machine import AlreadyInState, IllegalTransition, target_for, transition

T = TypeVar("T")

# Outbox kinds: what the dispatcher in bot/ knows how to deliver.
ANNOUNCE = "announce"  # post the announcement in the incidents channel
CREATE_CHANNEL = "create_channel"  # create #inc-N-slug, topic, invite, pin summary
REFRESH = "refresh_announcement"  # chat.update the announcement from current state
THREAD = "post_thread"  # reply in the announcement's thread
CHANNEL = "post_channel"  # post in the incident channel
INVITE = "invite"  # invite users to the incident channel


class IncidentNotFound(DomainError):
    pass


class CloseGate(Protocol):
    """A rule that may refuse closing an incident: it raises :class:`DomainError` to refuse.
    Asked inside the closing transaction, before anything is written."""

    async def check_close(self, uow: UnitOfWork, incident: Incident) -> None: ...


@dataclass
class Gates:
    """The rules the use cases ask before they write, in this order: the RACI roles (declare or
    raise to SEV-1/2, close), then what must exist before closing (the postmortem). A refusal
    rolls the transaction back; a role refusal is then audited in a transaction of its own."""

    roles: RaciGate = field(default_factory=RaciGate.open)
    close: list[CloseGate] = field(default_factory=list)


class UnknownModel(DomainError):
    def __init__(self, name: str, known: list[str]) -> None:
        valid = ", ".join(f"`{n}`" for n in known) if known else (
            "none registered yet (add one with `incident-bot models add NAME --version V "
            "--stage production --team T`)")
        super().__init__(f"Unknown model `{name}`. Valid models: {valid}.")


@dataclass
class DeclareIncident:
    title: str
    severity: Severity
    model_name: str
    description: str | None = None
    labels: list[str] = field(default_factory=list)
    trigger_source: TriggerSource = TriggerSource.MANUAL
    invite: list[str] = field(default_factory=list)


@dataclass
class IncidentRef:
    """How a user points at an incident: its number, or the incident channel they are in."""

    number: int | None = None
    channel_id: str | None = None
    incident_id: uuid.UUID | None = None


@dataclass
class Outcome:
    incident: Incident
    message: str
    changed: bool = True


@dataclass
class IncidentView:
    incident: Incident
    model: MLModel | None
    link: SlackLink | None
    timeline: list[TimelineEvent] = field(default_factory=list)


class IncidentService:
    """The application's use cases, shared by Slack handlers, webhooks, scheduler and CLI."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock, policy: Policy,
                 after_commit: Callable[[Any], None] | None = None,
                 read_uow_factory: Callable[[], UnitOfWork] | None = None,
                 gates: Gates | None = None, reactions: Reactions | None = None,
                 messages: Messages | None = None) -> None:
        self.uow_factory = uow_factory
        # queries only read: on SQLite they need not queue behind the one writer
        self.read_uow_factory = read_uow_factory or uow_factory
        self.clock = clock
        self.policy = policy
        self.after_commit = after_commit
        self.gates = gates or Gates()  # asked before a change is written; may refuse it
        # run after a change is written, in its transaction; never refuse (domain/reactions.py)
        self.reactions = reactions or Reactions()
        # what a change says (the bot composes the Slack renderer, bot/slack_ui/messages.py)
        self.messages: Messages = messages or PlainMessages()

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]], attempts: int = 5) -> T:
        """Run ``work`` in a fresh unit of work, retrying when a concurrent writer won; a role
        refusal raised inside is audited once the refused transaction has rolled back."""
        try:
            return await self._run(work, attempts)
        except RoleRefused as refused:
            if not refused.audited:
                await self._audit_refusal(refused)
            raise

    async def _audit_refusal(self, refused: RoleRefused) -> None:
        """Access-control decisions are audited (GOV-001 7.1), in a transaction of their own."""
        async with self.uow_factory() as uow:
            await uow.audit.add(refused.audit_event(self.clock.now()))
            await uow.commit()
        refused.audited = True
        if self.after_commit is not None:
            self.after_commit(uow)

    async def _run(self, work: Callable[[UnitOfWork], Awaitable[T]], attempts: int) -> T:
        for attempt in range(attempts):
            async with self.uow_factory() as uow:
                try:
                    result = await work(uow)
                    await uow.commit()
                except ConcurrentUpdate:
                    if attempt == attempts - 1:
                        raise
                    continue
            if self.after_commit is not None:
                self.after_commit(uow)
            return result
        raise AssertionError("unreachable")

    # -- queries ---------------------------------------------------------------------------

    async def resolve_ref(self, uow: UnitOfWork, ref: IncidentRef) -> Incident:
        incident = None
        if ref.incident_id is not None:
            incident = await uow.incidents.get(ref.incident_id)
        elif ref.number is not None:
            incident = await uow.incidents.get_by_number(ref.number)
            if incident is None:
                raise IncidentNotFound(f"No incident INC-{ref.number}. "
                                       "`/incident list` shows the open ones.")
        elif ref.channel_id is not None:
            link = await uow.slack_links.by_channel(ref.channel_id)
            if link is not None:
                incident = await uow.incidents.get(link.incident_id)
        if incident is None:
            raise IncidentNotFound(
                "This is not an incident channel. Run the command in an incident channel or "
                "give the incident number, e.g. `/incident resolve 42 fixed by rollback`.")
        return incident

    async def view(self, ref: IncidentRef, with_timeline: bool = False) -> IncidentView:
        async with self.read_uow_factory() as uow:
            incident = await self.resolve_ref(uow, ref)
            model = await uow.models.get(incident.model_id)
            link = await uow.slack_links.get(incident.id)
            timeline = await uow.timeline.for_incident(incident.id) if with_timeline else []
            return IncidentView(incident, model, link, timeline)

    async def list_incidents(self, active_only: bool = True, limit: int = 50,
                             with_links: bool = False) -> list[IncidentView]:
        async with self.read_uow_factory() as uow:
            statuses = [s for s in Status if s.is_active] if active_only else None
            incidents = await uow.incidents.list(statuses, limit)
            models = {m.id: m for m in await uow.models.list()}
            links = (await uow.slack_links.for_incidents([i.id for i in incidents])
                     if with_links else {})
            return [IncidentView(i, models.get(i.model_id), links.get(i.id)) for i in incidents]

    async def list_models(self) -> list[MLModel]:
        async with self.read_uow_factory() as uow:
            return await uow.models.list()

    # -- models ----------------------------------------------------------------------------

    async def register_model(self, name: str, version: str, stage: ModelStage, team: str,
                             actor: Actor, labels: list[str] | None = None,
                             feature_store_ref: str | None = None,
                             model_card_url: str | None = None) -> tuple[MLModel, bool]:
        """Add a model, or update version / stage / team of an existing one. True if new."""

        async def work(uow: UnitOfWork) -> tuple[MLModel, bool]:
            now = self.clock.now()
            existing = await uow.models.get_by_name(name)
            if existing is None:
                model = MLModel(name=name, version=version, stage=stage, team=team,
                                registered_at=now, labels=list(labels or []),
                                feature_store_ref=feature_store_ref,
                                model_card_url=model_card_url,
                                promoted_at=now if stage is ModelStage.PRODUCTION else None)
                await uow.models.add(model)
                action, created = "model.registered", True
            else:
                model = existing
                if stage is ModelStage.PRODUCTION and model.stage is not ModelStage.PRODUCTION:
                    model.promoted_at = now
                model.version, model.stage, model.team = version, stage, team
                if labels is not None:
                    model.labels = list(labels)
                model.feature_store_ref = feature_store_ref or model.feature_store_ref
                model.model_card_url = model_card_url or model.model_card_url
                await uow.models.save(model)
                action, created = "model.updated", False
            await uow.audit.add(self._audit(actor, action, "model", str(model.id), {
                "name": name, "version": version, "stage": stage.value, "team": team,
                "labels": model.labels}))
            return model, created

        return await self.run(work)

    # -- incident lifecycle ----------------------------------------------------------------

    async def declare(self, cmd: DeclareIncident, actor: Actor) -> Incident:
        """Declare an incident. Refused (:class:`RoleRefused`, audited) when a SEV-1/2 is declared
        by a Slack user without the role: the role gate is asked before anything is written."""
        return await self.run(lambda uow: self.declare_in(uow, cmd, actor))

    async def declare_in(self, uow: UnitOfWork, cmd: DeclareIncident, actor: Actor) -> Incident:
        """:meth:`declare` in the caller's unit of work (a webhook use case that checks for a
        duplicate, declares and links the incident in one transaction)."""
        # the one boundary for text from outside (issue 14), whichever path declares
        title = text_boundary.clean(cmd.title, "title").strip()
        description = text_boundary.clean_optional(cmd.description, "description")
        model = await uow.models.get_by_name(cmd.model_name)
        if model is None:
            raise UnknownModel(cmd.model_name, [m.name for m in await uow.models.list()])
        now = self.clock.now()
        incident = Incident(
            number=await uow.incidents.next_number(),
            title=title,
            severity=cmd.severity,
            status=Status.OPEN,
            model_id=model.id,
            trigger_source=cmd.trigger_source,
            created_by=actor.id,
            created_at=now,
            updated_at=now,
            description=description,
            labels=_clean_labels(cmd.labels),
        )
        await self.gates.roles.require(actor, declare_activity(incident.severity),
                                       "incident", str(incident.id))
        await uow.incidents.add(incident)
        await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.STATUS_CHANGE,
            body=f"Declared {incident.severity.label} on `{model.name}` by {actor.name}: "
                 f"{incident.title}",
            author=actor.id, author_name=actor.name, occurred_at=now, created_at=now))
        await uow.slack_links.save(SlackLink(
            incident_id=incident.id,
            declarer_id=actor.id if actor.is_slack_user else None))
        invite = [u for u in ([actor.id] if actor.is_slack_user else []) + cmd.invite if u]
        await uow.outbox.add(OutboxMessage(ANNOUNCE, incident.id))
        await uow.outbox.add(OutboxMessage(CREATE_CHANNEL, incident.id,
                                           {"invite": sorted(set(invite))}))
        # reactions run last, so what features say follows the announcement and channel
        await self._record(uow, IncidentDeclared(incident, actor, model.name))
        return incident

    async def change_status(self, ref: IncidentRef, target: Status | str, actor: Actor,
                            reason: str | None = None) -> Outcome:
        """Move the incident to ``target``: a status, or a verb (``ack``, ``reopen``...) whose
        meaning depends on the status read in this same transaction (verbs are intents, so a
        stale Acknowledge cannot reopen what a concurrent Resolve closed).

        Before writing, the gates are asked (:meth:`_check_status_gates`): closing needs the role
        (RACI) and then every close gate (a required postmortem done); a refusal raises."""
        return await self.run(lambda uow: self.change_status_in(uow, ref, target, actor, reason))

    async def change_status_in(self, uow: UnitOfWork, ref: IncidentRef, target: Status | str,
                               actor: Actor, reason: str | None = None,
                               duplicate_of: Incident | None = None) -> Outcome:
        """:meth:`change_status` in the caller's unit of work (a use case writing more in the
        same transaction). ``duplicate_of``: the resolve marks a duplicate of that incident,
        which reactions learn from the event (no postmortem of its own, for one)."""
        reason = text_boundary.clean_optional(reason, "reason")  # stored and audited: scrubbed
        incident = await self.resolve_ref(uow, ref)
        now = self.clock.now()
        try:
            wanted = target if isinstance(target, Status) else target_for(incident, target)
            previous = transition(incident, wanted, now)
        except AlreadyInState as exc:
            return Outcome(incident, self.messages.already_in_state(exc), changed=False)
        except IllegalTransition as exc:  # said as the renderer says it
            raise IllegalTransition(incident, exc.target,
                                    self.messages.illegal_transition(exc)) from None
        await self._check_status_gates(uow, incident, wanted, actor)
        await uow.incidents.save(incident)
        text = self.messages.status_changed(incident, previous, actor, now, reason)
        await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.STATUS_CHANGE,
            body=f"{previous.value} → {wanted.value}" + (f": {reason}" if reason else ""),
            author=actor.id, author_name=actor.name, occurred_at=now, created_at=now))
        await self._record(uow, StatusChanged(incident, actor, previous, wanted, reason, duplicate_of))
        await self._announce_change(uow, incident, text)
        return Outcome(incident, text)

    async def add_note(self, ref: IncidentRef, actor: Actor, text: str,
                       occurred_at: datetime | None = None, source_ref: str | None = None,
                       echo: bool = False) -> Outcome:
        """Add a ``note``; a repeated ``source_ref`` (a retried Slack event) adds nothing."""
        return await self.run(lambda uow: self.add_note_in(uow, ref, actor, text, occurred_at,
                                                           source_ref, echo))

    async def add_note_in(self, uow: UnitOfWork, ref: IncidentRef, actor: Actor, text: str,
                          occurred_at: datetime | None = None, source_ref: str | None = None,
                          echo: bool = False) -> Outcome:
        """:meth:`add_note` in the caller's unit of work."""
        text = text_boundary.clean(text, "note")
        incident = await self.resolve_ref(uow, ref)
        now = self.clock.now()
        added = await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.NOTE, body=text,
            author=actor.id, author_name=actor.name, occurred_at=occurred_at or now,
            created_at=now, source_ref=source_ref))
        if not added:
            return Outcome(incident, "Already noted.", changed=False)
        await self._record(uow, NoteAdded(incident, actor, source_ref, len(text)))
        if echo:
            await uow.outbox.add(OutboxMessage(CHANNEL, incident.id, {
                "text": self.messages.note_echo(incident, actor, text)}))
        return Outcome(incident, f"Noted on {incident.key}.")

    async def assign(self, ref: IncidentRef, actor: Actor, commander_id: str) -> Outcome:
        async def work(uow: UnitOfWork) -> Outcome:
            incident = await self.resolve_ref(uow, ref)
            if incident.assigned_to == commander_id:
                return Outcome(incident, self.messages.already_commands(incident, commander_id),
                               changed=False)
            previous = incident.assigned_to
            incident.assigned_to = commander_id
            incident.updated_at = self.clock.now()
            await uow.incidents.save(incident)
            text = self.messages.assigned(incident, actor, commander_id)
            await uow.timeline.add(TimelineEvent(
                incident_id=incident.id, event_type=TimelineEventType.NOTE,
                body=self.messages.commander_note(commander_id), author=actor.id,
                author_name=actor.name, occurred_at=incident.updated_at,
                created_at=incident.updated_at))
            await self._record(uow, CommanderAssigned(incident, actor, previous, commander_id))
            await uow.outbox.add(OutboxMessage(INVITE, incident.id, {"users": [commander_id]}))
            await self._announce_change(uow, incident, text)
            return Outcome(incident, text)

        return await self.run(work)

    async def change_severity(self, ref: IncidentRef, actor: Actor, severity: Severity) -> Outcome:
        """Raising to SEV-1/2 asks the role gate, as declaring one does; lowering is free."""
        return await self.run(lambda uow: self.change_severity_in(uow, ref, actor, severity))

    async def change_severity_in(self, uow: UnitOfWork, ref: IncidentRef, actor: Actor,
                                 severity: Severity) -> Outcome:
        """:meth:`change_severity` in the caller's unit of work."""
        incident = await self.resolve_ref(uow, ref)
        if incident.severity is severity:
            return Outcome(incident, f"{incident.key} is already {severity.label}.",
                           changed=False)
        if incident.status is Status.CLOSED:
            raise DomainError(f"{incident.key} is closed; its severity is final.")
        previous = incident.severity
        await self.gates.roles.require(actor, severity_change_activity(previous, severity),
                                       "incident", str(incident.id))
        incident.severity = severity
        incident.updated_at = self.clock.now()
        await uow.incidents.save(incident)
        text = self.messages.severity_changed(incident, previous, actor)
        await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.NOTE,
            body=f"Severity {previous.label} → {severity.label}", author=actor.id,
            author_name=actor.name, occurred_at=incident.updated_at,
            created_at=incident.updated_at))
        await self._record(uow, SeverityChanged(incident, actor, previous, severity))
        await self._announce_change(uow, incident, text)
        return Outcome(incident, text)

    # -- helpers ---------------------------------------------------------------------------

    async def _check_status_gates(self, uow: UnitOfWork, incident: Incident, wanted: Status,
                                  actor: Actor) -> None:
        """Who may make this change (RACI), then, for a close, whether it may happen yet."""
        await self.gates.roles.require(actor, status_change_activity(wanted), "incident",
                                       str(incident.id))
        if wanted is Status.CLOSED:
            for gate in self.gates.close:
                await gate.check_close(uow, incident)

    async def _announce_change(self, uow: UnitOfWork, incident: Incident, text: str) -> None:
        await uow.outbox.add(OutboxMessage(REFRESH, incident.id))
        await uow.outbox.add(OutboxMessage(THREAD, incident.id, {"text": text}))
        await uow.outbox.add(OutboxMessage(CHANNEL, incident.id, {"text": text}))

    async def _record(self, uow: UnitOfWork, event: IncidentEvent) -> None:
        """Audit an incident change and run the reactions to it in the same transaction."""
        await uow.audit.add(self._audit(event.actor, event.action, "incident",
                                        str(event.incident.id), event.details()))
        await self.reactions.run(uow, event)

    def _audit(self, actor: Actor, action: str, resource_type: str, resource_id: str,
               details: dict[str, Any]) -> AuditEvent:
        return AuditEvent(occurred_at=self.clock.now(), actor=actor.id, actor_name=actor.name,
                          action=action, resource_type=resource_type, resource_id=resource_id,
                          details=details)


def _clean_labels(labels: list[str]) -> list[str]:
    seen: list[str] = []
    for label in labels:
        label = text_boundary.clean(label, "label").strip().lower()
        if label and label not in seen:
            seen.append(label[:64])
    return seen
