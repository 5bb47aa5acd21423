"""``/incidents`` (seed 002's paths, no version prefix): each request is one use case of
``IncidentService``, the same the Slack commands call, as the authenticated API caller."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from aiohttp import web

from domain.api.auth import Scope
from domain.api.declare import declare_remembered
from domain.api.ports import IncidentFilter
from domain.channel_lifecycle import HIDDEN_MODEL, HIDDEN_TITLE, is_private, redact
from domain.model import DomainError, Incident, MLModel, Severity, Status
from domain.ports import SlackLink
from domain.services import DeclareIncident, IncidentNotFound, IncidentRef, IncidentView
from domain.state_machine import (
    ALLOWED,
    AlreadyInState,
    IllegalTransition,
    allowed_verbs,
    target_for,
)
from handlers.api.http import (
    ApiContext,
    ApiProblem,
    caller,
    endpoint,
    json_answer,
    preflight,
    read_body,
)
from handlers.api.idempotency import idempotent
from handlers.api.schemas import (
    IncidentCreate,
    IncidentDetail,
    IncidentPage,
    IncidentPatch,
    IncidentResponse,
    NoteCreate,
    NoteResponse,
    PatchResult,
    TimelineEventResponse,
)

MAX_PAGE = 200


def incident_response(incident: Incident, model: MLModel | None,
                      link: SlackLink | None) -> IncidentResponse:
    return IncidentResponse(
        id=incident.id, number=incident.number, key=incident.key, title=incident.title,
        severity=incident.severity, status=incident.status, model_id=incident.model_id,
        model=model.name if model else None, description=incident.description,
        trigger_source=incident.trigger_source, labels=list(incident.labels),
        assigned_to=incident.assigned_to, runbook_url=incident.runbook_url,
        created_at=incident.created_at, updated_at=incident.updated_at,
        acknowledged_at=incident.acknowledged_at, mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at, closed_at=incident.closed_at,
        created_by=incident.created_by, slack_channel_id=link.channel_id if link else None)


def detail(view: IncidentView) -> IncidentDetail:
    base = incident_response(view.incident, view.model, view.link)
    timeline = [TimelineEventResponse(
        id=e.id, incident_id=e.incident_id, event_type=e.event_type, body=e.body,
        author=e.author, author_name=e.author_name, occurred_at=e.occurred_at,
        created_at=e.created_at) for e in view.timeline]
    return IncidentDetail(**base.model_dump(), timeline=timeline,
                          allowed_verbs=allowed_verbs(view.incident.status))


def ref_of(request: web.Request) -> IncidentRef:
    raw = request.match_info["incident"].strip()
    if raw.upper().startswith("INC-"):
        raw = raw[4:]
    if raw.isdigit() and len(raw) < 10:
        return IncidentRef(number=int(raw))
    try:
        return IncidentRef(incident_id=uuid.UUID(raw))
    except ValueError as exc:
        raise ApiProblem(404, "Not Found", "An incident is named by its UUID or its number.") \
            from exc


def _check_move(incident: Incident, verb: str) -> None:
    """Each field of a PATCH is its own use case (as each is its own Slack action); a status
    verb the state machine refuses now is refused before severity or commander change."""
    try:
        wanted = target_for(incident, verb)
    except AlreadyInState:
        return
    if wanted is not incident.status and wanted not in ALLOWED[incident.status]:
        raise IllegalTransition(incident, wanted)


def _csv(request: web.Request, name: str) -> list[str] | None:
    values = [v.strip().lower() for raw in request.query.getall(name, [])
              for v in raw.split(",") if v.strip()]
    return values or None


def _cursor(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(base64.urlsafe_b64decode(raw.encode() + b"==").decode().removeprefix("n:"))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiProblem(400, "Bad cursor", "Pass back the next_cursor of a previous page.") \
            from exc


def _encode_cursor(number: int) -> str:
    return base64.urlsafe_b64encode(f"n:{number}".encode()).decode().rstrip("=")


async def _filter(ctx: ApiContext, request: web.Request) -> tuple[IncidentFilter, int]:
    statuses, severities = _csv(request, "status"), _csv(request, "severity")
    try:
        statuses = [Status(s).value for s in statuses] if statuses else None
        severities = [Severity.parse(s).value for s in severities] if severities else None
        since = datetime.fromisoformat(request.query["since"]) if "since" in request.query \
            else None
        limit = int(request.query.get("limit", "50"))
    except (ValueError, DomainError) as exc:
        raise ApiProblem(400, "Bad query", "status is one of open, investigating, mitigated, "
                         "resolved, closed; severity p1-p4; since an ISO 8601 time; limit a "
                         "number.") from exc
    if since is not None and since.tzinfo is None:
        raise ApiProblem(400, "Bad query", "since needs a time zone, e.g. 2026-11-30T00:00:00Z")
    model_id = None
    if "model" in request.query:
        wanted = request.query["model"]
        model = next((m for m in await ctx.service.list_models()
                      if m.name == wanted or str(m.id) == wanted), None)
        if model is None:
            raise ApiProblem(400, "Unknown model", f"No model named {wanted!r}.")
        model_id = model.id
    return (IncidentFilter(statuses, severities, model_id, since,
                           _cursor(request.query.get("cursor"))), max(1, min(limit, MAX_PAGE)))


def _private_label(ctx: ApiContext) -> str:
    return str(ctx.container.settings.status_page_private_label)


def _hidden(ctx: ApiContext, view: IncidentView) -> IncidentView:
    """A private incident as an API caller sees it: no title, model, description or timeline.
    API callers are nobody's channel members (issue 19 item 8)."""
    return redact(view) if is_private(view.incident, _private_label(ctx)) else view


