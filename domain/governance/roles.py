"""Who may do what (GOV-001 section 2, RACI): pure role decisions, and the gate the use cases
ask before they change anything. No I/O: the roles a user holds come through :class:`RoleLookup`
(config grants plus Slack user groups, resolved in ``bot/``)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from domain.model import Actor, AuditEvent, DomainError, Severity, Status


class Role(StrEnum):
    INCIDENT_COMMANDER = "incident_commander"
    ML_PLATFORM_SRE = "ml_platform_sre"
    ML_ENGINEER = "ml_engineer"
    DATA_ENGINEER = "data_engineer"
    PLATFORM_GOVERNANCE = "platform_governance"


class Activity(StrEnum):
    DECLARE_HIGH_SEVERITY = "declare_sev1_sev2"
    AUTHORISE_ROLLBACK = "authorise_rollback"
    CLOSE_INCIDENT = "close_incident"
    EDIT_RUNBOOK = "edit_runbook"
    EXECUTE_RUNBOOK = "execute_runbook"
    BREAK_GLASS_CHANGE = "break_glass_change"


ROLE_LABELS = {
    Role.INCIDENT_COMMANDER: "Incident Commander",
    Role.ML_PLATFORM_SRE: "ML Platform SRE",
    Role.ML_ENGINEER: "ML Engineer",
    Role.DATA_ENGINEER: "Data Engineer",
    Role.PLATFORM_GOVERNANCE: "Platform Governance",
}

# Only the roles the RACI makes Responsible or Accountable may act. Closing is not a RACI row;
# it follows "Declare SEV-1 / SEV-2" (the commander is accountable for the incident's life).
RESPONSIBLE_OR_ACCOUNTABLE: Mapping[Activity, tuple[Role, ...]] = {
    Activity.DECLARE_HIGH_SEVERITY: (Role.INCIDENT_COMMANDER, Role.ML_PLATFORM_SRE),
    Activity.AUTHORISE_ROLLBACK: (Role.INCIDENT_COMMANDER, Role.ML_PLATFORM_SRE),
    Activity.CLOSE_INCIDENT: (Role.INCIDENT_COMMANDER, Role.ML_PLATFORM_SRE),
    Activity.EDIT_RUNBOOK: (Role.PLATFORM_GOVERNANCE,),
    # "Execute runbook": the SRE is the only R (the IC is only informed).
    Activity.EXECUTE_RUNBOOK: (Role.ML_PLATFORM_SRE,),
    # "Break-glass production change" (IaC drift Accept / Revert / Escalate): IC and Governance
    # accountable, SRE responsible.
    Activity.BREAK_GLASS_CHANGE: (Role.INCIDENT_COMMANDER, Role.ML_PLATFORM_SRE,
                                  Role.PLATFORM_GOVERNANCE),
}

# What the refusal says the user tried to do, where the activity's id does not read well.
ACTIVITY_LABELS: Mapping[Activity, str] = {
    Activity.EXECUTE_RUNBOOK: "mark runbook steps done",
    Activity.BREAK_GLASS_CHANGE: "accept, revert or escalate infrastructure drift (break-glass change)",
}


@dataclass(frozen=True)
class RoleGrants:
    """Roles granted in config to Slack users (U...) and Slack user groups (S...)."""

    users: Mapping[str, frozenset[Role]]
    groups: Mapping[str, frozenset[Role]]

    def roles_of(self, user_id: str, group_ids: Iterable[str] = ()) -> frozenset[Role]:
        roles = set(self.users.get(user_id, frozenset()))
        for group in group_ids:
            roles |= self.groups.get(group, frozenset())
        return frozenset(roles)

    @classmethod
    def parse(cls, spec: Mapping[str, Iterable[str]]) -> RoleGrants:
        """`{"incident_commander": ["U1", "S123"], ...}`: ids starting with S are user groups."""
        users: dict[str, set[Role]] = {}
        groups: dict[str, set[Role]] = {}
        for role_name, ids in spec.items():
            role = Role(role_name)
            for ident in ids:
                (groups if ident.startswith("S") else users).setdefault(ident, set()).add(role)
        return cls({k: frozenset(v) for k, v in users.items()}, {k: frozenset(v) for k, v in groups.items()})


@dataclass(frozen=True)
class Decision:
    allowed: bool
    activity: Activity
    needed: tuple[Role, ...]
    held: frozenset[Role]

    def refusal_text(self) -> str:
        names = " or ".join(ROLE_LABELS[r] for r in self.needed)
        what = ACTIVITY_LABELS.get(self.activity) or self.activity.value.replace("_", " ")
        return f"Only {names} may {what}; you do not hold that role."


def decide(activity: Activity, held: frozenset[Role]) -> Decision:
    """Allowed iff the user holds a role the RACI makes responsible or accountable."""
    needed = RESPONSIBLE_OR_ACCOUNTABLE[activity]
    return Decision(bool(held & set(needed)), activity, needed, held)


# -- which change asks for which decision ---------------------------------------------------------

HIGH_SEVERITIES = frozenset({Severity.P1, Severity.P2})


def declare_activity(severity: Severity) -> Activity | None:
    """Declaring a SEV-1/2 is restricted; any lower severity is anyone's to declare."""
    return Activity.DECLARE_HIGH_SEVERITY if severity in HIGH_SEVERITIES else None


