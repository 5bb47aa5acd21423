"""Governance (issues 6, 14, 15) composed: the RACI gate of the incident service, PII scrubbing
of what is stored, the keyed audit chain and its hourly checkpoint, and the audit log line of
every audit row.

The rules are in ``domain/governance/`` (``roles.py``: who may do what, and the gate the use
cases call). Here is the Slack side of the roles: who holds which role, from GOVERNANCE_ROLES
and the members of the Slack user groups it names.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog

from bot.audit_log import install_audit_log
from domain.governance.audit_chain import Checkpoint, configure_key
from domain.governance.roles import (
    Activity,
    Decision,
    RaciGate,
    Role,
    RoleGrants,
    RoleRefused,
    decide,
    is_person,
)
from domain.governance.scrubber import configure as configure_scrubber
from domain.ports import Clock, UnitOfWork
from storage.audit_trail import record_checkpoint

__all__ = ["RoleGate", "RoleRefused", "enforcing", "install", "mode_problem", "require_role"]

log = structlog.get_logger("governance")
GROUP_CACHE_SECONDS = 60.0  # how long a user group's members are trusted before asking Slack again
FAILURE_RETRY_SECONDS = 10.0  # after a failed lookup, how long before Slack is asked again


def enforcing(settings: Any) -> bool:
    """GOVERNANCE_MODE wins; unset, role checks are on exactly when GOVERNANCE_ROLES is set."""
    mode = getattr(settings, "governance_mode", None)
    if mode:
        return bool(mode == "enforce")
    return bool(settings.governance_roles)


def mode_problem(settings: Any) -> str | None:
    """Why role checks are not what a compliance officer expects, or None when they are."""
    mode = getattr(settings, "governance_mode", None)
    if not enforcing(settings):
        why = "GOVERNANCE_MODE=open" if mode == "open" else "GOVERNANCE_ROLES is not set"
        return (f"RACI role checks are OFF ({why}): anyone may declare SEV-1/2, close incidents, "
                "mark runbook steps done and accept IaC drift. Set GOVERNANCE_ROLES (JSON role -> "
                "Slack user / user-group ids) and GOVERNANCE_MODE=enforce.")
    if not settings.governance_roles:
        return ("GOVERNANCE_MODE=enforce but GOVERNANCE_ROLES is empty: every restricted action "
                "by a Slack user will be refused.")
    return None


class RoleGate:
    """Roles of Slack users (the domain's ``RoleLookup`` port): config grants, plus the user
    groups they belong to; and :meth:`require` for the buttons that check a role themselves.

    Group membership comes from ``usergroups.users.list`` and is cached for
    :data:`GROUP_CACHE_SECONDS`; when Slack cannot be asked, the last known members are used
    (or none: a refusal, never a grant, on doubt).
    """

    def __init__(self, *, settings: Any, slack_client: Any, uow_factory: Callable[[], UnitOfWork],
                 clock: Clock) -> None:
        self.grants = RoleGrants.parse(settings.governance_roles)
        self.enforce = enforcing(settings)
        self.slack_client = slack_client
        self.uow_factory = uow_factory
        self.clock = clock
        self.raci = RaciGate(self, self.enforce)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        # refusal audits still being written: none since refusals are audited before they are
        # raised; kept for callers that wait for it to empty
        self.pending: set[asyncio.Task[Any]] = set()

    async def members(self, group_id: str, remember_failure: bool = True) -> frozenset[str]:
        cached = self._groups.get(group_id)
        now = time.monotonic()
        if cached and now - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        try:
            response = await asyncio.wait_for(
                self.slack_client.usergroups_users_list(usergroup=group_id), 2.0)
            users = frozenset(str(u) for u in (response.get("users") or []))
        except Exception as exc:  # Slack down or the group gone: last known members, else none
            log.warning("governance.usergroup_lookup_failed", usergroup=group_id, error=str(exc)[:200])
            users = cached[1] if cached else frozenset()
            if remember_failure:  # asked again in a few seconds, not at every decision (2 s each)
                self._groups[group_id] = (now - GROUP_CACHE_SECONDS + FAILURE_RETRY_SECONDS, users)
            return users
        self._groups[group_id] = (now, users)
        return users

    async def roles_of(self, user_id: str) -> frozenset[Role]:
        groups = list(self.grants.groups)
        memberships = await asyncio.gather(*(self.members(g) for g in groups))
        return self.grants.roles_of(user_id, [g for g, m in zip(groups, memberships, strict=True)
                                              if user_id in m])

    async def warm(self, _container: Any = None) -> None:
        """Read the granted groups at start, so the first decisions need not ask Slack."""
        if self.enforce and self.grants.groups:
            await asyncio.gather(*(self.members(g, remember_failure=False) for g in self.grants.groups))

    async def decide(self, user_id: str, activity: Activity) -> Decision:
        return decide(activity, await self.roles_of(user_id))

    def applies_to(self, actor_id: str) -> bool:
        """Only Slack users are subject to RACI; automation acts through its own paths."""
        return self.enforce and is_person(actor_id)

    async def require(self, actor_id: str, activity: Activity, resource_type: str,
                      resource_id: str) -> None:
        """Raise :class:`RoleRefused`, audited, unless the actor may do ``activity``."""
        try:
            await self.raci.require(actor_id, activity, resource_type, resource_id)
        except RoleRefused as refused:
            async with self.uow_factory() as uow:  # access decisions are audited (GOV-001 7.1)
                await uow.audit.add(refused.audit_event(self.clock.now()))
                await uow.commit()
            refused.audited = True
            raise


async def require_role(container: Any, actor_id: str, activity: Activity, resource_type: str,
                       resource_id: str) -> None:
    """For other feature modules: the governance gate if installed, else nothing to check."""
    gate = (container.features.governance or {}).get("gate")
    if gate is not None:
        await gate.require(actor_id, activity, resource_type, resource_id)


def install(container: Any) -> None:
    install_audit_log(container.engine)
    gate = RoleGate(settings=container.settings, slack_client=container.slack_client,
                    uow_factory=container.uow_factory, clock=container.clock)
    container.features.governance = {"grants": gate.grants, "pending": gate.pending, "gate": gate}
    container.service.gates.roles = gate.raci  # asked by declare, change_status, change_severity
    container.on_start.append(gate.warm)
    problem = mode_problem(container.settings)
    if problem:
        log.warning("governance.role_checks_off" if not gate.enforce else "governance.no_grants",
                    detail=problem)
    # what is scrubbed (PII_CATEGORIES); every use case scrubs its own free text (issue 14)
    configure_scrubber(container.settings.pii_categories)
    _install_audit_anchor(container)


def _install_audit_anchor(container: Any) -> None:
    """Key the audit chain (AUDIT_HMAC_KEY) and checkpoint its head hourly (issue 14).

    Each checkpoint is a row in audit_checkpoints and a ``log_type: audit_checkpoint`` line,
    so a trail cut at its end no longer verifies against the last one.
    """
    configure_key(container.settings.audit_hmac_key)

    async def checkpoint() -> None:
        try:
            cp = await record_checkpoint(container.engine, container.clock.now(), Checkpoint.sign)
        except Exception:  # the next hour tries again; never kill the scheduler
            log.exception("audit.checkpoint_failed")
            return
        log.info("audit.checkpoint", log_type="audit_checkpoint", row_count=cp.row_count,
                 head_hash=cp.head_hash, mac=cp.mac)

    if container.settings.tick_seconds > 0:
        container.scheduler.add_job(checkpoint, "interval", hours=1, id="audit-checkpoint",
                                    max_instances=1, coalesce=True, misfire_grace_time=None)

