"""Signed webhooks out (deploy on rollback, retrain) and in (pipeline callbacks).

Every body is JSON, signed ``X-Incident-Bot-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``
with ``X-Incident-Bot-Timestamp`` (Unix seconds) and an ``Idempotency-Key`` that stays the same on
every retry of one delivery, so a receiver that saw it already can drop the repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import aiohttp

from bot.delivery.dispatcher import Permanent, Retry

SIGNATURE = "X-Incident-Bot-Signature"
TIMESTAMP = "X-Incident-Bot-Timestamp"
IDEMPOTENCY = "Idempotency-Key"
MAX_SKEW_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def verify(secret: str, headers: Any, body: bytes, now: float) -> str | None:
    """None when the request is signed with ``secret`` and fresh; else why it is refused."""
    stamp = headers.get(TIMESTAMP, "")
    try:
        timestamp = int(stamp)
    except ValueError:
        return f"missing or bad {TIMESTAMP}"
    if abs(now - timestamp) > MAX_SKEW_SECONDS:
        return f"{TIMESTAMP} is more than {MAX_SKEW_SECONDS} s away from now"
    if not hmac.compare_digest(sign(secret, timestamp, body), headers.get(SIGNATURE, "")):
        return "bad signature"
    return None


async def post_signed(session: aiohttp.ClientSession, url: str, payload: Any, *, secret: str | None,
                      idempotency_key: str, now: float, token: str | None = None,
                      timeout: float = 15.0) -> tuple[int, str]:
    """POST ``payload`` (JSON); returns (status, body). 5xx, 429 and network errors retry
    through the outbox; other non-2xx answers are permanent."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(now)
    headers = {"Content-Type": "application/json", TIMESTAMP: str(timestamp), IDEMPOTENCY: idempotency_key}
    if secret:
        headers[SIGNATURE] = sign(secret, timestamp, body)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        async with session.post(url, data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text = (await resp.text())[:2000]
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise Retry(f"{type(exc).__name__}: {exc}") from exc
    if status >= 500 or status == 429:
        raise Retry(f"HTTP {status} from the webhook")
    if status >= 300:
        raise Permanent(f"HTTP {status} from the webhook: {text[:200]}")
    return status, text
