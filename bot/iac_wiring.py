"""Infrastructure drift in Slack (issue 7): ingest a report, one message per drift event with the
DriftGuard choices, and Escalate opening exactly one incident linked to the event.

The bot never changes the cloud: Revert and Codify show what to run or write; Accept records an
exception with a reason and an expiry; Escalate opens an incident. Every choice is audited with
the Slack actor.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncRespond

from bot.dispatcher import Permanent
from bot.governance_wiring import RoleRefused, require_role
from bot.http_auth import bearer_refusal
from bot.rendering import plain_text
from domain.governance.roles import Activity
from domain.iac.ingest import decode_report, ingest
from domain.iac.model import IacInputError, IngestReport, TriagedDrift
from domain.iac.normalize import ParseOptions
from domain.messages import escape, escape_mixed
from domain.model import Actor, AuditEvent, DomainError, Incident, Severity
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import DeclareIncident, IncidentRef, IncidentService
from handlers.slack_context import SlackContext
from storage.iac_tables import drift_changes, drift_events
from storage.outbox_store import OutboxRow
from storage.uow import sql_connection

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("iac")

IAC_MESSAGE = "iac_drift_message"  # outbox: post or update the drift event's Slack message
IAC_EXPIRED = "iac_exception_expired"  # outbox: say in the message's thread that it is open again
IAC_INCOMPLETE = "iac_report_incomplete"  # outbox: a report may not show all drift (issue 15)
ACTIONS = {
    "iac_revert": "Revert",
    "iac_codify": "Codify in IaC",
    "iac_accept": "Accept exception",
    "iac_escalate": "Escalate",
}
ACCEPT_CALLBACK = "iac_accept_exception"
INGEST = Actor("iac-ingest", "IaC drift ingest")
EXCEPTION_CLOCK = Actor("iac-exception-clock", "IaC exception clock")
SEVERITY_OF = {"critical": Severity.P1, "high": Severity.P2, "medium": Severity.P3, "low": Severity.P4}
# GOV-001 "Break-glass production change": who may accept, revert or escalate drift (issue 15).
# Codify is the normal change process (a pull request), so it is not gated.
BREAK_GLASS = {"iac_revert", "iac_accept", "iac_escalate"}


def needs_security_approver(stored: Any) -> bool:
    """A security rule fired: the Accept recommendation asks for a named security approver."""
    recs = stored["triage"]["triage"]["recommendations"]
    accept: dict[str, Any] = next((r for r in recs if r["type"] == "accept_exception"), {})
    return "security_approver" in (accept.get("requires") or ())


class IacDrift:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.service: IncidentService = container.service

    async def ingest_data(self, data: Any, source: str, environment: str | None = None) -> dict[str, Any]:
        """Parse, triage and store a report; new or changed drift gets (re)announced in Slack.

        Returns the counts and the report's notices (for the CLI and the webhook's answer); a
        report that may not show all drift (errored, one page of many, unscanned resources) is
        also said in Slack when that changed since the source's last report."""
        now = self.service.clock.now()
        try:
            report: IngestReport = ingest(
                data, now=now, options=ParseOptions(source_name=source, environment=environment)
            )
        except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
            # parsing is pure: a report of the right format but with fields of the wrong type
            # is refused with the reason, before anything is stored
            raise IacInputError(f"the report has a field of the wrong shape: {exc!r}"[:300]) from exc
        for item in report.items:  # what the drift_events columns hold
            if len(item.event.resource_type) > 255 or len(item.event.environment) > 64:
                raise IacInputError(f"resource type or environment too long at "
                                    f"{item.event.resource_address[:100]!r}")
        counts = {"events": len(report.items), "new": 0, "changed": 0, "unchanged": 0}
        incomplete = list(report.incomplete)

        async def work(uow: UnitOfWork) -> None:
            for item in report.items:
                counts[await self._store(uow, item, now)] += 1
            if incomplete != await self._last_incomplete(uow, source) and incomplete:
                await uow.outbox.add(OutboxMessage(IAC_INCOMPLETE, None, {
                    "source": source, "format": report.source_format.value, "notices": incomplete}))
            await uow.audit.add(
                AuditEvent(
                    occurred_at=now,
                    actor=INGEST.id,
                    actor_name=INGEST.name,
                    action="iac.report_ingested",
                    resource_type="drift_report",
                    resource_id=source,
                    details={**counts, "format": report.source_format.value, "notices": list(report.notices),
                             "incomplete": incomplete},
                )
            )

        await self.service.run(work)
        return {**counts, "notices": list(report.notices)}

    @staticmethod
    async def _last_incomplete(uow: UnitOfWork, source: str) -> list[str]:
        """What the previous report from ``source`` said was missing (its audit row)."""
        from storage.tables import audit_events

        details = (await sql_connection(uow).execute(
            sa.select(audit_events.c.details)
            .where(audit_events.c.action == "iac.report_ingested", audit_events.c.resource_id == source)
            .order_by(audit_events.c.seq.desc()).limit(1))).scalar()
        return list((details or {}).get("incomplete") or [])

    async def deliver_incomplete(self, row: OutboxRow) -> None:
        notices = "\n".join(f"• {n}" for n in row.payload.get("notices") or [])
        await self.container.slack_client.chat_postMessage(
            channel=self.container.settings.incident_channel, unfurl_links=False,
            text=(f":warning: IaC drift report `{row.payload.get('source')}` "
                  f"({row.payload.get('format')}) may not show all drift, so the drift messages "
                  f"here may be missing some:\n{notices}")[:3000])

    async def _store(self, uow: UnitOfWork, item: TriagedDrift, now: datetime) -> str:
        conn = sql_connection(uow)
        event = item.event
        existing = (
            (
                await conn.execute(
                    sa.select(drift_events).where(drift_events.c.fingerprint == event.fingerprint)
                )
            )
            .mappings()
            .first()
        )
        values = {
            "change_signature": event.change_signature,
            "drift_type": event.drift_type.value,
            "tool": event.tool.value,
            "resource_address": event.resource_address,
            "resource_type": event.resource_type,
            "environment": event.environment,
            "declared_state": event.declared_state,
            "actual_state": event.actual_state,
            "severity": event.severity.value,
            "confidence": event.confidence,
            "triage": item.model_dump(mode="json"),
            "last_seen_at": now,
        }
        if existing is not None and existing["change_signature"] == event.change_signature:
            await conn.execute(
                drift_events.update().where(drift_events.c.id == existing["id"]).values(last_seen_at=now)
            )
            return "unchanged"
        if existing is None:
            event_id = uuid.uuid4()
            await conn.execute(
                drift_events.insert().values(
                    id=event_id, fingerprint=event.fingerprint, status="open", detected_at=now, **values
                )
            )
            outcome = "new"
        else:
            event_id = existing["id"]
            await conn.execute(drift_changes.delete().where(drift_changes.c.event_id == event_id))
            await conn.execute(drift_events.update().where(drift_events.c.id == event_id).values(**values))
            outcome = "changed"
        if event.changes:
            await conn.execute(
                drift_changes.insert(),
                [
                    {
                        "event_id": event_id,
                        "path": c.path,
                        "declared_value": c.declared,
                        "actual_value": c.actual,
                        "change_type": c.change_type.value,
                        "is_security_critical": c.is_security_critical,
                    }
                    for c in event.changes
                ],
            )
        await uow.outbox.add(OutboxMessage(IAC_MESSAGE, None, {"event_id": str(event_id)}))
        return outcome

    # -- Slack ---------------------------------------------------------------------------------

    async def load(self, event_id: uuid.UUID) -> Any:
        async with self.container.engine.connect() as conn:
            return (
                (await conn.execute(sa.select(drift_events).where(drift_events.c.id == event_id)))
                .mappings()
                .first()
            )

    async def deliver_message(self, row: OutboxRow) -> None:
        stored = await self.load(uuid.UUID(row.payload["event_id"]))
        if stored is None:
            raise Permanent("drift event vanished")
        text, blocks = render(stored)
        client = self.container.slack_client
        if stored["slack_ts"]:
            await client.chat_update(
                channel=stored["slack_channel"], ts=stored["slack_ts"], text=text, blocks=blocks
            )
            return
        response = await client.chat_postMessage(
            channel=self.container.settings.incident_channel, text=text, blocks=blocks, unfurl_links=False
        )
        async with self.container.uow_factory() as uow:
            await sql_connection(uow).execute(
                drift_events.update()
                .where(
                    drift_events.c.id == stored["id"]
                )
                .values(slack_channel=response["channel"], slack_ts=response["ts"])
            )
            await uow.commit()

    async def expire_exceptions(self) -> int:
        """Accepted drift whose exception has run out is open again: the message gets its
        buttons back, its thread says why, and the audit trail records it. Returns how many."""
        now = self.service.clock.now()
        expired: list[uuid.UUID] = []

        async def work(uow: UnitOfWork) -> None:
            conn = sql_connection(uow)
            due = (await conn.execute(
                sa.select(drift_events.c.id, drift_events.c.exception_reason,
                          drift_events.c.exception_expires_at)
                .where(drift_events.c.status == "accepted",
                       drift_events.c.exception_expires_at <= now))).all()
            for event_id, reason, expires_at in due:
                reopened = await conn.execute(
                    drift_events.update()
                    .where(drift_events.c.id == event_id, drift_events.c.status == "accepted")
                    .values(status="open", resolution_type=None, resolved_at=None))
                if reopened.rowcount != 1:
                    continue  # another replica got there first
                expired.append(event_id)
                await uow.outbox.add(OutboxMessage(IAC_MESSAGE, None, {"event_id": str(event_id)}))
                await uow.outbox.add(OutboxMessage(IAC_EXPIRED, None, {
                    "event_id": str(event_id), "reason": reason,
                    "expired": f"{expires_at:%Y-%m-%d}"}))
                await uow.audit.add(AuditEvent(
                    occurred_at=now, actor=EXCEPTION_CLOCK.id, actor_name=EXCEPTION_CLOCK.name,
                    action="iac.exception_expired", resource_type="drift_event",
                    resource_id=str(event_id),
                    details={"reason": reason, "expired_at": expires_at.isoformat()}))

        await self.service.run(work)
        return len(expired)

    async def deliver_expiry(self, row: OutboxRow) -> None:
        stored = await self.load(uuid.UUID(row.payload["event_id"]))
        if stored is None or not stored["slack_ts"]:
            return  # never posted: the message itself (IAC_MESSAGE) says it is open
        await self.container.slack_client.chat_postMessage(
            channel=stored["slack_channel"], thread_ts=stored["slack_ts"], unfurl_links=False,
            text=(f":hourglass: The exception for `{stored['resource_address']}` expired on "
                  f"{row.payload['expired']} (it was: {row.payload['reason']}). The drift is open "
                  "again: revert, codify, escalate or accept it anew."))

    async def decide(self, event_id: uuid.UUID, actor: Actor, choice: str, **details: Any) -> None:
        """Audit a human's choice on a drift event (and record Accept's exception)."""
        now = self.service.clock.now()

        async def work(uow: UnitOfWork) -> None:
            if choice == "accept":
                await sql_connection(uow).execute(
                    drift_events.update()
                    .where(
                        drift_events.c.id == event_id
                    )
                    .values(
                        status="accepted",
                        resolution_type="accepted_exception",
                        resolved_at=now,
                        exception_reason=details["reason"] + (
                            f" · security approver <@{details['security_approver']}>"
                            if details.get("security_approver") else ""),
                        exception_expires_at=details["expires_at"],
                    )
                )
                await uow.outbox.add(OutboxMessage(IAC_MESSAGE, None, {"event_id": str(event_id)}))
            await uow.audit.add(
                AuditEvent(
                    occurred_at=now,
                    actor=actor.id,
                    actor_name=actor.name,
                    action=f"iac.{choice}",
                    resource_type="drift_event",
                    resource_id=str(event_id),
                    details={
                        k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in details.items()
                    },
                )
            )

        await self.service.run(work)

    async def escalate(self, event_id: uuid.UUID, actor: Actor) -> Incident:
        """Open one incident for the drift event; a second click finds the first one."""
        stored = await self.load(event_id)
        if stored is None:
            raise DomainError("That drift event no longer exists.")
        if stored["incident_id"]:
            view = await self.service.view(IncidentRef(incident_id=stored["incident_id"]))
            raise DomainError(f"Already escalated as {view.incident.key}.")
        model = self.container.settings.iac_default_model
        if not model:
            raise DomainError("No model to attach infrastructure incidents to: set IAC_DEFAULT_MODEL.")
        triage = stored["triage"]
        escalate: dict[str, Any] = next(
            (r for r in triage["triage"]["recommendations"] if r["type"] == "escalate_review"), {}
        )
        asked = escalate.get("incident_severity")
        severity = Severity(asked) if asked else SEVERITY_OF.get(stored["severity"], Severity.P3)

        async def link(uow: UnitOfWork, incident: Incident) -> None:
            done = await sql_connection(uow).execute(
                drift_events.update()
                .where(
                    (drift_events.c.id == event_id) & drift_events.c.incident_id.is_(None)
                )
                .values(incident_id=incident.id, status="escalated", resolution_type="escalated")
            )
            if done.rowcount != 1:
                raise DomainError("Already escalated by someone else a moment ago.")
            await uow.outbox.add(OutboxMessage(IAC_MESSAGE, None, {"event_id": str(event_id)}))

        return await self.service.declare(
            DeclareIncident(
                title=f"Infrastructure drift: {stored['drift_type']} {stored['resource_address']} "
                f"({stored['environment']})"[:500],
                severity=severity,
                model_name=model,
                labels=["iac-drift", stored["environment"]],
                description=triage["triage"]["summary"],
                invite=[actor.id] if actor.is_slack_user else [],
                then=link,
            ),
            actor,
        )