def severity_change_activity(before: Severity, after: Severity) -> Activity | None:
    """SEV-3/4 -> SEV-1/2, or SEV-2 -> SEV-1: the same decision as declaring a SEV-1/2.
    Lowering is free."""
    if after in HIGH_SEVERITIES and after.rank < before.rank:
        return Activity.DECLARE_HIGH_SEVERITY
    return None


def status_change_activity(to: Status) -> Activity | None:
    """Of all status changes only closing is restricted (resolving is not a RACI row)."""
    return Activity.CLOSE_INCIDENT if to is Status.CLOSED else None


def is_person(actor_id: str) -> bool:
    """Slack users (``U...``, ``W...``) are subject to RACI; automation acts through its own paths."""
    return actor_id[:1] in ("U", "W")


# -- the gate ---------------------------------------------------------------------------------------

class RoleLookup(Protocol):
    """Port: the roles a user holds now. On doubt (Slack cannot be asked) fewer roles, never more."""

    async def roles_of(self, user_id: str) -> frozenset[Role]: ...


class RoleRefused(DomainError):
    """A RACI refusal: shown to the actor as is, and audited as ``access.denied`` (GOV-001 7.1)
    in a transaction of its own, since the refused one rolls back."""

    def __init__(self, decision: Decision, actor_id: str, resource_type: str, resource_id: str) -> None:
        super().__init__(decision.refusal_text())
        self.decision = decision
        self.actor_id = actor_id
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.audited = False  # set once the access.denied row is written, so it is written once

    def audit_event(self, at: datetime) -> AuditEvent:
        return AuditEvent(occurred_at=at, actor=self.actor_id, actor_name=self.actor_id,
                          action="access.denied", resource_type=self.resource_type,
                          resource_id=self.resource_id,
                          details={"activity": self.decision.activity.value,
                                   "roles_needed": [r.value for r in self.decision.needed]})


class _NoRoles:
    async def roles_of(self, user_id: str) -> frozenset[Role]:
        return frozenset()


class RaciGate:
    """The RACI gate: a use case calls :meth:`require` before it writes a restricted change.

    ``enforce=False`` (GOVERNANCE_MODE=open, or no GOVERNANCE_ROLES) lets everything through.
    Slack users' roles are looked up; an API caller's roles come with its :class:`Actor` (its
    token or key vouches for them), so both are refused alike (:class:`RoleRefused`, audited);
    automation (actors that are neither) is never gated.
    """

    def __init__(self, lookup: RoleLookup, enforce: bool) -> None:
        self.lookup = lookup
        self.enforce = enforce

    @classmethod
    def open(cls) -> RaciGate:
        """No role checks: the gate of a bot without governance."""
        return cls(_NoRoles(), enforce=False)

    def applies_to(self, actor: Actor | str) -> bool:
        if isinstance(actor, str):
            return self.enforce and is_person(actor)
        return self.enforce and (actor.roles is not None or is_person(actor.id))

    async def require(self, actor: Actor | str, activity: Activity | None, resource_type: str,
                      resource_id: str) -> None:
        """Raise :class:`RoleRefused` unless ``actor`` (an :class:`Actor`, or a Slack user's id)
        may do ``activity`` (None: unrestricted)."""
        if activity is None or not self.applies_to(actor):
            return
        actor_id = actor if isinstance(actor, str) else actor.id
        decision = decide(activity, await self.roles_of(actor))
        if not decision.allowed:
            raise RoleRefused(decision, actor_id, resource_type, resource_id)

    async def roles_of(self, actor: Actor | str) -> frozenset[Role]:
        """The roles the actor's credentials vouch for, else those the lookup finds."""
        vouched = None if isinstance(actor, str) else actor.roles
        if vouched is None:
            return await self.lookup.roles_of(actor if isinstance(actor, str) else actor.id)
        return frozenset(role for role in Role if role.value in vouched)
