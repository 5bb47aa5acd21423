"""PagerDuty and Prometheus Alertmanager (issue 5): paged incidents get a channel, and state
stays in sync both ways.

Inbound: ``POST /webhooks/pagerduty`` (Webhooks V3, HMAC-signed) and ``POST
/webhooks/alertmanager`` (webhook v4, bearer token) run the same use cases as Slack does.
Outbound: every call to PagerDuty (REST v2 status changes and notes, Events v2 pages) is an
outbox row delivered with the real ``pagerduty`` client in a worker thread, so a PagerDuty
outage delays those calls and never blocks Slack.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import ssl
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pagerduty
import sqlalchemy as sa
import structlog
from aiohttp import web
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import IntegrityError

from bot.dispatcher import NO_CHANNEL, Permanent, Retry
from bot.http_auth import bearer_refusal
from bot.rendering import ACTION_RESOLVE
from domain.model import Actor, DomainError, Incident, InvalidSeverity, Severity, Status, TriggerSource
from domain.ports import OutboxMessage, UnitOfWork
from domain.services import CHANNEL, INVITE, DeclareIncident, IncidentRef, IncidentService
from storage.outbox_store import OutboxRow
from storage.pagerduty_tables import alertmanager_groups, pagerduty_links
from storage.repositories import _insert
from storage.uow import sql_connection

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("pagerduty")

PD_STATUS = "pagerduty_status"  # outbox: PUT /incidents/{id} acknowledged | resolved
PD_NOTE = "pagerduty_note"  # outbox: POST /incidents/{id}/notes (the Slack channel)
PD_EVENT = "pagerduty_event"  # outbox: Events API v2 trigger | acknowledge | resolve
PD_RESPONDERS = "pagerduty_responders"  # outbox: PagerDuty users -> Slack users -> invite
PAGERDUTY = "pagerduty"  # the service account named as actor and created_by
ALERTMANAGER = "alertmanager"
PAGERDUTY_TIMEOUT_SECONDS = 10  # an unanswered call is retried by the outbox, in its own lane
PAGED_SEVERITIES = (Severity.P1, Severity.P2)
ALERT_SEVERITIES = {
    "critical": Severity.P2,
    "error": Severity.P2,
    "high": Severity.P2,
    "warning": Severity.P3,
    "medium": Severity.P3,
    "info": Severity.P4,
    "low": Severity.P4,
}


def signature_valid(raw: bytes, header: str | None, secrets: list[str]) -> bool:
    """PagerDuty V3: ``v1=<hex HMAC-SHA256(body)>``, several while a secret rotates (any may match,
    against any of our configured secrets, so both sides can rotate)."""
    if not header or not secrets:
        return False
    offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    expected = [hmac.new(s.encode(), raw, hashlib.sha256).hexdigest() for s in secrets]
    return any(hmac.compare_digest(o, e) for o in offered for e in expected)


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _bad(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _text_problem(body: Any) -> str | None:
    """Lone surrogates (valid JSON escapes, invalid text) can be neither stored nor posted."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "the payload holds text that is not valid Unicode"
    return None


def _field_problem(obj: dict[str, Any], where: str, strings: tuple[str, ...] = (),
                   objects: tuple[str, ...] = (), lists: tuple[str, ...] = (),
                   ids: tuple[str, ...] = ()) -> str | None:
    """Each named field absent, null or of its type: a field of the wrong type is a 400, not a
    500 halfway through. ``ids`` are also stored as keys: short, without NULs."""
    for key in strings + ids:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            return f"{where}.{key} must be a string"
    for key in ids:
        value = obj.get(key) or ""
        if len(value) > 64 or "\x00" in value:
            return f"{where}.{key} must be a short id without NUL bytes"
    for key in objects:
        if obj.get(key) is not None and not isinstance(obj.get(key), dict):
            return f"{where}.{key} must be an object"
    for key in lists:
        if obj.get(key) is not None and not isinstance(obj.get(key), list):
            return f"{where}.{key} must be a list"
    return None


