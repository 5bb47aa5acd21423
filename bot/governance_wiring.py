"""Governance wiring (issue 6): RACI role checks, PII scrubbing of what is stored, /incident postmortem."""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from domain.governance.postmortem import IncidentFacts, TimelineEntry, postmortem_markdown
from domain.governance.roles import Activity, RoleGrants, decide
from domain.governance.scrubber import scrub
from domain.model import AuditEvent, DomainError, Severity
from domain.services import IncidentRef

log = structlog.get_logger("governance")
HIGH = {Severity.P1.value, Severity.P2.value}


class RoleRefused(DomainError):
    """Shown to the actor as an ephemeral :warning: by the command / button handlers."""


def _activity_for(action: str, details: dict[str, Any]) -> Activity | None:
    if action == "incident.created" and details.get("severity") in HIGH:
        return Activity.DECLARE_HIGH_SEVERITY
    if action == "incident.status_updated" and details.get("to") == "closed":
        return Activity.CLOSE_INCIDENT
    return None


def install(container: Any) -> None:
    grants = RoleGrants.parse(container.settings.governance_roles)
    enforce = bool(container.settings.governance_roles)
    pending: set[asyncio.Task[Any]] = set()
    container.features["governance"] = {"grants": grants, "pending": pending}

    async def audit_refusal(actor: str, activity: Activity, resource_id: str, needed: list[str]) -> None:
        """Access-control decisions are audited (7.1); written after the refused transaction rolls back."""
        async with container.uow_factory() as uow:
            await uow.audit.add(AuditEvent(
                occurred_at=container.clock.now(), actor=actor, actor_name=actor,
                action="access.denied", resource_type="incident", resource_id=resource_id,
                details={"activity": activity.value, "roles_needed": needed}))
            await uow.commit()

    async def check_roles(uow: Any, incident: Any, action: str, details: dict[str, Any]) -> None:
        activity = _activity_for(action, details)
        actor = str(details.get("actor", ""))
        if not enforce or activity is None or actor[:1] not in ("U", "W"):
            return  # only Slack users are subject to RACI; automation declares through its own path
        decision = decide(activity, grants.roles_of(actor))
        if decision.allowed:
            return
        task = asyncio.create_task(audit_refusal(actor, activity, str(incident.id),
                                                 [r.value for r in decision.needed]))
        pending.add(task)
        task.add_done_callback(pending.discard)
        raise RoleRefused(decision.refusal_text())

    container.service.observers.append(check_roles)
    _install_scrubbing(container.service)

    # Callbacks ``(view, body)`` run once a draft is in the incident's channel (issue 6's clock)
    posted: list[Callable[[Any, dict[str, Any]], Awaitable[None]]] = []
    container.features["postmortem_posted"] = posted

    async def postmortem_command(ctx: Any, parsed: Any, body: dict[str, Any], respond: Any) -> None:
        view = await container.service.view(
            IncidentRef(number=parsed.number, channel_id=body.get("channel_id")), with_timeline=True)
        inc = view.incident
        model = view.model.name if view.model else None
        facts = IncidentFacts(inc.number, inc.title, inc.severity.label, model,
                              inc.description, inc.created_at, inc.acknowledged_at, inc.mitigated_at,
                              inc.resolved_at)
        markdown = postmortem_markdown(facts, [
            TimelineEntry(e.occurred_at, e.event_type.value, scrub(e.body) or "") for e in view.timeline])
        channel = view.link.channel_id if view.link else None
        if not channel:
            await ctx.reply(body, respond, ":warning: This incident has no channel yet; try again shortly.")
            return
        await container.slack_client.files_upload_v2(
            channel=channel, content=markdown.encode(), filename=f"postmortem-{inc.key}.md",
            title=f"Postmortem draft: {inc.key}")
        for record in posted:  # recorded before the reply: "posted" then `close` must work
            await record(view, body)
        await ctx.reply(body, respond,
                        f":page_facing_up: Postmortem draft for *{inc.key}* posted to the channel.")

    container.slack.extensions.setdefault("commands", {})["postmortem"] = postmortem_command


def _install_scrubbing(service: Any) -> None:
    """Scrub titles, descriptions and notes on their way in, whatever path they come by."""
    original_note = service.add_note
    original_declare = service.declare

    @functools.wraps(original_note)
    async def add_note(ref: Any, actor: Any, text: str, *args: Any, **kwargs: Any) -> Any:
        return await original_note(ref, actor, scrub(text) or "", *args, **kwargs)

    @functools.wraps(original_declare)
    async def declare(cmd: Any, actor: Any, *args: Any, **kwargs: Any) -> Any:
        cmd.title = scrub(cmd.title) or cmd.title
        if getattr(cmd, "description", None):
            cmd.description = scrub(cmd.description)
        return await original_declare(cmd, actor, *args, **kwargs)

    service.add_note = add_note
    service.declare = declare