def _hidden_row(ctx: ApiContext, row: dict[str, Any]) -> dict[str, Any]:
    label = _private_label(ctx).lower()
    if label not in [str(x).lower() for x in row.get("labels") or []]:
        return row
    return {**row, "title": HIDDEN_TITLE, "description": None, "labels": [],
            "runbook_url": None, "model": HIDDEN_MODEL if row.get("model") else None}


class IncidentsApi:
    """The /incidents handlers: parse, one use case as the caller, answer."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.service = ctx.service

    async def view_answer(self, ref: IncidentRef) -> dict[str, Any]:
        view = _hidden(self.ctx, await self.service.view(ref))
        return incident_response(view.incident, view.model, view.link).model_dump(mode="json")

    async def declare(self, request: web.Request) -> web.StreamResponse:
        principal = await caller(self.ctx, request, Scope.INCIDENTS_WRITE)
        raw = await request.read()
        body = await read_body(request, IncidentCreate)
        model_name = body.model
        if body.model_id is not None:
            found = next((m for m in await self.service.list_models() if m.id == body.model_id), None)
            if found is None:
                raise ApiProblem(422, "Unknown model", f"No model with id {body.model_id}.")
            model_name = found.name
        if not model_name:
            raise ApiProblem(422, "Invalid request body", "Give the model (name) or model_id.")
        actor_id = principal.actor.id

        declaration = DeclareIncident(title=body.title, severity=body.severity,
                                      model_name=str(model_name), description=body.description,
                                      labels=body.labels)

        async def run(key: str | None) -> tuple[int, Any]:
            incident = await declare_remembered(self.service, self.ctx.queries, declaration,
                                                principal.actor, key)
            return 201, await self.view_answer(IncidentRef(incident_id=incident.id))

        async def recover(resource_id: str) -> tuple[int, Any] | None:
            try:
                return 201, await self.view_answer(IncidentRef(incident_id=uuid.UUID(resource_id)))
            except (ValueError, IncidentNotFound):
                return None

        response = await idempotent(self.ctx, request, actor_id, raw, run, recover)
        if response.status == 201 and isinstance(response.body, bytes):
            response.headers["Location"] = f"/incidents/{json.loads(response.body)['id']}"
        return response

    async def list_(self, request: web.Request) -> web.StreamResponse:
        await caller(self.ctx, request, Scope.INCIDENTS_READ)
        where, limit = await _filter(self.ctx, request)
        rows = await self.ctx.queries.incident_rows(where, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        items = [IncidentResponse(**{**_hidden_row(self.ctx, r), "key": f"INC-{r['number']}"})
                 for r in rows]
        return json_answer(IncidentPage(
            items=items, next_cursor=_encode_cursor(rows[-1]["number"]) if more else None))

    async def get(self, request: web.Request) -> web.StreamResponse:
        await caller(self.ctx, request, Scope.INCIDENTS_READ)
        return json_answer(detail(_hidden(self.ctx, await self.service.view(
            ref_of(request), with_timeline=True))))

    async def patch(self, request: web.Request) -> web.StreamResponse:
        principal = await caller(self.ctx, request, Scope.INCIDENTS_WRITE)
        body = await read_body(request, IncidentPatch)
        if body.status is None and body.severity is None and body.commander is None:
            raise ApiProblem(422, "Nothing to change", "Give status (a verb), severity or "
                             "commander.")
        ref = ref_of(request)
        actor = principal.actor
        messages: list[str] = []
        try:
            if body.status is not None:  # refuse an illegal move before changing anything else
                _check_move((await self.service.view(ref)).incident, body.status)
            if body.severity is not None:
                messages.append((await self.service.change_severity(ref, actor, body.severity)).message)
            if body.commander is not None:
                messages.append((await self.service.assign(ref, actor, body.commander)).message)
            if body.status is not None:
                outcome = await self.service.change_status(ref, body.status, actor, body.reason)
                messages.append(outcome.message)
        except IllegalTransition as exc:
            current = (await self.service.view(ref)).incident.status
            raise ApiProblem(409, "Conflict", str(exc).replace("*", "").replace("`", ""),
                             allowed_verbs=allowed_verbs(current)) from exc
        view = _hidden(self.ctx, await self.service.view(ref))
        return json_answer(PatchResult(
            incident=incident_response(view.incident, view.model, view.link),
            messages=[m.replace("*", "") for m in messages]))

    async def add_note(self, request: web.Request) -> web.StreamResponse:
        principal = await caller(self.ctx, request, Scope.INCIDENTS_WRITE)
        raw = await request.read()
        body = await read_body(request, NoteCreate)
        ref = ref_of(request)

        async def run(_key: str | None) -> tuple[int, Any]:
            outcome = await self.service.add_note(ref, principal.actor, body.body,
                                             occurred_at=body.occurred_at, echo=True)
            return 201, NoteResponse(incident_id=outcome.incident.id,
                                     message=outcome.message).model_dump(mode="json")

        return await idempotent(self.ctx, request, principal.actor.id, raw, run)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        await caller(self.ctx, request, Scope.INCIDENTS_WRITE)
        ref_of(request)
        raise ApiProblem(405, "Deletion refused", "Incident records are kept (GOV-001 section "
                         "7: audit and retention); close the incident instead: PATCH "
                         '{"status": "close"}.', headers={"Allow": "GET, PATCH, OPTIONS"})


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    wrap = lambda h: endpoint(ctx, h)  # noqa: E731
    api = IncidentsApi(ctx)
    return [
        web.post("/incidents", wrap(api.declare)),
        web.get("/incidents", wrap(api.list_)),
        web.get("/incidents/{incident}", wrap(api.get)),
        web.patch("/incidents/{incident}", wrap(api.patch)),
        web.delete("/incidents/{incident}", wrap(api.delete)),
        web.post("/incidents/{incident}/notes", wrap(api.add_note)),
        web.options("/incidents", preflight(ctx, "GET, POST, OPTIONS")),
        web.options("/incidents/{incident}", preflight(ctx, "GET, PATCH, DELETE, OPTIONS")),
        web.options("/incidents/{incident}/notes", preflight(ctx, "POST, OPTIONS")),
    ]

