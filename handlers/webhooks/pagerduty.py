"""``POST /webhooks/pagerduty``: PagerDuty Webhooks V3, HMAC-signed; verify, shape-check, run
:class:`domain.paging.pagerduty.PagerDutyEvents`, answer."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from domain.model import DomainError
from domain.paging.pagerduty import MissingField, PagerDutyEvents, UnmappedService
from handlers.webhooks.payloads import answer, bad, field_problem, text_problem

Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOT_V3 = "not a PagerDuty V3 webhook"


def signature_valid(raw: bytes, header: str | None, secrets: list[str]) -> bool:
    """PagerDuty V3: ``v1=<hex HMAC-SHA256(body)>``, several while a secret rotates (any may match,
    against any of our configured secrets, so both sides can rotate)."""
    if not header or not secrets:
        return False
    offered = [part.strip()[3:] for part in header.split(",") if part.strip().startswith("v1=")]
    expected = [hmac.new(s.encode(), raw, hashlib.sha256).hexdigest() for s in secrets]
    return any(hmac.compare_digest(o, e) for o in offered for e in expected)


def secrets_from(setting: str | None) -> list[str]:
    """``PAGERDUTY_WEBHOOK_SECRET``: one secret, or several comma separated while rotating."""
    return [s.strip() for s in (setting or "").split(",") if s.strip()]


def parse(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event and its data, or ValueError / KeyError / TypeError saying what is wrong."""
    body = json.loads(raw)
    event = body["event"]
    if not isinstance(event, dict) or not isinstance(event["event_type"], str):
        raise TypeError("event must be an object with an event_type string")
    data = event["data"]
    if not isinstance(data, dict):
        raise TypeError("event.data is not an object")
    return event, data


def _assignees_problem(obj: dict[str, Any], where: str) -> str | None:
    for assignee in obj.get("assignees") or []:
        if not isinstance(assignee, dict):
            return f"{where}.assignees must be a list of objects"
        problem = field_problem(assignee, f"{where}.assignees[]", strings=("summary",), ids=("id",))
        if problem:
            return problem
    return None


def _incident_problem(obj: dict[str, Any], where: str) -> str | None:
    return (field_problem(obj, where, strings=("urgency", "incident_key"),
                          objects=("priority", "service"),
                          lists=("assignees",), ids=("id",))
            or field_problem(obj.get("priority") or {}, f"{where}.priority", strings=("summary",))
            or field_problem(obj.get("service") or {}, f"{where}.service", strings=("summary",),
                             ids=("id",))
            or _assignees_problem(obj, where))


def shape_problem(event: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The V3 fields the use case reads, type-checked (PagerDuty sends them so)."""
    problem = (field_problem(event, "event", strings=("occurred_at",), objects=("agent",), ids=("id",))
               or field_problem(event.get("agent") or {}, "event.agent", strings=("summary",))
               or field_problem(data, "event.data", strings=("title", "html_url", "urgency", "type",
                                                            "content", "incident_key", "state"),
                                objects=("service", "priority", "incident", "user"),
                                lists=("assignees",), ids=("id",))
               or field_problem(data.get("user") or {}, "event.data.user", ids=("id",)))
    if problem:
        return problem
    if "\x00" in (data.get("html_url") or ""):
        return "event.data.html_url must not hold NUL bytes"
    return (_incident_problem(data, "event.data")
            or _incident_problem(data.get("incident") or {}, "event.data.incident")
            or text_problem(event))


def endpoint(events: PagerDutyEvents, secrets: list[str]) -> Endpoint:
    async def pagerduty_webhook(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if not secrets:
            return bad(401, "PagerDuty webhooks are not enabled: set PAGERDUTY_WEBHOOK_SECRET")
        if not signature_valid(raw, request.headers.get("X-PagerDuty-Signature"), secrets):
            return bad(401, "missing or invalid X-PagerDuty-Signature")
        try:
            event, data = parse(raw)
        except (ValueError, KeyError, TypeError) as exc:
            return bad(400, f"{NOT_V3}: {exc}")
        problem = shape_problem(event, data)
        if problem:
            return bad(400, f"{NOT_V3}: {problem}")
        try:
            return answer(await events.handle(event, data))
        except MissingField as exc:
            return bad(400, str(exc))
        except (UnmappedService, DomainError) as exc:
            return bad(422, str(exc))

    return pagerduty_webhook