def report_text_problem(data: Any, source: str, environment: str | None) -> str | None:
    """NUL bytes and lone surrogates can be stored by neither database's text or JSON columns
    (PostgreSQL refuses both); the source and environment are keys, so short."""
    try:
        dumped = json.dumps(data, ensure_ascii=False)
        dumped.encode("utf-8")
    except UnicodeEncodeError:
        return "the report holds text that is not valid Unicode"
    except (TypeError, ValueError, RecursionError) as exc:
        return f"the report cannot be read: {exc}"[:300]
    if "\x00" in dumped or "\\u0000" in dumped:
        return "the report holds NUL bytes"
    if len(source) > 128 or "\x00" in source or len(environment or "") > 64 or "\x00" in (environment or ""):
        return "source (at most 128 characters) or environment (at most 64) is too long"
    return None


def render(stored: Any) -> tuple[str, list[dict[str, Any]]]:
    triage = stored["triage"]
    event, t = triage["event"], triage["triage"]
    emoji = {"critical": ":rotating_light:", "high": ":red_circle:", "medium": ":large_orange_circle:"}.get(
        stored["severity"], ":large_yellow_circle:"
    )
    # Addresses, paths, values and evidence come from the drift report: shown as written, never
    # interpreted by Slack (a `<!channel>` in a tag value must not ping anyone; issue 14)
    what = f"{stored['drift_type']} {stored['resource_address']} ({stored['environment']})"
    text = f"{emoji} IaC drift [{stored['severity']}] {escape(what)}"
    diff = (
        "\n".join(
            f"`{escape(c['path'] or '/')}`: `{escape(json.dumps(c['declared'])[:80])}` → "
            f"`{escape(json.dumps(c['actual'])[:80])}`"
            for c in event["changes"][:10]
        )
        or "_(whole resource)_"
    )
    rules = "\n".join(f":warning: *{escape(h['rule_id'])}* {escape(h['message'])}"
                      for h in event["rule_hits"]) or "none"
    evidence = escape(" ".join(t["cause"]["evidence"]))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text",
                                    "text": f"{emoji} IaC drift [{stored['severity']}] "
                                            f"{plain_text(what)}"[:150]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Tool*\n{stored['tool']}"},
                {"type": "mrkdwn", "text": f"*Confidence*\n{stored['confidence']:.0%}"},
                {"type": "mrkdwn", "text": f"*Security rules hit*\n{rules}"[:2000]},
                {
                    "type": "mrkdwn",
                    "text": f"*Cause*\n{t['cause']['category']}: {evidence}"[:2000],
                },
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Declared → actual*\n{diff}"[:3000]}},
    ]
    status = stored["status"]
    if status == "open":
        blocks.append(
            {
                "type": "actions",
                "block_id": f"iac:{stored['id']}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": action,
                        "value": str(stored["id"]),
                        "text": {"type": "plain_text", "text": label},
                        **({"style": "danger"} if action == "iac_escalate" else {}),
                    }
                    for action, label in ACTIONS.items()
                ],
            }
        )
    else:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": (
                            f"*{status}*"
                            + (
                                f": {escape_mixed(stored['exception_reason'])} "
                                f"(until {stored['exception_expires_at']:%Y-%m-%d})"
                                if status == "accepted" and stored["exception_expires_at"]
                                else ""
                            )
                        ),
                    }
                ],
            }
        )
    return text[:3000], blocks  # a huge resource address must not make Slack refuse it


