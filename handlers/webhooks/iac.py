"""``POST /webhooks/iac?source=&environment=``: a drift report from CI (bearer token); check,
run :meth:`domain.iac.decisions.IacDrift.ingest_data`, answer with the counts."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from domain.iac.decisions import IacDrift
from domain.iac.ingest import decode_report
from domain.iac.model import IacInputError
from handlers.webhooks.auth import bearer_refusal
from handlers.webhooks.pagerduty import Endpoint
from handlers.webhooks.payloads import bad


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


def endpoint(iac: IacDrift, token: str | None) -> Endpoint:
    async def iac_webhook(request: web.Request) -> web.StreamResponse:
        refused = bearer_refusal(request, token, "IaC ingestion is not enabled: set IAC_TOKEN")
        if refused is not None:
            return refused
        try:  # one JSON document, or JSON lines (`terraform plan -json`)
            data = decode_report(await request.read())
        except (ValueError, IacInputError) as exc:
            return bad(400, str(exc) if isinstance(exc, IacInputError) else f"not JSON: {exc}")
        source, environment = request.query.get("source", "webhook"), request.query.get("environment")
        problem = report_text_problem(data, source, environment)
        if problem:
            return bad(400, problem)
        try:
            counts = await iac.ingest_data(data, source, environment)
        except IacInputError as exc:
            return bad(422, str(exc))
        return web.json_response(counts, status=200)

    return iac_webhook
