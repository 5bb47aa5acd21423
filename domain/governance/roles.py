"""Who may do what (GOV-001 section 2, RACI): pure role decisions, no I/O."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


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