class ReportWatcher:
    """A scheduled job ingesting each new or changed ``*.json`` report in ``IAC_WATCH_DIR``.

    A file is read again only when its content hash changes; a malformed one is logged and
    skipped until it changes, never retried in a loop or allowed to stop the job.
    """

    def __init__(self, iac: IacDrift, directory: str) -> None:
        self.iac = iac
        self.directory = Path(directory)
        self.seen: dict[str, str] = {}

    async def scan(self) -> int:
        ingested = 0
        for path in sorted([*self.directory.glob("*.json"), *self.directory.glob("*.jsonl")]):
            try:
                raw = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                log.warning("iac.watch_unreadable", file=str(path), error=str(exc))
                continue
            digest = hashlib.sha256(raw).hexdigest()
            if self.seen.get(path.name) == digest:
                continue
            self.seen[path.name] = digest
            try:
                counts = await self.iac.ingest_data(decode_report(raw), path.name)
                log.info("iac.watch_ingested", file=str(path), **counts)
                ingested += 1
            except (ValueError, IacInputError) as exc:
                log.error("iac.watch_rejected", file=str(path), error=str(exc)[:300])
        return ingested


def install(container: Container) -> None:
    iac = IacDrift(container)
    if container.settings.iac_watch_dir:
        watcher = ReportWatcher(iac, container.settings.iac_watch_dir)
        container.features.iac_watcher = watcher
        container.scheduler.add_job(watcher.scan, "interval", seconds=container.settings.iac_watch_seconds,
                                    id="iac-watch", max_instances=1, coalesce=True)
    container.features.iac = iac
    container.dispatcher.handlers[IAC_MESSAGE] = iac.deliver_message
    container.dispatcher.handlers[IAC_EXPIRED] = iac.deliver_expiry
    container.dispatcher.handlers[IAC_INCOMPLETE] = iac.deliver_incomplete
    container.scheduler.add_job(iac.expire_exceptions, "interval", minutes=10,
                                id="iac-exception-expiry", max_instances=1, coalesce=True)
    ctx: SlackContext = container.slack
    bolt = container.bolt

    async def webhook(request: web.Request) -> web.Response:
        refused = bearer_refusal(request, container.settings.iac_token,
                                 "IaC ingestion is not enabled: set IAC_TOKEN")
        if refused is not None:
            return refused
        try:  # one JSON document, or JSON lines (`terraform plan -json`)
            data = decode_report(await request.read())
        except (ValueError, IacInputError) as exc:
            return web.json_response({"error": str(exc) if isinstance(exc, IacInputError)
                                      else f"not JSON: {exc}"}, status=400)
        problem = report_text_problem(data, request.query.get("source", "webhook"),
                                      request.query.get("environment"))
        if problem:
            return web.json_response({"error": problem}, status=400)
        try:
            counts = await iac.ingest_data(
                data, request.query.get("source", "webhook"), request.query.get("environment")
            )
        except IacInputError as exc:
            return web.json_response({"error": str(exc)}, status=422)
        return web.json_response(counts, status=200)

    container.routes.append(web.post("/webhooks/iac", webhook))

    def handler(action: str) -> Any:
        async def on_click(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            ctx.after_ack(decide(body, respond))

        async def decide(body: dict[str, Any], respond: AsyncRespond) -> None:
            user = body.get("user") or {}
            try:
                event_id = uuid.UUID((body.get("actions") or [{}])[0].get("value", ""))
                actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
                stored = await iac.load(event_id)
                if stored is None:
                    raise DomainError("That drift event no longer exists.")
                if action in BREAK_GLASS:
                    await require_role(container, actor.id, Activity.BREAK_GLASS_CHANGE,
                                       "drift_event", str(event_id))
                recs = {r["type"]: r for r in stored["triage"]["triage"]["recommendations"]}
                if action == "iac_escalate":
                    incident = await iac.escalate(event_id, actor)
                    await ctx.reply(body, respond, f":white_check_mark: Escalated as *{incident.key}*.")
                elif action == "iac_accept":
                    await ctx.client.views_open(trigger_id=body["trigger_id"], view=accept_modal(
                        event_id, needs_security_approver(stored),
                        container.settings.iac_max_exception_days))
                else:
                    rec = recs.get("auto_revert" if action == "iac_revert" else "codify_iac") or {}
                    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(rec.get("steps", []), 1))
                    command = f"\n```{rec['command']}```" if rec.get("command") else ""
                    await iac.decide(event_id, actor, action.removeprefix("iac_"))
                    await ctx.reply(
                        body,
                        respond,
                        f"*{ACTIONS[action]}* (the bot changes nothing itself):"
                        f"{command}\n{steps}\n_{rec.get('rationale', '')}_",
                    )
            except RoleRefused as exc:
                await ctx.reply(body, respond, f":warning: {exc}")
            except DomainError as exc:
                await ctx.reply(body, respond, f":information_source: {exc}")
            except (ValueError, KeyError):
                await ctx.reply(body, respond, ":warning: That button is not attached to a drift event.")

        return on_click

    for action in ACTIONS:
        bolt.action(action)(handler(action))

    @bolt.view(ACCEPT_CALLBACK)
    async def accept_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        reason = str((values.get("reason", {}).get("reason") or {}).get("value") or "").strip()
        expiry = (values.get("expires", {}).get("expires") or {}).get("selected_date")
        approver = (values.get("approver", {}).get("approver") or {}).get("selected_user")
        metadata = json.loads(view.get("private_metadata") or "{}")
        max_days = container.settings.iac_max_exception_days
        errors = {}
        if not reason:
            errors["reason"] = "Say why this drift is accepted."
        expires_at = None
        try:
            expires_at = datetime.combine(datetime.strptime(str(expiry), "%Y-%m-%d").date(), time(), UTC)
            if expires_at <= container.clock.now():
                errors["expires"] = "The exception must expire in the future."
            elif expires_at > container.clock.now() + timedelta(days=max_days):
                errors["expires"] = (f"An exception lasts at most {max_days} days "
                                     "(IAC_MAX_EXCEPTION_DAYS); codify the change if it is to stay.")
        except ValueError:
            errors["expires"] = "Pick the date the exception expires."
        if metadata.get("approver"):
            if not approver:
                errors["approver"] = "A security rule fired: name the security approver."
            elif approver == (body.get("user") or {}).get("id"):
                errors["approver"] = "The security approver must be someone else."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        ctx.after_ack(accept(body["user"], view, reason, expires_at, approver))

    async def accept(user: dict[str, Any], view: dict[str, Any], reason: str,
                     expires_at: datetime | None, approver: str | None) -> None:
        actor = await ctx.actor(user["id"], user.get("username") or user.get("name"))
        event_id = uuid.UUID(json.loads(view.get("private_metadata") or "{}")["event_id"])
        try:  # the form could be submitted without the button's check: decide again
            await require_role(container, actor.id, Activity.BREAK_GLASS_CHANGE, "drift_event",
                               str(event_id))
        except RoleRefused as exc:
            await ctx.client.chat_postMessage(channel=actor.id, text=f":warning: {exc}")
            return
        extra = {"security_approver": approver} if approver else {}
        await iac.decide(event_id, actor, "accept", reason=reason, expires_at=expires_at, **extra)


def accept_modal(event_id: uuid.UUID, needs_approver: bool = False,
                 max_days: int = 90) -> dict[str, Any]:
    """Reason and expiry (at most ``max_days`` ahead); a named security approver when a
    security rule fired on the drift."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True},
        },
        {
            "type": "input",
            "block_id": "expires",
            "label": {"type": "plain_text", "text": f"Expires on (at most {max_days} days)"},
            "element": {"type": "datepicker", "action_id": "expires"},
        },
    ]
    if needs_approver:
        blocks.append({
            "type": "input",
            "block_id": "approver",
            "label": {"type": "plain_text", "text": "Security approver"},
            "hint": {"type": "plain_text", "text": "A security rule fired on this drift: name who "
                                                  "approved the exception."},
            "element": {"type": "users_select", "action_id": "approver"},
        })
    return {
        "type": "modal",
        "callback_id": ACCEPT_CALLBACK,
        "private_metadata": json.dumps({"event_id": str(event_id), "approver": needs_approver}),
        "title": {"type": "plain_text", "text": "Accept drift"},
        "submit": {"type": "plain_text", "text": "Accept"},
        "blocks": blocks,
    }
