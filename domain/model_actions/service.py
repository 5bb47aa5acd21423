"""Use cases of issue 18: sync the registry, say what changed, roll back under the RACI, accept
or snooze drift, retrain. Each runs in one unit of work through :class:`IncidentService.run`:
state, timeline, audit and outbox rows commit together, or not at all.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain import text_boundary
from domain.governance.roles import Role
from domain.model import (
    Actor,
    AuditEvent,
    DomainError,
    Incident,
    MLModel,
    ModelStage,
    TimelineEvent,
    TriggerSource,
)
from domain.model import TimelineEventType as TE
from domain.model_actions.changes import DEFAULT_WINDOW, Change, what_changed
from domain.model_actions.drift_controls import (
    MAX_ACCEPTANCE,
    MAX_SNOOZE,
    DriftAcceptance,
    DriftSnooze,
    bounded,
    require_reason,
)
from domain.model_actions.facts import (
    AssessmentFact,
    EarlierIncidentFact,
    IacDriftFact,
    PipelineRun,
    all_changes,
)
from domain.model_actions.registry import (
    CHAMPION,
    REVENUE_TAG,
    AliasMove,
    ModelRegistry,
    NewVersion,
    RegistryModel,
    RegistryVersion,
    StoredModel,
    changes_since,
)
from domain.model_actions.rollback import (
    Rollback,
    RollbackPolicy,
    RollbackRefused,
    RollbackStatus,
    check_approval,
    check_request,
    default_target,
)
from domain.model_actions.texts import ModelActionTexts, PlainModelActionTexts
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import IncidentRef, IncidentService

SYNC = Actor("registry-sync", "registry sync")
BOT = Actor("model-actions", "model actions")

# Outbox kinds delivered by bot/features/model_actions.py
WHAT_CHANGED = "model.what_changed"  # post "What changed?" (and the action buttons) in the thread
ROLLBACK_MESSAGE = "model.rollback_message"  # the request, with Approve / Reject, in the thread
ROLLBACK_DECIDED = "model.rollback_decided"  # the request's message loses its buttons, says who
MOVE_ALIAS = "model.move_alias"  # the registry call
DEPLOY_HOOK = "model.deploy_hook"  # POST ROLLBACK_WEBHOOK_URL
RETRAIN_HOOK = "model.retrain_hook"  # POST RETRAIN_WEBHOOK_URL
THREAD = "post_thread"  # domain.services.THREAD: a plain reply in the announcement's thread


class ModelActionsRepository(Protocol):
    async def lock_model(self, name: str) -> None: ...
    async def stored_model(self, name: str) -> StoredModel | None: ...
    async def record_snapshot(self, model: RegistryModel, source: str, moves: list[AliasMove],
                              new_versions: list[NewVersion], observed_at: datetime,
                              moved_by: str) -> None: ...
    async def record_alias_move(self, move: AliasMove, moved_by: str) -> None: ...
    async def aliases(self, name: str) -> dict[str, str]: ...
    async def versions(self, name: str) -> list[RegistryVersion]: ...
    async def alias_moves(self, name: str, since: datetime | None = None) -> list[AliasMove]: ...
    async def iac_drift(self, since: datetime, until: datetime) -> list[IacDriftFact]: ...
    async def earlier_incidents(self, model_id: uuid.UUID, before: datetime,
                                exclude: uuid.UUID) -> list[EarlierIncidentFact]: ...
    async def assessments(self, model_id: uuid.UUID, since: datetime,
                          until: datetime) -> list[AssessmentFact]: ...
    async def latest_assessment(self, model_id: uuid.UUID) -> AssessmentFact | None: ...
    async def add_rollback(self, rollback: Rollback) -> None: ...
    async def get_rollback(self, rollback_id: uuid.UUID) -> Rollback | None: ...
    async def open_rollback(self, incident_id: uuid.UUID) -> Rollback | None: ...
    async def save_rollback(self, rollback: Rollback, expected: RollbackStatus) -> bool: ...
    async def add_acceptance(self, acceptance: DriftAcceptance) -> None: ...
    async def active_acceptance(self, model: str, now: datetime) -> DriftAcceptance | None: ...
    async def add_snooze(self, snooze: DriftSnooze) -> None: ...
    async def active_snooze(self, model: str, now: datetime) -> DriftSnooze | None: ...
    async def active_controls(self, now: datetime) -> tuple[list[DriftAcceptance], list[DriftSnooze]]: ...
    async def add_run(self, run: PipelineRun) -> None: ...
    async def get_run(self, run_ref: str) -> PipelineRun | None: ...
    async def save_run(self, run: PipelineRun) -> None: ...


# Roles of a Slack user for the RACI checks; None when role checks are off (GOVERNANCE_MODE=open)
RolesOf = Callable[[str], Awaitable[frozenset[Role] | None]]


@dataclass
class ModelActionsConfig:
    registry_kind: str = "manual"
    deploy_hook: bool = False
    retrain_hook: bool = False
    break_glass: RollbackPolicy = field(default_factory=RollbackPolicy)


@dataclass
class RollbackForm:
    """What the Roll back modal shows: the alias, where it points, the default target, choices."""

    incident: Incident
    model: str
    alias: str
    current: str | None
    default: str | None
    versions: list[str]
    open_request: Rollback | None


class ModelActions:
    """The model actions; ``repo_for(uow)`` gives the repository on the use case's transaction,
    ``texts`` the words of what they say (Slack's: ``bot/slack_ui/model_actions.py``)."""

    def __init__(self, service: IncidentService, repo_for: Callable[[UnitOfWork], ModelActionsRepository],
                 registry: ModelRegistry, roles_of: RolesOf, config: ModelActionsConfig,
                 texts: ModelActionTexts | None = None) -> None:
        self.service = service
        self.texts: ModelActionTexts = texts or PlainModelActionTexts()
        self.repo_for = repo_for
        self.registry = registry
        self.roles_of = roles_of
        self.config = config

    @property
    def clock(self) -> Any:
        return self.service.clock

    # -- registry sync -----------------------------------------------------------------------

    async def sync(self) -> dict[str, int]:
        """Read every model from the registry and record what moved since the last sync; the
        ``models`` table follows (version = what ``champion`` serves, team and labels from tags)."""
        models = await self.registry.list_models()
        counts = {"models": 0, "moves": 0, "new_versions": 0}
        for model in models:
            moves, new = await self.service.run(functools.partial(self._sync_one, model=model))
            counts["models"] += 1
            counts["moves"] += moves
            counts["new_versions"] += new
        return counts

    async def _sync_one(self, uow: UnitOfWork, *, model: RegistryModel) -> tuple[int, int]:
        repo = self.repo_for(uow)
        await repo.lock_model(model.name)  # another replica's sync of it waits, then sees its result
        now = self.clock.now()
        stored = await repo.stored_model(model.name)
        moves, new_versions = changes_since(stored, model, now)
        moved_by = SYNC.id if stored is not None else f"{SYNC.id} (first sync)"
        await repo.record_snapshot(model, self.registry.kind, moves, new_versions, now, moved_by)
        if self.registry.kind != "manual":  # the manual registry *is* the models table
            await self._follow_models_table(uow, model, now)
        dated = [m for m in moves if stored is not None]
        if stored is not None and (dated or new_versions):  # first sight: nothing happened
            await uow.audit.add(AuditEvent(
                occurred_at=now, actor=SYNC.id, actor_name=SYNC.name, action="model.registry_synced",
                resource_type="model", resource_id=model.name, details={
                    "registry": self.registry.kind,
                    "alias_moves": [{"alias": m.alias, "from": m.previous, "to": m.version} for m in dated],
                    "new_versions": [v.version for v in new_versions]}))
        return len(dated), len(new_versions)

    async def _follow_models_table(self, uow: UnitOfWork, model: RegistryModel, now: datetime) -> None:
        serving = model.serving_version
        if serving is None:
            return
        existing = await uow.models.get_by_name(model.name)
        if existing is None:
            await uow.models.add(MLModel(name=model.name, version=serving, stage=ModelStage.PRODUCTION,
                                         team=model.team, registered_at=now, labels=model.labels,
                                         promoted_at=now))
            return
        # the registry's tag decides only the revenue-critical label; other labels stay
        labels = [x for x in existing.labels if x != REVENUE_TAG] + model.labels
        if (existing.version, existing.team, existing.labels) != (serving, model.team, labels):
            existing.version, existing.team, existing.labels = serving, model.team, labels
            await uow.models.save(existing)

    # -- what changed ------------------------------------------------------------------------

    async def what_changed(self, ref: IncidentRef,
                           window: timedelta = DEFAULT_WINDOW) -> tuple[Incident, str, list[Change]]:
        async def work(uow: UnitOfWork) -> tuple[Incident, str, list[Change]]:
            incident = await self.service.resolve_ref(uow, ref)
            model = await uow.models.get(incident.model_id)
            name = model.name if model else "?"
            repo = self.repo_for(uow)
            at = incident.created_at
            since, until = at - window, at + timedelta(minutes=1)
            versions = [v for v in await repo.versions(name) if since <= v.created_at <= until]
            items = all_changes(self.texts, name, await repo.alias_moves(name, since), versions,
                                await repo.iac_drift(since, until),
                                await repo.earlier_incidents(incident.model_id, at, incident.id),
                                await repo.assessments(incident.model_id, since, until))
            return incident, name, what_changed(items, at, window)

        return await self.service.run(work)

    # -- rollback ----------------------------------------------------------------------------

    async def rollback_form(self, ref: IncidentRef, alias: str = CHAMPION) -> RollbackForm:
        async def work(uow: UnitOfWork) -> RollbackForm:
            incident = await self.service.resolve_ref(uow, ref)
            model = await uow.models.get(incident.model_id)
            if model is None:
                raise DomainError("This incident has no model to roll back.")
            repo = self.repo_for(uow)
            current = (await repo.aliases(model.name)).get(alias)
            versions = [v.version for v in await repo.versions(model.name)]
            if not versions:
                raise DomainError(f"`{model.name}` has no versions in the {self.config.registry_kind} "
                                  "registry yet (`incident-bot models sync`).")
            default = default_target(await repo.alias_moves(model.name), alias, current, versions)
            return RollbackForm(incident, model.name, alias, current, default, versions,
                                await repo.open_rollback(incident.id))

        return await self.service.run(work)

    async def request_rollback(self, ref: IncidentRef, actor: Actor, to_version: str, reason: str,
                               alias: str = CHAMPION) -> Rollback:
        """A responsible or accountable role asks; the accountable one approves (Approve button)."""
        reason = require_reason(text_boundary.clean(reason, "reason"), "A rollback")
        roles = await self.roles_of(actor.id)
        try:
            check_request(roles or frozenset(), self._policy(roles))
        except RollbackRefused as refused:
            await self._audit_request_refusal(ref, actor, to_version, str(refused))
            raise

        async def work(uow: UnitOfWork) -> Rollback:
            incident = await self.service.resolve_ref(uow, ref)
            if not incident.status.is_active:
                raise DomainError(f"{incident.key} is {incident.status.value}; reopen it to roll back.")
            model = await uow.models.get(incident.model_id)
            assert model is not None
            repo = self.repo_for(uow)
            versions = [v.version for v in await repo.versions(model.name)]
            if to_version not in versions:
                raise DomainError(f"`{model.name}` has no version `{to_version}`. Known: "
                                  f"{', '.join(versions[-10:]) or 'none'}.")
            pending = await repo.open_rollback(incident.id)
            if pending is not None:
                raise DomainError(f"A rollback to v{pending.to_version} is already waiting for "
                                  f"approval (asked by {pending.requested_by_name}).")
            current = (await repo.aliases(model.name)).get(alias)
            now = self.clock.now()
            rollback = Rollback(incident.id, model.name, alias, current, to_version, reason,
                                actor.id, actor.name, now)
            await repo.add_rollback(rollback)
            await self._note(uow, incident, actor, self.texts.rollback_requested_note(actor, rollback), now)
            await uow.audit.add(self._audit(actor, "model.rollback_requested", rollback, {
                "incident": incident.number, "from": current, "to": to_version, "reason": reason}))
            await uow.outbox.add(OutboxMessage(ROLLBACK_MESSAGE, incident.id,
                                               {"rollback_id": str(rollback.id),
                                                "text": self.texts.rollback_requested_post(actor, rollback)}))
            return rollback

        return await self.service.run(work)

    async def decide_rollback(self, rollback_id: uuid.UUID, actor: Actor, approve: bool) -> Rollback:
        """Approve (alias moved through the outbox) or reject; a refusal is audited with both
        actors, a repeated click on a decided request changes nothing."""
        roles = await self.roles_of(actor.id)

        async def work(uow: UnitOfWork) -> Rollback:
            repo = self.repo_for(uow)
            rollback = await repo.get_rollback(rollback_id)
            if rollback is None:
                raise DomainError("That rollback request no longer exists.")
            incident = await self.service.resolve_ref(uow, IncidentRef(incident_id=rollback.incident_id))
            try:
                break_glass = check_approval(rollback, actor.id, roles or frozenset(),
                                             incident.severity, self._policy(roles))
            except DomainError as exc:
                refused.append((rollback, str(exc)))
                raise
            now = self.clock.now()
            rollback.status = RollbackStatus.APPROVED if approve else RollbackStatus.REJECTED
            rollback.decided_by, rollback.decided_by_name, rollback.decided_at = actor.id, actor.name, now
            rollback.break_glass = break_glass and approve
            if not await repo.save_rollback(rollback, RollbackStatus.REQUESTED):
                raise DomainError("This rollback was decided by someone else a moment ago.")
            await self._record_decision(uow, incident, rollback, actor, now)
            return rollback

        refused: list[tuple[Rollback, str]] = []
        try:
            return await self.service.run(work)
        except DomainError:
            for rollback, why in refused[-1:]:
                await self._audit_refusal(rollback, actor, approve, why)
            raise

    async def _record_decision(self, uow: UnitOfWork, incident: Incident, rollback: Rollback,
                               actor: Actor, now: datetime) -> None:
        approved = rollback.status is RollbackStatus.APPROVED
        verb = "approved" if approved else "rejected"
        await self._note(uow, incident, actor, self.texts.rollback_decided_note(actor, rollback), now)
        await uow.audit.add(self._audit(actor, f"model.rollback_{verb}", rollback, {
            "incident": incident.number, "requested_by": rollback.requested_by,
            "requested_by_name": rollback.requested_by_name, "decided_by": actor.id,
            "decided_by_name": actor.name, "break_glass": rollback.break_glass,
            "from": rollback.from_version, "to": rollback.to_version}))
        await uow.outbox.add(OutboxMessage(THREAD, incident.id,
                                           {"text": self.texts.rollback_decided_post(actor, rollback)}))
        await uow.outbox.add(OutboxMessage(ROLLBACK_DECIDED, incident.id, {"rollback_id": str(rollback.id)}))
        if approved:
            await uow.outbox.add(OutboxMessage(MOVE_ALIAS, incident.id, {"rollback_id": str(rollback.id)},
                                               dedup_key=f"rollback-move:{rollback.id}",
                                               lane=f"registry:{rollback.model}"[:160]))

    async def _audit_request_refusal(self, ref: IncidentRef, actor: Actor, to_version: str,
                                     why: str) -> None:
        """A refused request is an access-control decision, audited like a refused approval
        (GOV-001 7.1), on the incident since no rollback exists yet; an unknown incident is
        refused as such instead."""
        async def work(uow: UnitOfWork) -> None:
            incident = await self.service.resolve_ref(uow, ref)
            await uow.audit.add(AuditEvent(
                occurred_at=self.clock.now(), actor=actor.id, actor_name=actor.name,
                action="model.rollback_refused", resource_type="incident",
                resource_id=str(incident.id),
                details={"incident": incident.number, "refused_actor": actor.id,
                         "refused_actor_name": actor.name, "attempted": "request",
                         "to": to_version, "why": why}))

        await self.service.run(work)

    async def _audit_refusal(self, rollback: Rollback, actor: Actor, approve: bool, why: str) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.audit.add(self._audit(actor, "model.rollback_refused", rollback, {
                "requested_by": rollback.requested_by, "requested_by_name": rollback.requested_by_name,
                "refused_actor": actor.id, "refused_actor_name": actor.name,
                "attempted": "approve" if approve else "reject", "why": why}))

        await self.service.run(work)

    async def alias_moved(self, rollback_id: uuid.UUID, moved: bool, error: str | None) -> Rollback:
        """The registry answered (``moved`` False: the alias already pointed there, a no-op);
        record the result and call the deploy hook when one is configured."""
        async def work(uow: UnitOfWork) -> Rollback:
            repo = self.repo_for(uow)
            rollback = await repo.get_rollback(rollback_id)
            assert rollback is not None
            if rollback.status is not RollbackStatus.APPROVED:
                return rollback  # a redelivery after the result was recorded
            incident = await self.service.resolve_ref(uow, IncidentRef(incident_id=rollback.incident_id))
            now = self.clock.now()
            if error is None:
                rollback.status, rollback.outcome = RollbackStatus.DONE, (
                    "alias moved" if moved else "alias already there (no-op)")
                if moved:
                    by = f"rollback by {rollback.decided_by_name}"
                    await repo.record_alias_move(AliasMove(
                        rollback.model, rollback.alias, rollback.to_version, rollback.from_version,
                        now, by), by)
                model = await uow.models.get_by_name(rollback.model)
                if model is not None and rollback.alias == CHAMPION and model.version != rollback.to_version:
                    model.version = rollback.to_version
                    await uow.models.save(model)
                text = self.texts.rollback_done(rollback, moved, self.config.registry_kind)
            else:
                rollback.status, rollback.outcome = RollbackStatus.FAILED, error[:500]
                text = self.texts.rollback_failed(rollback, error)
            await repo.save_rollback(rollback, RollbackStatus.APPROVED)
            await self._note(uow, incident, BOT, text, now, event_type=TE.AUTOMATED_ALERT)
            await uow.audit.add(self._audit(BOT, "model.rollback_executed", rollback, {
                "incident": incident.number, "status": rollback.status.value, "outcome": rollback.outcome,
                "registry": self.config.registry_kind}))
            await uow.outbox.add(OutboxMessage(THREAD, incident.id, {"text": text}))
            if error is None and self.config.deploy_hook:
                await uow.outbox.add(OutboxMessage(DEPLOY_HOOK, incident.id,
                                                   {"rollback_id": str(rollback.id)},
                                                   dedup_key=f"rollback-hook:{rollback.id}",
                                                   lane=f"hook:{rollback.model}"[:160]))
            return rollback

        return await self.service.run(work)

    async def hook_result(self, incident_id: uuid.UUID, text: str, action: str,
                          details: dict[str, Any]) -> None:
        """A webhook's answer (deploy, retrain, pipeline callback) on the incident's timeline."""
        async def work(uow: UnitOfWork) -> None:
            incident = await self.service.resolve_ref(uow, IncidentRef(incident_id=incident_id))
            now = self.clock.now()
            await self._note(uow, incident, BOT, text, now, event_type=TE.AUTOMATED_ALERT)
            await uow.audit.add(AuditEvent(occurred_at=now, actor=BOT.id, actor_name=BOT.name,
                                           action=action, resource_type="incident",
                                           resource_id=str(incident.id), details=details))
            await uow.outbox.add(OutboxMessage(THREAD, incident.id, {"text": text}))

        await self.service.run(work)

    async def get_rollback(self, rollback_id: uuid.UUID) -> Rollback | None:
        return await self.service.run(lambda uow: self.repo_for(uow).get_rollback(rollback_id))

    # -- helpers -----------------------------------------------------------------------------

    def _policy(self, roles: frozenset[Role] | None) -> RollbackPolicy:
        base = self.config.break_glass
        return RollbackPolicy(enforce_roles=roles is not None, break_glass=base.break_glass)

    async def _note(self, uow: UnitOfWork, incident: Incident, actor: Actor, text: str,
                    now: datetime, event_type: TE = TE.NOTE) -> None:
        await uow.timeline.add(TimelineEvent(incident_id=incident.id, event_type=event_type, body=text,
                                             author=actor.id, author_name=actor.name,
                                             occurred_at=now, created_at=now))

    def _audit(self, actor: Actor, action: str, rollback: Rollback, details: dict[str, Any]) -> AuditEvent:
        return AuditEvent(occurred_at=self.clock.now(), actor=actor.id, actor_name=actor.name,
                          action=action, resource_type="rollback", resource_id=str(rollback.id),
                          details={"model": rollback.model, "alias": rollback.alias, **details})


def is_drift_incident(incident: Incident) -> bool:
    return incident.trigger_source is TriggerSource.AUTOMATED_DRIFT or "drift" in incident.labels


__all__ = ["MAX_ACCEPTANCE", "MAX_SNOOZE", "bounded"]
