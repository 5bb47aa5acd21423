"""Governance wiring (issues 6, 15): RACI role checks, PII scrubbing of what is stored,
/incident postmortem, and the audit log lines of every audit row."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from bot.audit_log import install_audit_log
from bot.cli.audit import take_checkpoint
from domain.governance.audit_chain import configure_key
from domain.governance.postmortem import (
    ActionItemRow,
    IncidentFacts,
    TimelineEntry,
    postmortem_markdown,
)
from domain.governance.roles import Activity, Decision, Role, RoleGrants, decide
from domain.governance.scrubber import configure as configure_scrubber
from domain.governance.scrubber import scrub
from domain.model import AuditEvent, DomainError, Severity
from domain.services import IncidentRef

log = structlog.get_logger("governance")
HIGH = {Severity.P1.value, Severity.P2.value}
GROUP_CACHE_SECONDS = 60.0  # how long a user group's members are trusted before asking Slack again
FAILURE_RETRY_SECONDS = 10.0  # after a failed lookup, how long before Slack is asked again


class RoleRefused(DomainError):
    """Shown to the actor as an ephemeral :warning: by the command / button handlers."""


def _raises_to_high(details: dict[str, Any]) -> bool:
    """SEV-3/4 -> SEV-1/2, or SEV-2 -> SEV-1: the same decision as declaring a SEV-1/2."""
    try:
        before, after = Severity(str(details.get("from"))), Severity(str(details.get("to")))
    except ValueError:
        return False
    return after.value in HIGH and after.rank < before.rank


def _activity_for(action: str, details: dict[str, Any]) -> Activity | None:
    if action == "incident.created" and details.get("severity") in HIGH:
        return Activity.DECLARE_HIGH_SEVERITY
    if action == "incident.severity_changed" and _raises_to_high(details):
        return Activity.DECLARE_HIGH_SEVERITY
    if action == "incident.status_updated" and details.get("to") == "closed":
        return Activity.CLOSE_INCIDENT
    return None


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
    """Role decisions for Slack users: config grants, plus the user groups they belong to.

    Group membership comes from ``usergroups.users.list`` and is cached for
    :data:`GROUP_CACHE_SECONDS`; when Slack cannot be asked, the last known members are used
    (or none: a refusal, never a grant, on doubt).
    """

    def __init__(self, container: Any) -> None:
        self.container = container
        self.grants = RoleGrants.parse(container.settings.governance_roles)
        self.enforce = enforcing(container.settings)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self.pending: set[asyncio.Task[Any]] = set()

    async def members(self, group_id: str, remember_failure: bool = True) -> frozenset[str]:
        cached = self._groups.get(group_id)
        now = time.monotonic()
        if cached and now - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        try:
            response = await asyncio.wait_for(
                self.container.slack_client.usergroups_users_list(usergroup=group_id), 2.0)
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
        return self.enforce and actor_id[:1] in ("U", "W")

    async def audit_refusal(self, actor: str, activity: Activity, resource_type: str,
                            resource_id: str, needed: list[str]) -> None:
        """Access-control decisions are audited (7.1), in a transaction of their own."""
        async with self.container.uow_factory() as uow:
            await uow.audit.add(AuditEvent(
                occurred_at=self.container.clock.now(), actor=actor, actor_name=actor,
                action="access.denied", resource_type=resource_type, resource_id=resource_id,
                details={"activity": activity.value, "roles_needed": needed}))
            await uow.commit()

    async def require(self, actor_id: str, activity: Activity, resource_type: str,
                      resource_id: str) -> None:
        """Raise :class:`RoleRefused` (and audit it) unless the actor may do ``activity``."""
        if not self.applies_to(actor_id):
            return
        decision = await self.decide(actor_id, activity)
        if decision.allowed:
            return
        await self.audit_refusal(actor_id, activity, resource_type, resource_id,
                                 [r.value for r in decision.needed])
        raise RoleRefused(decision.refusal_text())


async def require_role(container: Any, actor_id: str, activity: Activity, resource_type: str,
                       resource_id: str) -> None:
    """For other feature modules: the governance gate if installed, else nothing to check."""
    gate = (container.features.governance or {}).get("gate")
    if gate is not None:
        await gate.require(actor_id, activity, resource_type, resource_id)


def install(container: Any) -> None:
    install_audit_log(container.engine)
    gate = RoleGate(container)
    pending = gate.pending
    container.features.governance = {"grants": gate.grants, "pending": pending, "gate": gate}
    container.on_start.append(gate.warm)
    problem = mode_problem(container.settings)
    if problem:
        log.warning("governance.role_checks_off" if not gate.enforce else "governance.no_grants",
                    detail=problem)

    async def check_roles(uow: Any, incident: Any, action: str, details: dict[str, Any]) -> None:
        activity = _activity_for(action, details)
        actor = str(details.get("actor", ""))
        if activity is None or not gate.applies_to(actor):
            return
        decision = await gate.decide(actor, activity)
        if decision.allowed:
            return
        # written after the refused transaction rolls back
        task = asyncio.create_task(gate.audit_refusal(actor, activity, "incident", str(incident.id),
                                                      [r.value for r in decision.needed]))
        pending.add(task)
        task.add_done_callback(pending.discard)
        raise RoleRefused(decision.refusal_text())

    container.service.observers.append(check_roles)
    # what is scrubbed (PII_CATEGORIES); every use case scrubs its own free text (issue 14)
    configure_scrubber(container.settings.pii_categories)
    _install_audit_anchor(container)

    # Callbacks ``(view, body)`` run once a draft is in the incident's channel (issue 6's clock)
    posted: list[Callable[[Any, dict[str, Any]], Awaitable[None]]] = []
    container.features.postmortem_posted = posted

    async def postmortem_command(ctx: Any, parsed: Any, body: dict[str, Any], respond: Any) -> None:
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        sub, _, text = (parsed.rest or "").strip().partition(" ")
        if sub.lower() == "factors":
            await record_factors(ctx, ref, body, respond, text.strip())
            return
        view = await container.service.view(ref, with_timeline=True)
        inc = view.incident
        model = view.model.name if view.model else None
        facts = IncidentFacts(inc.number, inc.title, inc.severity.label, model,
                              inc.description, inc.created_at, inc.acknowledged_at, inc.mitigated_at,
                              inc.resolved_at)
        items, factors = await postmortem_contents(inc.id)
        markdown = postmortem_markdown(facts, [
            TimelineEntry(e.occurred_at, e.event_type.value, scrub(e.body) or "") for e in view.timeline],
            items, factors)
        channel = view.link.channel_id if view.link else None
        if not channel:
            await ctx.reply(body, respond, ":warning: This incident has no channel yet; try again shortly.")
            return
        await container.slack_client.files_upload_v2(
            channel=channel, content=markdown.encode(), filename=f"postmortem-{inc.key}.md",
            title=f"Postmortem draft: {inc.key}")
        for record in posted:  # recorded before the reply: "posted" then `close` must work
            await record(view, body)
        missing = "" if factors else (
            " It has no contributing factors yet: record them with `/incident postmortem factors "
            "<what made this possible>`, then post the draft again.")
        await ctx.reply(body, respond,
                        f":page_facing_up: Postmortem draft for *{inc.key}* posted to the channel.{missing}")

    async def postmortem_contents(incident_id: Any) -> tuple[list[ActionItemRow], str | None]:
        """The action items recorded so far and the contributing factors, for the draft."""
        from storage.postmortems import postmortem_contents as stored

        return await stored(container.engine, incident_id)

    async def record_factors(ctx: Any, ref: IncidentRef, body: dict[str, Any], respond: Any,
                             text: str) -> None:
        """The analysis part of the postmortem: what a draft needs before it counts as done."""
        from domain.governance.postmortem import is_real_content
        from storage.postmortems import record_contributing_factors
        from storage.uow import sql_connection

        factors = scrub(text) or ""
        if not is_real_content(factors):
            raise DomainError("Say what made the incident possible: `/incident postmortem factors "
                              "<systems, processes, tooling that contributed>` (blameless).")
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))

        async def work(uow: Any) -> str:
            incident = await container.service.resolve_ref(uow, ref)
            now = container.clock.now()
            await record_contributing_factors(sql_connection(uow), incident.id, factors,
                                              actor.id, now)
            await uow.audit.add(AuditEvent(
                occurred_at=now, actor=actor.id, actor_name=actor.name,
                action="incident.postmortem_factors_recorded", resource_type="incident",
                resource_id=str(incident.id), details={"number": incident.number}))
            return str(incident.key)

        key = await container.service.run(work)
        await ctx.reply(body, respond, f":memo: Contributing factors of *{key}* recorded. Post the "
                                       "draft again (`/incident postmortem`) so the document carries them.")

    container.slack.verbs.add(
        "postmortem", postmortem_command,
        help="`/incident postmortem`: draft the postmortem from the timeline | "
             "`postmortem factors <text>`: record the contributing factors (needed to close)")


def _install_audit_anchor(container: Any) -> None:
    """Key the audit chain (AUDIT_HMAC_KEY) and checkpoint its head hourly (issue 14).

    Each checkpoint is a row in audit_checkpoints and a ``log_type: audit_checkpoint`` line,
    so a trail cut at its end no longer verifies against the last one.
    """
    configure_key(container.settings.audit_hmac_key)

    async def checkpoint() -> None:
        try:
            cp = await take_checkpoint(container.engine, container.clock.now())
        except Exception:  # the next hour tries again; never kill the scheduler
            log.exception("audit.checkpoint_failed")
            return
        log.info("audit.checkpoint", log_type="audit_checkpoint", row_count=cp.row_count,
                 head_hash=cp.head_hash, mac=cp.mac)

    if container.settings.tick_seconds > 0:
        container.scheduler.add_job(checkpoint, "interval", hours=1, id="audit-checkpoint",
                                    max_instances=1, coalesce=True, misfire_grace_time=None)

