"""Which incident events go to webhook subscribers, under which names (issue 17). Pure."""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from domain.model import DomainError

DISABLE_AFTER = timedelta(days=3)  # a subscriber failing this long is disabled (settings override)

EVENT_NAMES = ("incident.created", "incident.acknowledged", "incident.mitigated",
               "incident.resolved", "incident.reopened", "incident.closed",
               "incident.severity_changed", "incident.assigned", "incident.note_added")


def event_name(action: str, details: dict[str, Any]) -> str | None:
    """The public event name of an audited incident action (None: not published)."""
    if action == "incident.status_updated":
        to, was = details.get("to"), details.get("from")
        if to == "investigating":
            return "incident.acknowledged" if was == "open" else "incident.reopened"
        return f"incident.{to}" if to in ("mitigated", "resolved", "closed") else None
    if action in ("incident.created", "incident.severity_changed", "incident.assigned",
                  "incident.note_added"):
        return action
    return None


def parse_patterns(patterns: Iterable[str]) -> list[str]:
    """``incident.*`` or exact names; a pattern that matches no event is refused (a typo)."""
    parsed = [p.strip() for p in patterns if p.strip()]
    if not parsed:
        raise DomainError("Say which events: e.g. --events 'incident.*'")
    for pattern in parsed:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in EVENT_NAMES):
            raise DomainError(f"`{pattern}` matches no event; events are: {', '.join(EVENT_NAMES)}.")
    return parsed


def wants(patterns: Iterable[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Incident-Bot-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`` (Stripe's
    scheme: the timestamp is signed too, so a captured delivery cannot be replayed later)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """What a subscriber does with the header (documented in the README; used by the tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)
