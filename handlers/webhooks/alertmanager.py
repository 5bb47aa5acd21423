"""``POST /webhooks/alertmanager``: Prometheus Alertmanager webhook v4 (bearer token); check,
run :class:`domain.paging.alertmanager.AlertGroupEvents`, answer."""

from __future__ import annotations

import json
from typing import Any

import structlog
from aiohttp import web

from domain.model import DomainError
from domain.paging.alertmanager import AlertGroupEvents, AlertNotification
from domain.paging.pagerduty import Verdict
from handlers.webhooks.auth import bearer_refusal
from handlers.webhooks.pagerduty import Endpoint
from handlers.webhooks.payloads import answer, bad, field_problem, text_problem

log = structlog.get_logger("alertmanager")
NOT_V4 = "not an Alertmanager webhook payload"


def shape_problem(body: dict[str, Any]) -> str | None:
    """Webhook v4's fields, type-checked: labels and annotations are string maps."""
    problem = field_problem(body, "payload", strings=("groupKey", "status", "receiver", "externalURL"),
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
        problem = field_problem(alert, "alerts[]", strings=("status", "fingerprint", "startsAt"),
                                objects=("labels", "annotations"))
        if problem:
            return problem
        maps += [("alerts[].labels", alert.get("labels")),
                 ("alerts[].annotations", alert.get("annotations"))]
    for where, mapping in maps:
        if any(not isinstance(v, str) for v in (mapping or {}).values()):
            return f"{where} must map names to strings"
    return text_problem(body)


def parse(raw: bytes) -> dict[str, Any]:
    body = json.loads(raw)
    if not isinstance(body, dict):
        raise TypeError("the payload must be a JSON object")
    return body


def notification(body: dict[str, Any]) -> AlertNotification:
    """The checked payload as the use case's input (KeyError when a required field is absent)."""
    return AlertNotification(
        group_key=str(body["groupKey"]), status=str(body["status"]),
        alerts=[a for a in body.get("alerts") or [] if isinstance(a, dict)],
        common_labels=body.get("commonLabels") or {},
        common_annotations=body.get("commonAnnotations") or {},
        receiver=str(body.get("receiver", "webhook")), external_url=str(body.get("externalURL", "")))


def endpoint(events: AlertGroupEvents, token: str | None) -> Endpoint:
    async def alertmanager_webhook(request: web.Request) -> web.StreamResponse:
        refused = bearer_refusal(request, token,
                                 "Alertmanager webhooks are not enabled: set ALERTMANAGER_TOKEN")
        if refused is not None:
            return refused
        try:
            body = parse(await request.read())
            if str(body.get("version")) != "4":
                return bad(400, f"unsupported Alertmanager webhook version {body.get('version')!r}; "
                                "this endpoint takes version 4")
            note = notification(body)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return bad(400, f"{NOT_V4}: {exc}")
        problem = shape_problem(body)
        if problem:
            return bad(400, f"{NOT_V4}: {problem}")
        if note.status not in ("firing", "resolved"):
            return bad(400, f"status must be firing or resolved, not {note.status!r}")
        try:
            result = await events.handle(note)
        except DomainError as exc:
            return bad(422, str(exc))
        if result.verdict is Verdict.DUPLICATE:
            log.info("alertmanager.duplicate_group", group_key=note.group_key[:200],
                     incident=result.body.get("incident"))
        return answer(result)

    return alertmanager_webhook
