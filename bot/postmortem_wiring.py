"""Postmortem clock and action items (GOV-001 section 8; issue 6).

When a severity whose policy says ``postmortem: required`` is resolved, the postmortem clock
opens (``postmortem_within``: 48 h for SEV-1, 7 days for SEV-2) and the commander is told in the
incident channel. ``close`` is refused until the postmortem draft has been posted
(``/incident postmortem``) with its contributing factors (``/incident postmortem factors ...``;
a draft of placeholders is not a postmortem) and at least one action item recorded, each with
owner, due date, severity and ticket.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from slack_bolt.async_app import AsyncRespond

from domain.action_items import USAGE, parse_action
from domain.commands import Parsed
from domain.messages import escape
from domain.model import AuditEvent, DomainError, Incident, Status
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import CHANNEL, IncidentRef
from handlers.slack_context import SlackContext
from storage.governance_gaps_tables import postmortem_analyses
from storage.postmortem_tables import action_items, postmortems
from storage.repositories import _insert
from storage.uow import sql_connection

if TYPE_CHECKING:
    from bot.app import Container


def install(container: Container) -> None:
    service = container.service
    policy = container.policy

    async def observe(uow: UnitOfWork, incident: Incident, action: str, details: dict[str, Any]) -> None:
        if action != "incident.status_updated":
            return
        conn = sql_connection(uow)
        rule = policy.rule(incident.severity)
        if details.get("to") == Status.RESOLVED.value and rule.postmortem == "required":
            due = incident.updated_at + rule.postmortem_within if rule.postmortem_within else None
            await conn.execute(
                _insert(conn, postmortems)
                .values(incident_id=incident.id, required=True, due_at=due)
                .on_conflict_do_update(index_elements=["incident_id"], set_={"required": True, "due_at": due})
            )
            who = f"<@{incident.assigned_to}>" if incident.assigned_to else "Incident Commander"
            await uow.outbox.add(
                OutboxMessage(
                    CHANNEL,
                    incident.id,
                    {
                        "text": (
                            f":page_facing_up: {who}: a postmortem is required for *{incident.key}* "
                            f"({incident.severity.label})"
                            + (f" by {due:%Y-%m-%d %H:%M} UTC" if due else "")
                            + ". Draft it with `/incident postmortem` and record action items with "
                            "`/incident action add ...`; the incident can be closed once both exist."
                        )
                    },
                )
            )
        elif details.get("to") == Status.CLOSED.value and rule.postmortem == "required":
            state = (
                (await conn.execute(sa.select(postmortems).where(postmortems.c.incident_id == incident.id)))
                .mappings()
                .first()
            )
            count = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(action_items)
                    .where(action_items.c.incident_id == incident.id)
                )
            ).scalar() or 0
            analysis = (await conn.execute(sa.select(postmortem_analyses).where(
                postmortem_analyses.c.incident_id == incident.id))).mappings().first()
            missing = []
            if analysis is None:
                # an uploaded draft of placeholders is not a postmortem (issue 15)
                missing.append("the contributing factors (`/incident postmortem factors ...`)")
            if state is None or state["draft_posted_at"] is None:
                missing.append("the postmortem draft (`/incident postmortem`)")
            elif analysis is not None and state["draft_posted_at"] < analysis["recorded_at"]:
                missing.append("a postmortem draft posted after the contributing factors "
                               "(`/incident postmortem` again)")
            if count == 0:
                missing.append("at least one action item (`/incident action add ...`)")
            if missing:
                raise DomainError(
                    f"{incident.key} cannot be closed yet: GOV-001 requires "
                    f"{' and '.join(missing)} for {incident.severity.label}."
                )

    service.observers.append(observe)

    async def remind_overdue() -> int:
        """Tell the commander once when a required postmortem's clock has run out while it is not
        done: no draft, or a draft without its contributing factors (issue 15)."""
        now = service.clock.now()
        async with container.uow_factory() as uow:
            conn = sql_connection(uow)
            overdue = (
                (
                    await conn.execute(
                        sa.select(postmortems)
                        .outerjoin(postmortem_analyses,
                                   postmortem_analyses.c.incident_id == postmortems.c.incident_id)
                        .where(
                            postmortems.c.required.is_(True),
                            postmortems.c.due_at <= now,
                            postmortems.c.draft_posted_at.is_(None)
                            | postmortem_analyses.c.incident_id.is_(None),
                            postmortems.c.reminded_at.is_(None),
                        )
                    )
                )
                .mappings()
                .all()
            )
            for row in overdue:
                incident = await uow.incidents.get(row["incident_id"])
                if incident is None:
                    continue
                who = f"<@{incident.assigned_to}>" if incident.assigned_to else "Incident Commander"
                await uow.outbox.add(
                    OutboxMessage(
                        CHANNEL,
                        incident.id,
                        {
                            "text": (
                                f":alarm_clock: {who}: the postmortem of *{incident.key}* was due "
                                f"{row['due_at']:%Y-%m-%d %H:%M} UTC and is not done yet: "
                                + ("it has no draft. Run `/incident postmortem`."
                                   if row["draft_posted_at"] is None else
                                   "its draft has no contributing factors. Record them with "
                                   "`/incident postmortem factors ...` and post the draft again.")
                            )
                        },
                    )
                )
                await conn.execute(
                    postmortems.update()
                    .where(postmortems.c.incident_id == incident.id)
                    .values(reminded_at=now)
                )
                await uow.audit.add(
                    AuditEvent(
                        occurred_at=now,
                        actor="incident-bot-scheduler",
                        actor_name="SLO clock",
                        action="incident.postmortem_overdue",
                        resource_type="incident",
                        resource_id=str(incident.id),
                        details={"number": incident.number},
                    )
                )
            await uow.commit()
        if overdue and service.after_commit is not None:
            service.after_commit(uow)
        return len(overdue)

    container.features.postmortem_reminders = remind_overdue
    container.scheduler.add_job(remind_overdue, "interval", minutes=5, id="postmortem-reminders",
                                max_instances=1, coalesce=True)

    commands = container.slack.verbs

    async def record_draft(view: Any, body: dict[str, Any]) -> None:
        """The draft is posted: the close gate and the reminders see it from now on."""
        now = service.clock.now()
        async with container.uow_factory() as uow:
            conn = sql_connection(uow)
            values = {"draft_posted_at": now, "draft_posted_by": body.get("user_id", "")}
            await conn.execute(
                _insert(conn, postmortems)
                .values(
                    incident_id=view.incident.id,
                    required=policy.rule(view.incident.severity).postmortem == "required",
                    **values,
                )
                .on_conflict_do_update(index_elements=["incident_id"], set_=values)
            )
            await uow.audit.add(
                AuditEvent(
                    occurred_at=now,
                    actor=body.get("user_id", ""),
                    actor_name=body.get("user_name") or body.get("user_id", ""),
                    action="incident.postmortem_drafted",
                    resource_type="incident",
                    resource_id=str(view.incident.id),
                    details={"number": view.incident.number},
                )
            )
            await uow.commit()

    if container.features.postmortem_posted is not None:
        container.features.postmortem_posted.append(record_draft)
    else:
        async def postmortem_command(
            ctx: SlackContext, parsed: Parsed, body: dict[str, Any], respond: AsyncRespond
        ) -> None:
            raise DomainError("Postmortem drafts are not enabled on this bot.")

        commands.add("postmortem", postmortem_command)

    async def action_command(
        ctx: SlackContext, parsed: Parsed, body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        sub, _, rest = parsed.rest.strip().partition(" ")
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
        if sub == "add":
            item = parse_action(rest, service.clock.now().date())

            async def add(uow: UnitOfWork) -> str:
                incident = await service.resolve_ref(uow, ref)
                conn = sql_connection(uow)
                number = 1 + (
                    (
                        await conn.execute(
                            sa.select(sa.func.max(action_items.c.number)).where(
                                action_items.c.incident_id == incident.id
                            )
                        )
                    ).scalar()
                    or 0
                )
                now = service.clock.now()
                await conn.execute(
                    action_items.insert().values(
                        id=uuid.uuid4(),
                        incident_id=incident.id,
                        number=number,
                        text=item.text,
                        owner=item.owner,
                        due_date=item.due,
                        severity=item.severity.value,
                        ticket=item.ticket,
                        status="open",
                        created_by=actor.id,
                        created_at=now,
                    )
                )
                await uow.audit.add(
                    AuditEvent(
                        occurred_at=now,
                        actor=actor.id,
                        actor_name=actor.name,
                        action="incident.action_item_added",
                        resource_type="incident",
                        resource_id=str(incident.id),
                        details={
                            "number": incident.number,
                            "item": number,
                            "owner": item.owner,
                            "due": item.due.isoformat(),
                            "severity": item.severity.value,
                            "ticket": item.ticket,
                        },
                    )
                )
                return (
                    f":white_check_mark: Action item {number} on {incident.key}: {escape(item.text)} · "
                    f"owner <@{item.owner}> · due {item.due} · {item.severity.label} · {escape(item.ticket)}"
                )

            await ctx.reply(body, respond, await service.run(add))
        elif sub in ("list", ""):
            view = await service.view(ref)
            async with container.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(action_items)
                        .where(action_items.c.incident_id == view.incident.id)
                        .order_by(action_items.c.number)
                    )
                ).mappings()
                lines = [
                    f"{'~' if r['status'] == 'done' else ''}{r['number']}. {escape(r['text'])} · "
                    f"<@{r['owner']}> · due {r['due_date']} · {r['severity'].upper()} · {escape(r['ticket'])}"
                    f"{'~' if r['status'] == 'done' else ''}"
                    for r in rows
                ]
            await ctx.reply(
                body,
                respond,
                f"*Action items of {view.incident.key}*\n" + "\n".join(lines)
                if lines
                else f"{view.incident.key} has no action items. Add one: {USAGE}",
            )
        elif sub == "done" and rest.strip().isdigit():
            number = int(rest.strip())

            async def done(uow: UnitOfWork) -> str:
                incident = await service.resolve_ref(uow, ref)
                conn = sql_connection(uow)
                changed = await conn.execute(
                    action_items.update()
                    .where(
                        (action_items.c.incident_id == incident.id)
                        & (action_items.c.number == number)
                        & (action_items.c.status == "open")
                    )
                    .values(status="done")
                )
                if changed.rowcount == 0:
                    return f":information_source: {incident.key} has no open action item {number}."
                await uow.audit.add(
                    AuditEvent(
                        occurred_at=service.clock.now(),
                        actor=actor.id,
                        actor_name=actor.name,
                        action="incident.action_item_done",
                        resource_type="incident",
                        resource_id=str(incident.id),
                        details={"number": incident.number, "item": number},
                    )
                )
                return f":white_check_mark: Action item {number} on {incident.key} is done."

            await ctx.reply(body, respond, await service.run(done))
        else:
            raise DomainError(f"Unknown action command `{sub}`. Use {USAGE}.")

    commands.add("action", action_command,
                 help="`/incident action add \"text\" owner:@user due:YYYY-MM-DD severity:p2 ticket:JIRA-1` "
                      "| `action list` | `action done <n>`: postmortem action items")
