"""Shared-secret checks for the webhook endpoints (Alertmanager, IaC): a way in's concern."""

from __future__ import annotations

import hmac

from aiohttp import web


def bearer_refusal(request: web.Request, token: str | None, disabled: str) -> web.Response | None:
    """A 401 with the reason, or None when ``Authorization: Bearer <token>`` matches.

    An unset ``token`` disables the endpoint; ``disabled`` says which setting enables it. The
    comparison is constant-time.
    """
    if not token:
        return web.json_response({"error": disabled}, status=401)
    offered = request.headers.get("Authorization", "")
    if not hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    return None