def _pagerduty_problem(event: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The V3 fields this endpoint reads, type-checked (PagerDuty sends them so)."""
    problem = (_field_problem(event, "event", strings=("occurred_at",), objects=("agent",),
                              ids=("id",))
               or _field_problem(event.get("agent") or {}, "event.agent", strings=("summary",))
               or _field_problem(data, "event.data", strings=("title", "html_url", "urgency",
                                                             "type", "content"),
                                 objects=("service", "priority", "incident"), lists=("assignees",),
                                 ids=("id",)))
    if problem:
        return problem
    if "\x00" in (data.get("html_url") or ""):
        return "event.data.html_url must not hold NUL bytes"
    for where, obj in (("event.data", data), ("event.data.incident", data.get("incident") or {})):
        problem = (_field_problem(obj, where, strings=("urgency",), objects=("priority", "service"),
                                  lists=("assignees",), ids=("id",))
                   or _field_problem(obj.get("priority") or {}, f"{where}.priority",
                                     strings=("summary",))
                   or _field_problem(obj.get("service") or {}, f"{where}.service",
                                     strings=("summary",), ids=("id",)))
        if problem:
            return problem
        for assignee in obj.get("assignees") or []:
            if not isinstance(assignee, dict):
                return f"{where}.assignees must be a list of objects"
            problem = _field_problem(assignee, f"{where}.assignees[]", strings=("summary",),
                                     ids=("id",))
            if problem:
                return problem
    return _text_problem(event)


def _alertmanager_problem(body: dict[str, Any]) -> str | None:
    """Webhook v4's fields, type-checked: labels and annotations are string maps."""
    problem = _field_problem(body, "payload", strings=("groupKey", "status", "receiver",
                                                        "externalURL"),
                             objects=("commonLabels", "commonAnnotations", "groupLabels"),
                             lists=("alerts",))
    if problem:
        return problem
    if len(body.get("groupKey") or "") > 1000 or "\x00" in (body.get("groupKey") or ""):
        return "groupKey must be at most 1000 characters, without NUL bytes"
    maps = [("commonLabels", body.get("commonLabels")),
            ("commonAnnotations", body.get("commonAnnotations"))]
    for alert in body.get("alerts") or []:
        if not isinstance(alert, dict):
            return "alerts must be a list of objects"
        problem = _field_problem(alert, "alerts[]", strings=("status", "fingerprint", "startsAt"),
                                 objects=("labels", "annotations"))
        if problem:
            return problem
        maps += [("alerts[].labels", alert.get("labels")),
                 ("alerts[].annotations", alert.get("annotations"))]
    for where, mapping in maps:
        if any(not isinstance(v, str) for v in (mapping or {}).values()):
            return f"{where} must map names to strings"
    return _text_problem(body)


def _source_ref(*parts: Any) -> str:
    """A timeline source_ref (unique, at most 255 characters) from parts of any length."""
    ref = ":".join(str(p) for p in parts)
    if len(ref) <= 255:
        return ref
    return f"{parts[0]}:sha256:{hashlib.sha256(ref.encode('utf-8', 'replace')).hexdigest()}"


class PagerDuty:
    """The PagerDuty side: webhooks in, outbox deliveries out."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.settings = container.settings
        self.service: IncidentService = container.service
        self.secrets = [
            s.strip() for s in (self.settings.pagerduty_webhook_secret or "").split(",") if s.strip()
        ]

    # -- inbound ----------------------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if not self.secrets:
            return _bad(401, "PagerDuty webhooks are not enabled: set PAGERDUTY_WEBHOOK_SECRET")
        if not signature_valid(raw, request.headers.get("X-PagerDuty-Signature"), self.secrets):
            return _bad(401, "missing or invalid X-PagerDuty-Signature")
        try:
            body = json.loads(raw)
            event = body["event"]
            if not isinstance(event, dict) or not isinstance(event["event_type"], str):
                raise TypeError("event must be an object with an event_type string")
            event_type = event["event_type"]
            data = event["data"]
            if not isinstance(data, dict):
                raise TypeError("event.data is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            return _bad(400, f"not a PagerDuty V3 webhook: {exc}")
        problem = _pagerduty_problem(event, data)
        if problem:
            return _bad(400, f"not a PagerDuty V3 webhook: {problem}")
        agent = event.get("agent") or {}
        actor = Actor(
            PAGERDUTY, f"PagerDuty ({agent.get('summary')})" if agent.get("summary") else "PagerDuty"
        )
        try:
            if event_type == "incident.triggered":
                return await self._triggered(event, data, actor)
            if event_type.startswith("incident."):
                return await self._updated(event, event_type, data, actor)
        except DomainError as exc:
            return _bad(422, str(exc))
        return web.json_response({"ignored": event_type}, status=202)

    async def _link_for(self, pd_incident_id: str) -> Any:
        async with self.container.engine.connect() as conn:
            return (
                (
                    await conn.execute(
                        sa.select(pagerduty_links).where(pagerduty_links.c.pd_incident_id == pd_incident_id)
                    )
                )
                .mappings()
                .first()
            )

    async def _triggered(self, event: dict[str, Any], data: dict[str, Any], actor: Actor) -> web.Response:
        pd_id = str(data.get("id") or "")
        if not pd_id:
            return _bad(400, "event.data.id (the PagerDuty incident) is missing")
        if await self._link_for(pd_id) is not None:
            return web.json_response({"duplicate": pd_id}, status=200)
        service = data.get("service") or {}
        model = (
            self.settings.pagerduty_service_models.get(str(service.get("id")))
            or self.settings.pagerduty_default_model
        )
        if not model:
            return _bad(
                422,
                f"no model for PagerDuty service {service.get('id')} "
                f"({service.get('summary')}): map it in PAGERDUTY_SERVICE_MODELS",
            )
        priority = (
            (data.get("priority") or {}).get("summary") if isinstance(data.get("priority"), dict) else None
        )
        severity = self.container.policy.pagerduty_severity.severity_for(priority, data.get("urgency"))
        assignees = [a.get("id") for a in data.get("assignees") or [] if isinstance(a, dict) and a.get("id")]
        occurred = _parse_time(event.get("occurred_at"))

        async def link(uow: UnitOfWork, incident: Incident) -> None:
            conn = sql_connection(uow)
            await conn.execute(
                pagerduty_links.insert().values(
                    incident_id=incident.id,
                    pd_incident_id=pd_id,
                    pd_url=data.get("html_url"),
                    last_event_at=occurred,
                )
            )
            await uow.outbox.add(OutboxMessage(PD_NOTE, incident.id, {"pd_incident_id": pd_id}))
            if assignees:
                await uow.outbox.add(OutboxMessage(PD_RESPONDERS, incident.id, {"users": assignees}))

        title = str(data.get("title") or f"PagerDuty incident {data.get('number', pd_id)}")
        try:
            incident = await self.service.declare(
                DeclareIncident(
                    title=title,
                    severity=severity,
                    model_name=model,
                    trigger_source=TriggerSource.PAGERDUTY,
                    description=f"Paged by PagerDuty: <{data.get('html_url')}|#{data.get('number', pd_id)}> "
                    f"on service {service.get('summary', '?')}",
                    labels=["pagerduty"],
                    then=link,
                ),
                actor,
            )
        except IntegrityError:  # a concurrent redelivery won the race: one incident, as wanted
            return web.json_response({"duplicate": pd_id}, status=200)
        return web.json_response({"incident": incident.key}, status=201)

    async def _updated(
        self, event: dict[str, Any], event_type: str, data: dict[str, Any], actor: Actor
    ) -> web.Response:
        incident_data = data if data.get("type") == "incident" else (data.get("incident") or {})
        link = await self._link_for(str(incident_data.get("id") or ""))
        if link is None:
            return web.json_response({"ignored": "not an incident this bot knows"}, status=202)
        occurred = _parse_time(event.get("occurred_at"))
        if occurred and link["last_event_at"] and occurred < link["last_event_at"]:
            return web.json_response({"ignored": "older than the last event applied"}, status=202)
        ref = IncidentRef(incident_id=link["incident_id"])
        view = await self.service.view(ref)
        status = view.incident.status
        source_ref = f"pagerduty:{event.get('id')}"
        if event_type == "incident.acknowledged" and status is Status.OPEN:
            await self.service.change_status(
                ref, "ack", actor, reason="acknowledged in PagerDuty"
            )
        elif event_type == "incident.resolved" and status.is_active:
            await self.service.change_status(ref, Status.RESOLVED, actor, reason="resolved in PagerDuty")
        elif event_type == "incident.reopened" and status is Status.RESOLVED:
            await self.service.change_status(ref, "reopen", actor, reason="reopened in PagerDuty")
        elif event_type == "incident.priority_updated":
            priority = (incident_data.get("priority") or {}).get("summary")
            severity = self.container.policy.pagerduty_severity.severity_for(
                priority, incident_data.get("urgency")
            )
            if status is not Status.CLOSED:
                await self.service.change_severity(ref, actor, severity)
        elif event_type == "incident.annotated":
            content = str(data.get("content") or "(empty note)")
            await self.service.add_note(
                ref,
                actor,
                f"PagerDuty note: {content}",
                occurred_at=occurred,
                source_ref=source_ref,
                echo=True,
            )
        elif event_type in ("incident.escalated", "incident.reassigned"):
            who = ", ".join(a.get("summary") or "?" for a in incident_data.get("assignees") or [])
            outcome = await self.service.add_note(
                ref,
                actor,
                f"PagerDuty: {event_type.split('.')[1]} to {who or 'nobody'}",
                occurred_at=occurred,
                source_ref=source_ref,
                echo=True,
            )
            assignees = [a.get("id") for a in incident_data.get("assignees") or [] if a.get("id")]
            if outcome.changed and assignees:
                async with self.container.uow_factory() as uow:
                    await uow.outbox.add(
                        OutboxMessage(PD_RESPONDERS, link["incident_id"], {"users": assignees})
                    )
                    await uow.commit()
        else:
            return web.json_response({"ignored": event_type}, status=202)
        if occurred:
            async with self.container.uow_factory() as uow:
                await sql_connection(uow).execute(
                    pagerduty_links.update()
                    .where(
                        pagerduty_links.c.incident_id == link["incident_id"]
                    )
                    .where(
                        sa.or_(
                            pagerduty_links.c.last_event_at.is_(None),
                            pagerduty_links.c.last_event_at < occurred,
                        )
                    )
                    .values(last_event_at=occurred)
                )
                await uow.commit()
        return web.json_response({"applied": event_type}, status=200)

    # -- Slack -> PagerDuty (service observer, inside the use case's transaction) -------------

    async def observe(
        self, uow: UnitOfWork, incident: Incident, action: str, details: dict[str, Any]
    ) -> None:
        conn = sql_connection(uow)
        if action == "incident.created":
            await self._page(uow, incident, details)
            return
        if action != "incident.status_updated" or details.get("actor") == PAGERDUTY:
            return  # a change PagerDuty told us about is not echoed back to it
        link = (
            (
                await conn.execute(
                    sa.select(pagerduty_links).where(pagerduty_links.c.incident_id == incident.id)
                )
            )
            .mappings()
            .first()
        )
        if link is None:
            return
        target = {Status.INVESTIGATING.value: "acknowledged", Status.RESOLVED.value: "resolved"}.get(
            details.get("to", "")
        )
        if target == "acknowledged" and details.get("from") != Status.OPEN.value:
            target = None  # a reopen is not an acknowledgement
        if target is None:
            return
        if link["pd_incident_id"]:
            await uow.outbox.add(
                OutboxMessage(
                    PD_STATUS, incident.id, {"pd_incident_id": link["pd_incident_id"], "status": target}
                )
            )
        if link["page_dedup_key"]:
            await uow.outbox.add(
                OutboxMessage(
                    PD_EVENT,
                    incident.id,
                    {
                        "action": "acknowledge" if target == "acknowledged" else "resolve",
                        "dedup_key": link["page_dedup_key"],
                        "routing_key": link["page_routing_key"],
                    },
                )
            )

    async def _page(self, uow: UnitOfWork, incident: Incident, details: dict[str, Any]) -> None:
        """A SEV-1 / SEV-2 declared here pages the owning team's on-call (Events API v2)."""
        if incident.trigger_source is TriggerSource.PAGERDUTY or incident.severity not in PAGED_SEVERITIES:
            return
        model = await uow.models.get(incident.model_id)
        keys = self.settings.pagerduty_routing_keys
        routing_key = keys.get(model.team if model else "") or keys.get("default")
        if not routing_key:
            return
        dedup_key = f"incident-bot/{incident.id}"
        await sql_connection(uow).execute(
            pagerduty_links.insert().values(
                incident_id=incident.id, page_dedup_key=dedup_key, page_routing_key=routing_key
            )
        )
        await uow.outbox.add(
            OutboxMessage(
                PD_EVENT,
                incident.id,
                {
                    "action": "trigger",
                    "dedup_key": dedup_key,
                    "routing_key": routing_key,
                    "payload": {
                        "summary": f"{incident.key} [{incident.severity.label}] {incident.title}"[:1024],
                        "source": f"incident-bot/{details.get('model', '?')}",
                        "severity": "critical" if incident.severity is Severity.P1 else "error",
                        "custom_details": {
                            "incident": incident.key,
                            "model": details.get("model"),
                            "declared_by": details.get("actor"),
                        },
                    },
                },
            )
        )

    # -- outbox deliveries (the real pagerduty client, in a worker thread) --------------------

    def _rest(self) -> pagerduty.RestApiV2Client:
        if not self.settings.pagerduty_api_token:
            raise Permanent("PAGERDUTY_API_TOKEN is not set")
        client = pagerduty.RestApiV2Client(
            self.settings.pagerduty_api_token,
            default_from=self.settings.pagerduty_from_email,
            base_url=self.settings.pagerduty_api_url,
            **self._tls(),
        )
        client.max_http_attempts = 1  # the outbox retries with backoff; never sleep in a thread
        client.timeout = PAGERDUTY_TIMEOUT_SECONDS  # not the library's 60 s: a slot is held
        return client

    def _tls(self) -> dict[str, Any]:
        bundle = self.settings.pagerduty_ca_bundle
        return {"verify": ssl.create_default_context(cafile=bundle)} if bundle else {}

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except pagerduty.HttpError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 429 or status >= 500:
                raise Retry(f"PagerDuty {status}") from exc
            raise Permanent(f"PagerDuty refused: {status} {exc}") from exc
        except pagerduty.Error as exc:  # connection errors and timeouts
            raise Retry(f"PagerDuty unreachable: {exc}") from exc

    async def _channel_on_its_way(self, row: OutboxRow) -> None:
        """PagerDuty rows have a lane of their own, so the Slack channel they name may still be
        queued in the incident's Slack lane: wait for it (Retry) rather than give up."""
        if await self.container.outbox_store.waits_behind(row, "slack"):
            raise Retry("the incident channel is still being created")

    async def deliver_status(self, row: OutboxRow) -> None:
        client = self._rest()
        if not self.settings.pagerduty_from_email:
            raise Permanent("PAGERDUTY_FROM_EMAIL is not set (PagerDuty requires a From user)")
        await self._call(
            client.jput,
            f"/incidents/{row.payload['pd_incident_id']}",
            json={"incident": {"type": "incident_reference", "status": row.payload["status"]}},
        )

    async def deliver_note(self, row: OutboxRow) -> None:
        assert row.incident_id is not None
        view = await self.service.view(IncidentRef(incident_id=row.incident_id))
        if not (view.link and view.link.channel_id):
            await self._channel_on_its_way(row)
            raise Permanent(NO_CHANNEL)
        client = self._rest()
        content = (
            f"Slack: {view.incident.key} is worked in channel <#{view.link.channel_id}> "
            f"(channel id {view.link.channel_id})."
        )
        await self._call(
            client.jpost,
            f"/incidents/{row.payload['pd_incident_id']}/notes",
            json={"note": {"content": content}},
        )

    async def deliver_event(self, row: OutboxRow) -> None:
        payload = dict(row.payload)
        client = pagerduty.EventsApiV2Client(
            payload.pop("routing_key"), base_url=self.settings.pagerduty_events_url, **self._tls()
        )
        client.max_http_attempts = 1
        client.timeout = PAGERDUTY_TIMEOUT_SECONDS
        action = payload.pop("action")
        await self._call(client.send_event, action, **payload)

    async def deliver_responders(self, row: OutboxRow) -> None:
        assert row.incident_id is not None
        view = await self.service.view(IncidentRef(incident_id=row.incident_id))
        if not (view.link and view.link.channel_id):
            await self._channel_on_its_way(row)
            raise Permanent(NO_CHANNEL)
        client = self._rest()
        slack_client = self.container.slack_client
        users: list[str] = []
        for pd_user in row.payload.get("users", []):
            found = await self._call(client.jget, f"/users/{pd_user}")
            email = ((found or {}).get("user") or {}).get("email")
            if not email:
                continue
            try:
                users.append((await slack_client.users_lookupByEmail(email=email))["user"]["id"])
            except SlackApiError as exc:
                if exc.response.get("error") != "users_not_found":
                    raise
                log.info("pagerduty.responder_not_in_slack", pd_user=pd_user)
        if users:
            async with self.container.uow_factory() as uow:
                await uow.outbox.add(OutboxMessage(INVITE, row.incident_id, {"users": sorted(set(users))}))
                await uow.commit()


class Alertmanager:
    """Prometheus Alertmanager webhook (version 4): one alert group, one incident."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.service: IncidentService = container.service

    async def webhook(self, request: web.Request) -> web.Response:
        refused = bearer_refusal(request, self.container.settings.alertmanager_token,
                                 "Alertmanager webhooks are not enabled: set ALERTMANAGER_TOKEN")
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict):
                raise TypeError("the payload must be a JSON object")
            if str(body.get("version")) != "4":
                return _bad(
                    400,
                    f"unsupported Alertmanager webhook version {body.get('version')!r}; "
                    "this endpoint takes version 4",
                )
            group_key = str(body["groupKey"])
            status = str(body["status"])
            alerts = [a for a in body.get("alerts") or [] if isinstance(a, dict)]
            common = body.get("commonLabels") or {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _bad(400, f"not an Alertmanager webhook payload: {exc}")
        problem = _alertmanager_problem(body)
        if problem:
            return _bad(400, f"not an Alertmanager webhook payload: {problem}")
        if status not in ("firing", "resolved"):
            return _bad(400, f"status must be firing or resolved, not {status!r}")
        async with self.container.engine.connect() as conn:
            group = (
                (
                    await conn.execute(
                        sa.select(alertmanager_groups).where(alertmanager_groups.c.group_key == group_key)
                    )
                )
                .mappings()
                .first()
            )
        current = None
        if group is not None:
            current = (await self.service.view(IncidentRef(incident_id=group["incident_id"]))).incident
        actor = Actor(ALERTMANAGER, f"Alertmanager ({body.get('receiver', 'webhook')})")
        try:
            if status == "firing":
                if current is not None and current.status.is_active:
                    await self._note_alerts(current, alerts, actor, group_key)
                    return web.json_response({"incident": current.key, "updated": True}, status=200)
                try:
                    incident = await self._open(group_key, body, alerts, common, actor,
                                                replace=group is not None)
                except IntegrityError:
                    # an HA peer sent the same new group at the same moment and won the race:
                    # its incident is the one, and nothing of this attempt was written
                    return await self._duplicate(group_key)
                return web.json_response({"incident": incident.key}, status=201)
            if current is None:
                return web.json_response({"ignored": "resolved group without an incident"}, status=202)
            await self._resolved(current, group_key, actor)
            return web.json_response({"incident": current.key, "resolved_alerts": True}, status=200)
        except DomainError as exc:
            return _bad(422, str(exc))

    async def _duplicate(self, group_key: str) -> web.Response:
        async with self.container.engine.connect() as conn:
            incident_id = (await conn.execute(
                sa.select(alertmanager_groups.c.incident_id)
                .where(alertmanager_groups.c.group_key == group_key))).scalar()
        if incident_id is None:  # not that race after all: say so, and let Alertmanager retry
            return _bad(409, "the alert group could not be recorded; send it again")
        incident = (await self.service.view(IncidentRef(incident_id=incident_id))).incident
        log.info("alertmanager.duplicate_group", group_key=group_key[:200], incident=incident.key)
        return web.json_response({"incident": incident.key, "duplicate": True}, status=200)

    async def _open(
        self,
        group_key: str,
        body: dict[str, Any],
        alerts: list[dict[str, Any]],
        common: dict[str, Any],
        actor: Actor,
        replace: bool,
    ) -> Incident:
        labels = {**(alerts[0].get("labels") or {} if alerts else {}), **common}
        model = labels.get("model")
        if not model:
            raise DomainError(
                "the alert has no `model` label naming the affected model (add it in the alerting rule)"
            )
        raw = str(labels.get("severity") or "")
        try:
            severity = Severity.parse(raw)
        except InvalidSeverity:
            severity = ALERT_SEVERITIES.get(raw.lower(), Severity.P3)
        annotations = body.get("commonAnnotations") or {}
        title = str(annotations.get("summary") or labels.get("alertname") or "Alertmanager alert")
        lines = [f"Alertmanager group `{group_key}` ({len(alerts)} alert(s)); {body.get('externalURL', '')}"]
        lines += [
            f"• {(a.get('annotations') or {}).get('description') or (a.get('labels') or {}).get('alertname')}"
            for a in alerts[:10]
        ]

        async def link(uow: UnitOfWork, incident: Incident) -> None:
            conn = sql_connection(uow)
            now = self.service.clock.now()
            stmt = _insert(conn, alertmanager_groups).values(
                group_key=group_key, incident_id=incident.id, status="firing", updated_at=now
            )
            if replace:
                stmt = stmt.on_conflict_do_update(
                    index_elements=["group_key"],
                    set_={"incident_id": incident.id, "status": "firing", "updated_at": now},
                )
            await conn.execute(stmt)

        return await self.service.declare(
            DeclareIncident(
                title=title,
                severity=severity,
                model_name=str(model),
                description="\n".join(lines),
                trigger_source=TriggerSource.AUTOMATED_PERFORMANCE,
                labels=["alertmanager", str(labels.get("alertname", ""))],
                then=link,
            ),
            actor,
        )

    async def _note_alerts(
        self, incident: Incident, alerts: list[dict[str, Any]], actor: Actor, group_key: str
    ) -> None:
        for alert in alerts:
            text = (alert.get("annotations") or {}).get("description") or (alert.get("labels") or {}).get(
                "alertname", "alert"
            )
            await self.service.add_note(
                IncidentRef(incident_id=incident.id),
                actor,
                f"Alert firing: {text}",
                source_ref=_source_ref(ALERTMANAGER, group_key, alert.get("fingerprint"),
                                       alert.get("startsAt")),
            )

    async def _resolved(self, incident: Incident, group_key: str, actor: Actor) -> None:
        outcome = await self.service.add_note(
            IncidentRef(incident_id=incident.id),
            actor,
            "Alertmanager: every alert in the group is resolved",
            source_ref=_source_ref(ALERTMANAGER, group_key, "resolved", incident.id),
        )
        if not outcome.changed or not incident.status.is_active:
            return
        async with self.container.uow_factory() as uow:
            await sql_connection(uow).execute(
                alertmanager_groups.update()
                .where(
                    alertmanager_groups.c.group_key == group_key
                )
                .values(status="resolved")
            )
            text = (f":large_green_circle: The alerts behind *{incident.key}* have resolved. "
                    "Resolve the incident?")
            await uow.outbox.add(
                OutboxMessage(
                    CHANNEL,
                    incident.id,
                    {
                        "text": text,
                        "blocks": [
                            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                            {
                                "type": "actions",
                                "elements": [
                                    {
                                        "type": "button",
                                        "action_id": ACTION_RESOLVE,
                                        "value": str(incident.id),
                                        "style": "primary",
                                        "text": {"type": "plain_text", "text": "Resolve"},
                                    }
                                ],
                            },
                        ],
                    },
                )
            )
            await uow.commit()


def install(container: Container) -> None:
    pd = PagerDuty(container)
    am = Alertmanager(container)
    container.features.pagerduty = pd
    container.routes += [
        web.post("/webhooks/pagerduty", pd.webhook),
        web.post("/webhooks/alertmanager", am.webhook),
    ]
    container.service.observers.append(pd.observe)
    container.dispatcher.handlers.update(
        {
            PD_STATUS: pd.deliver_status,
            PD_NOTE: pd.deliver_note,
            PD_EVENT: pd.deliver_event,
            PD_RESPONDERS: pd.deliver_responders,
        }
    )
