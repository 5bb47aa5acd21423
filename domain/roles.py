"""Incident roles beyond the commander (issue 19, item 1): who holds which role, and taking one.

The role list is the policy's (``roles:`` in the policy file; GOV-001's commander, comms lead
and scribe by default). The Incident Commander stays the incident's ``assigned_to``: taking
the ``commander`` role is :meth:`IncidentService.assign`, so its audit and messages are one
path. Every other role lives behind :class:`RoleAssignments`, a repository on the unit of
work (``uow.roles``), which other features read (the catch-up message) through
:func:`role_holders`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from domain.commands import UserReader
from domain.model import Actor, AuditEvent, DomainError, Incident, Status, TimelineEvent, TimelineEventType
from domain.policy import COMMANDER_ROLE, Policy
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import CHANNEL, INVITE, REFRESH, THREAD, IncidentRef, IncidentService, Outcome

_USER_ID_RE = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True)
class RoleAssignment:
    """``user_id`` holds ``role`` on the incident since ``assigned_at`` (set by ``assigned_by``)."""

    incident_id: uuid.UUID
    role: str
    user_id: str
    assigned_at: datetime
    assigned_by: str


class RoleAssignments(Protocol):
    """Port: the roles other than the commander, on the unit of work as ``uow.roles``."""

    async def for_incident(self, incident_id: uuid.UUID) -> dict[str, RoleAssignment]:
        """Role name -> assignment (roles nobody holds are absent; never the commander)."""
        ...

    async def for_incidents(self, incident_ids: Sequence[uuid.UUID],
                            ) -> dict[uuid.UUID, dict[str, RoleAssignment]]:
        """The assignments of several incidents in one query (incidents without any are absent)."""
        ...

    async def assign(self, assignment: RoleAssignment) -> None:
        """Give the role to ``assignment.user_id`` (replacing its holder)."""
        ...

    async def clear(self, incident_id: uuid.UUID, role: str) -> None: ...


class RolesUnitOfWork(UnitOfWork, Protocol):
    roles: RoleAssignments


def role_holders(incident: Incident, assignments: Mapping[str, RoleAssignment]) -> dict[str, str]:
    """Role name -> user id of every held role, the commander (``assigned_to``) included.

    The one read for other features (the catch-up): ``role_holders(incident, await
    uow.roles.for_incident(incident.id))``; order the result with the policy's ``roles``.
    """
    held = {COMMANDER_ROLE: incident.assigned_to} if incident.assigned_to else {}
    held.update({role: a.user_id for role, a in assignments.items() if role != COMMANDER_ROLE})
    return held


@dataclass(frozen=True)
class RoleRequest:
    """``/incident role <role> @user|me|none`` parsed: ``user_id`` None clears the role."""

    role: str
    user_id: str | None


def roles_hint(policy: Policy) -> str:
    return ", ".join(f"`{name}` ({spec.label})" for name, spec in policy.roles.items())


def parse_role_request(text: str, actor_id: str, policy: Policy, user: UserReader) -> RoleRequest:
    """Read ``<role> @user`` / ``<role> me`` / ``<role> none`` (``@user``: a word ``user`` reads
    as a user id, in Slack a mention); refusals say what would be right."""
    words = text.split()
    usage = ("Say which role and who: `/incident role comms @user` (or `me`, or `none` to clear it). "
             f"Roles: {roles_hint(policy)}.")
    if not words:
        raise DomainError(usage)
    role = words[0].lower()
    if role not in policy.roles:
        raise DomainError(f"There is no role `{words[0][:30]}` in policy {policy.name}. "
                          f"Roles: {roles_hint(policy)}.")
    if len(words) != 2:
        raise DomainError(usage)
    who = words[1]
    if who.lower() == "me":
        return RoleRequest(role, actor_id)
    if who.lower() == "none":
        return RoleRequest(role, None)
    user_id = user(who)
    if user_id is None or not _USER_ID_RE.match(user_id):
        raise DomainError(f"`{who[:40]}` is not a Slack user: mention them (pick them from Slack's "
                          f"@ list so it becomes a link), or write `me` or `none`. {usage}")
    return RoleRequest(role, user_id)


class RoleTexts(Protocol):
    """Port: the words said when a role changes hands (``bot/slack_ui/roles.py``): to the thread
    and channel (``taken``, ``cleared``), on the timeline (``*_note``), and to whoever asked for
    the holder the role already has (``unchanged``)."""

    def taken(self, incident: Incident, label: str, actor: Actor, user_id: str) -> str: ...
    def cleared(self, incident: Incident, label: str, actor: Actor, previous: str) -> str: ...
    def taken_note(self, label: str, user_id: str) -> str: ...
    def cleared_note(self, label: str, previous: str) -> str: ...
    def unchanged(self, incident: Incident, label: str, holder: str | None) -> str: ...


class IncidentRoles:
    """Taking, handing over and clearing incident roles; one transaction each, audited."""

    def __init__(self, service: IncidentService, texts: RoleTexts) -> None:
        self.service = service
        self.texts = texts

    @property
    def policy(self) -> Policy:
        return self.service.policy

    async def set(self, ref: IncidentRef, actor: Actor, request: RoleRequest) -> Outcome:
        """Give ``request.role`` to ``request.user_id`` (None: clear it)."""
        if request.role not in self.policy.roles:
            raise DomainError(f"There is no role `{request.role[:30]}` in policy {self.policy.name}. "
                              f"Roles: {roles_hint(self.policy)}.")
        if request.user_id is not None and not _USER_ID_RE.match(request.user_id):
            raise DomainError(f"`{request.user_id[:40]}` is not a Slack user id.")
        if request.role == COMMANDER_ROLE:
            if request.user_id is None:
                raise DomainError("An incident keeps its Incident Commander: hand the role over "
                                  "with `/incident role commander @user` instead of clearing it.")
            return await self.service.assign(ref, actor, request.user_id)  # gates and audit: one path

        async def work(uow: UnitOfWork) -> Outcome:
            return await self._set_in(cast(RolesUnitOfWork, uow), ref, actor, request)

        return await self.service.run(work)

    async def _set_in(self, uow: RolesUnitOfWork, ref: IncidentRef, actor: Actor,
                      request: RoleRequest) -> Outcome:
        incident = await self.service.resolve_ref(uow, ref)
        if incident.status is Status.CLOSED:
            raise DomainError(f"{incident.key} is closed; its roles are final.")
        label = self.policy.roles[request.role].label
        current = (await uow.roles.for_incident(incident.id)).get(request.role)
        previous = current.user_id if current else None
        if previous == request.user_id:
            return Outcome(incident, self.texts.unchanged(incident, label, previous), changed=False)
        now = self.service.clock.now()
        if request.user_id is None:
            await uow.roles.clear(incident.id, request.role)
            assert previous is not None
            text = self.texts.cleared(incident, label, actor, previous)
            body = self.texts.cleared_note(label, previous)
        else:
            await uow.roles.assign(RoleAssignment(incident.id, request.role, request.user_id, now,
                                                  actor.id))
            text = self.texts.taken(incident, label, actor, request.user_id)
            body = self.texts.taken_note(label, request.user_id)
            await uow.outbox.add(OutboxMessage(INVITE, incident.id, {"users": [request.user_id]}))
        await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.NOTE, body=body, author=actor.id,
            author_name=actor.name, occurred_at=now, created_at=now))
        await uow.audit.add(AuditEvent(
            occurred_at=now, actor=actor.id, actor_name=actor.name,
            action="incident.role_assigned" if request.user_id else "incident.role_cleared",
            resource_type="incident", resource_id=str(incident.id),
            details={"number": incident.number, "role": request.role, "from": previous,
                     "to": request.user_id}))
        for kind, payload in ((REFRESH, {}), (THREAD, {"text": text}), (CHANNEL, {"text": text})):
            await uow.outbox.add(OutboxMessage(kind, incident.id, payload))
        return Outcome(incident, text)

    async def holders(self, incidents: Sequence[Incident]) -> dict[uuid.UUID, dict[str, str]]:
        """Role name -> user id of the held roles of each incident, in the policy's order."""
        async with self.service.read_uow_factory() as uow:
            assigned = await cast(RolesUnitOfWork, uow).roles.for_incidents([i.id for i in incidents])
        out: dict[uuid.UUID, dict[str, str]] = {}
        for incident in incidents:
            held = role_holders(incident, assigned.get(incident.id, {}))
            out[incident.id] = {role: held[role] for role in self.policy.roles if role in held}
        return out
