"""Runbooks in Slack (issue 8): matched on declaration, posted as a checklist, followed step by step.

Each "Done" click is one transaction: the step row (its primary key makes a double click count
once), a ``runbook_step_completed`` timeline event, an audit event naming the Slack actor and
an outbox row that re-renders the checklist message in place and the announcement's progress.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from slack_bolt.async_app import AsyncAck, AsyncRespond

from bot.dispatcher import NO_CHANNEL, Permanent
from bot.governance_wiring import require_role
from domain.commands import Parsed
from domain.governance.roles import Activity
from domain.model import (
    Actor,
    AuditEvent,
    DomainError,
    Incident,
    Status,
    TimelineEvent,
    TimelineEventType,
)
from domain.ports import OutboxMessage, UnitOfWork
from domain.runbooks import Runbook, match, progress_text
from domain.services import REFRESH, IncidentRef, IncidentService
from handlers.slack_context import SlackContext
from runbooks import RUNBOOKS_DIR, load_all
from storage.outbox_store import OutboxRow
from storage.repositories import _insert
from storage.runbook_tables import incident_runbooks, runbook_steps_done
from storage.uow import sql_connection

if TYPE_CHECKING:
    from bot.app import Container


log = structlog.get_logger("runbooks")

CHECKLIST = "runbook_checklist"  # outbox kind: post or re-render the checklist message
STEP_DONE = "runbook_step_done"  # the "Done" button


class RunbookLibrary:
    """The loaded runbooks (malformed files skipped and logged) and what incidents follow."""

    def __init__(self, directory: Path, base_url: str | None = None) -> None:
        self.directory = directory
        self.base_url = (base_url or "").rstrip("/")
        self.runbooks, self.problems = load_all(directory)
        self.by_name = {r.name: r for r in self.runbooks}

    def url(self, runbook: Runbook) -> str:
        path = f"runbooks/{runbook.name}.md"
        return f"{self.base_url}/{runbook.name}.md" if self.base_url else path

    def choose(self, incident: Incident, model_name: str, model_labels: list[str]) -> Runbook | None:
        return match(self.runbooks, incident.severity, incident.trigger_source.value,
                     [*incident.labels, *model_labels], model_name,
                     f"{incident.title}\n{incident.description or ''}")

    async def attach(self, uow: UnitOfWork, incident: Incident, runbook: Runbook, actor: Actor,
                     now: datetime) -> None:
        """Make ``runbook`` the incident's runbook, inside the caller's transaction."""
        conn = sql_connection(uow)
        values = {"runbook": runbook.name, "version": runbook.version, "selected_at": now,
                  "selected_by": actor.id}
        await conn.execute(_insert(conn, incident_runbooks).values(
            incident_id=incident.id, **values).on_conflict_do_update(
            index_elements=[incident_runbooks.c.incident_id], set_=values))
        incident.runbook_url = self.url(runbook)
        incident.updated_at = now
        await uow.incidents.save(incident)
        await uow.outbox.add(OutboxMessage(CHECKLIST, incident.id))

    async def state(self, conn: Any, incident_id: uuid.UUID) -> tuple[Any, Runbook | None, dict[str, Any]]:
        row = (await conn.execute(sa.select(incident_runbooks).where(
            incident_runbooks.c.incident_id == incident_id))).mappings().first()
        if row is None:
            return None, None, {}
        runbook = self.by_name.get(row["runbook"])  # if the file changed since, its current text
        done = {r["step_id"]: r for r in (await conn.execute(sa.select(runbook_steps_done).where(
            (runbook_steps_done.c.incident_id == incident_id)
            & (runbook_steps_done.c.runbook == row["runbook"])
            & (runbook_steps_done.c.version == row["version"])))).mappings()}
        return row, runbook, done


def checklist_blocks(incident: Incident, runbook: Runbook, done: dict[str, Any], url: str
                     ) -> tuple[str, list[dict[str, Any]]]:
    text = f":clipboard: {incident.key} runbook: {runbook.title} ({len(done)}/{len(runbook.steps)} done)"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Runbook: {runbook.title}"[:150]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            f"v{runbook.version} · owner `{runbook.owner}` · `{url}` · "
            f"*{len(done)}/{len(runbook.steps)} steps done*"}]},
    ]
    for step in runbook.steps[:45]:
        finished = done.get(step.id)
        if finished:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text":
                f":white_check_mark: ~{step.id}. {step.text}~\n_done by <@{finished['done_by']}> at "
                f"{finished['done_at']:%H:%M} UTC_"[:3000]}})
        else:
            line = f":white_square: {step.id}. {step.text}"[:3000]
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line},
                           "accessory": {"type": "button", "action_id": STEP_DONE,
                                         "text": {"type": "plain_text", "text": "Done"},
                                         "value": json.dumps({"i": str(incident.id), "r": runbook.name,
                                                              "v": runbook.version, "s": step.id})}})
    return text, blocks


async def complete_step(service: IncidentService, library: RunbookLibrary, incident_id: uuid.UUID,
                        runbook_name: str, version: str, step_id: str, actor: Actor) -> str:
    """Mark one step done; a second click (or a concurrent one) changes nothing."""

    async def work(uow: UnitOfWork) -> str:
        incident = await service.resolve_ref(uow, IncidentRef(incident_id=incident_id))
        if incident.status is Status.CLOSED:  # the record is final: nothing is executed any more
            raise DomainError(f"{incident.key} is closed; its runbook can no longer be changed.")
        conn = sql_connection(uow)
        row, runbook, done = await library.state(conn, incident.id)
        if row is None or runbook is None or row["runbook"] != runbook_name or row["version"] != version:
            raise DomainError("That checklist is no longer the incident's runbook; "
                              "see `/incident runbook`.")
        step = next((s for s in runbook.steps if s.id == step_id), None)
        if step is None:
            raise DomainError(f"Runbook {runbook.title} has no step {step_id}.")
        if step_id in done:
            return f"Step {step_id} was already done by <@{done[step_id]['done_by']}>."
        now = service.clock.now()
        inserted = await conn.execute(_insert(conn, runbook_steps_done).values(
            incident_id=incident.id, runbook=runbook_name, version=version, step_id=step_id,
            done_by=actor.id, done_by_name=actor.name, done_at=now).on_conflict_do_nothing())
        if inserted.rowcount == 0:
            return f"Step {step_id} was already done."
        await uow.timeline.add(TimelineEvent(
            incident_id=incident.id, event_type=TimelineEventType.RUNBOOK_STEP_COMPLETED,
            body=f"{runbook.title} v{version} step {step_id}: {step.text}", author=actor.id,
            author_name=actor.name, occurred_at=now, created_at=now))
        await uow.audit.add(AuditEvent(
            occurred_at=now, actor=actor.id, actor_name=actor.name,
            action="incident.runbook_step_completed", resource_type="incident",
            resource_id=str(incident.id), details={"number": incident.number, "runbook": runbook_name,
                                                   "version": version, "step": step_id,
                                                   "done": len(done) + 1, "of": len(runbook.steps)}))
        await uow.outbox.add(OutboxMessage(CHECKLIST, incident.id))
        await uow.outbox.add(OutboxMessage(REFRESH, incident.id))
        return f"Step {step_id} done ({len(done) + 1}/{len(runbook.steps)})."

    return await service.run(work)


def install(container: Container) -> None:
    settings = container.settings
    library = RunbookLibrary(Path(getattr(settings, "runbooks_dir", None) or RUNBOOKS_DIR),
                             getattr(settings, "runbooks_base_url", None))
    container.features.runbooks = library
    service = container.service
    ctx: SlackContext = container.slack

    async def on_declared(uow: UnitOfWork, incident: Incident, action: str, details: dict[str, Any]) -> None:
        if action != "incident.created":
            return
        model = await uow.models.get(incident.model_id)
        runbook = library.choose(incident, model.name if model else "", model.labels if model else [])
        if runbook is not None:
            await library.attach(uow, incident, runbook, Actor("incident-bot", "runbook matcher"),
                                 service.clock.now())

    service.observers.append(on_declared)

    async def deliver_checklist(row: OutboxRow) -> None:
        assert row.incident_id is not None
        async with container.uow_factory() as uow:
            incident = await uow.incidents.get(row.incident_id)
            link = await uow.slack_links.get(row.incident_id)
            state, runbook, done = await library.state(sql_connection(uow), row.incident_id)
        if incident is None or state is None:
            raise Permanent("no runbook for this incident")
        if runbook is None:
            raise Permanent(f"runbook {state['runbook']} is no longer installed")
        if not (link and link.channel_id):
            raise Permanent(NO_CHANNEL)
        text, blocks = checklist_blocks(incident, runbook, done, library.url(runbook))
        client = container.slack_client
        if state["message_ts"]:
            await client.chat_update(channel=state["message_channel"], ts=state["message_ts"],
                                     text=text, blocks=blocks)
            return
        response = await client.chat_postMessage(channel=link.channel_id, text=text, blocks=blocks,
                                                 unfurl_links=False)
        async with container.uow_factory() as uow:
            await sql_connection(uow).execute(incident_runbooks.update().where(
                incident_runbooks.c.incident_id == row.incident_id).values(
                message_channel=response["channel"], message_ts=response["ts"]))
            await uow.commit()

    container.dispatcher.handlers[CHECKLIST] = deliver_checklist

    async def progress_line(incident: Incident) -> str | None:
        async with container.engine.connect() as conn:
            _, runbook, done = await library.state(conn, incident.id)
        return f":clipboard: {progress_text(runbook, len(done))}" if runbook else None

    container.features.announcement_extras.append(progress_line)

    @container.bolt.action(STEP_DONE)
    async def step_done(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        ctx.after_ack(mark_done(body, respond))

    async def mark_done(body: dict[str, Any], respond: AsyncRespond) -> None:
        user = body.get("user") or {}
        try:
            value = json.loads((body.get("actions") or [{}])[0].get("value") or "{}")
            incident_id = uuid.UUID(value["i"])
            actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
            # GOV-001 RACI "Execute runbook": the ML Platform SRE is responsible
            await require_role(container, actor.id, Activity.EXECUTE_RUNBOOK, "incident",
                               str(incident_id))
            message = await complete_step(service, library, incident_id, str(value["r"]),
                                          str(value["v"]), str(value["s"]), actor)
            if not message.startswith("Step") or "already" in message:
                await ctx.reply(body, respond, f":information_source: {message}")
        except DomainError as exc:
            await ctx.reply(body, respond, f":warning: {exc}")
        except (KeyError, ValueError, TypeError):
            await ctx.reply(body, respond, ":warning: That button is not attached to a runbook step.")

    async def runbook_command(ctx: SlackContext, parsed: Parsed, body: dict[str, Any],
                              respond: AsyncRespond) -> None:
        ref = IncidentRef(number=parsed.number, channel_id=body.get("channel_id"))
        wanted = parsed.rest.strip().lower().removesuffix(".md")
        if wanted:
            if wanted not in library.by_name:
                names = ", ".join(f"`{n}`" for n in sorted(library.by_name))
                raise DomainError(f"No runbook `{wanted}`. Runbooks: {names}.")
            actor = await ctx.actor(body.get("user_id", ""), body.get("user_name"))
            chosen = library.by_name[wanted]

            async def switch(uow: UnitOfWork) -> Incident:
                incident = await service.resolve_ref(uow, ref)
                now = service.clock.now()
                await library.attach(uow, incident, chosen, actor, now)
                await uow.audit.add(AuditEvent(
                    occurred_at=now, actor=actor.id, actor_name=actor.name,
                    action="incident.runbook_selected", resource_type="incident",
                    resource_id=str(incident.id), details={"number": incident.number,
                                                           "runbook": chosen.name,
                                                           "version": chosen.version}))
                await uow.outbox.add(OutboxMessage(REFRESH, incident.id))
                return incident

            incident = await service.run(switch)
            await ctx.reply(body, respond, f":clipboard: {incident.key} now follows *{chosen.title}* "
                                           f"v{chosen.version}; the checklist is posted in its channel.")
            return
        view = await service.view(ref)
        async with container.engine.connect() as conn:
            _, runbook, done = await library.state(conn, view.incident.id)
        if runbook is None:
            await ctx.reply(body, respond, f"{view.incident.key} has no runbook. Pick one: `/incident "
                                           f"runbook <name>` ({', '.join(sorted(library.by_name))}).")
            return
        lines = [f":clipboard: *{view.incident.key}*: {progress_text(runbook, len(done))} "
                 f"(`{library.url(runbook)}`)"]
        lines += [f"{':white_check_mark:' if s.id in done else ':white_square:'} {s.id}. {s.text}"
                  for s in runbook.steps]
        await ctx.reply(body, respond, "\n".join(lines))

    ctx.verbs.add("runbook", runbook_command,
                  help="`/incident runbook`: show the matched runbook and its checklist")
