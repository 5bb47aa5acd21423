"""Rollback under GOV-001's RACI ("Authorise rollback": Incident Commander accountable, ML
Platform SRE responsible): who may request, who may approve, and the request's life.

    requested --approve--> approved --(alias moved)--> done
        |                      \\--(registry refused)--> failed
        \\--reject--> rejected

A responsible or accountable role requests; the accountable role approves, and never the same
person, except break-glass: on a severity the policy names (SEV-1 by default, GOV-001 5.3
"single on-call SRE approval is permitted") the requester may approve alone, recorded as such.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.governance.roles import ROLE_LABELS, Role
from domain.model import DomainError, Severity
from domain.model_actions.registry import AliasMove, _version_key

ACCOUNTABLE = (Role.INCIDENT_COMMANDER,)
RESPONSIBLE = (Role.ML_PLATFORM_SRE,)


class RollbackStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def decided(self) -> bool:
        return self is not RollbackStatus.REQUESTED


@dataclass(frozen=True)
class RollbackPolicy:
    enforce_roles: bool = True
    break_glass: frozenset[Severity] = frozenset({Severity.P1})


@dataclass
class Rollback:
    incident_id: uuid.UUID
    model: str
    alias: str
    from_version: str | None
    to_version: str
    reason: str
    requested_by: str
    requested_by_name: str
    requested_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: RollbackStatus = RollbackStatus.REQUESTED
    decided_by: str | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    break_glass: bool = False
    outcome: str | None = None


class RollbackRefused(DomainError):
    """A rollback request or decision the RACI or the request's state does not allow."""


def _names(roles: Sequence[Role]) -> str:
    return " or ".join(ROLE_LABELS[r] for r in roles)


def check_request(roles: frozenset[Role], policy: RollbackPolicy) -> None:
    """Responsible or accountable roles may ask for a rollback."""
    if policy.enforce_roles and not roles & {*ACCOUNTABLE, *RESPONSIBLE}:
        raise RollbackRefused(f"Only {_names((*ACCOUNTABLE, *RESPONSIBLE))} may request a "
                              "rollback (GOV-001 \"Authorise rollback\"); you hold neither role.")


def check_approval(rollback: Rollback, approver: str, roles: frozenset[Role],
                   severity: Severity, policy: RollbackPolicy) -> bool:
    """Raise :class:`RollbackRefused` unless ``approver`` may approve now; True when this is a
    break-glass self-approval (to be audited as such)."""
    if rollback.status.decided:
        who = rollback.decided_by_name or rollback.decided_by or "someone"
        raise AlreadyDecided(f"This rollback was already {rollback.status.value} by {who}.")
    if approver == rollback.requested_by:
        if severity not in policy.break_glass:
            raise RollbackRefused(
                f"You requested this rollback, so someone else holding {_names(ACCOUNTABLE)} must "
                f"approve it; approving your own request is break-glass, allowed on "
                f"{', '.join(sorted(s.label for s in policy.break_glass)) or 'no severity'} only.")
        if policy.enforce_roles and not roles & {*ACCOUNTABLE, *RESPONSIBLE}:
            raise RollbackRefused(f"Only {_names((*ACCOUNTABLE, *RESPONSIBLE))} may roll back.")
        return True
    if policy.enforce_roles and not roles & set(ACCOUNTABLE):
        raise RollbackRefused(f"Only {_names(ACCOUNTABLE)} may approve a rollback (GOV-001: "
                              "accountable for \"Authorise rollback\"); you do not hold that role.")
    return False


class AlreadyDecided(RollbackRefused):
    """A second click on a decided request: nothing happens again."""


def default_target(history: Sequence[AliasMove], alias: str, current: str | None,
                   versions: Sequence[str]) -> str | None:
    """The version to return to: the one that held ``alias`` before its latest move to the
    current version, else the newest version older than the current one."""
    moves = sorted((m for m in history if m.alias == alias), key=lambda m: m.moved_at, reverse=True)
    for move in moves:
        if move.version == current and move.previous and move.previous != current:
            return move.previous
    older = [v for v in versions if current is None or _version_key(v) < _version_key(current)]
    return max(older, key=_version_key) if older else None
