"""The one way in for free text from outside (issue 14): Slack, PagerDuty, Alertmanager, IaC, CLI.

Every use case passes each free-text field through :func:`clean` before it is stored, logged or
rendered, so no path can forget a step:

1. NULs and control characters go (``\\n`` and ``\\t`` stay; ``\\r\\n`` becomes ``\\n``):
   PostgreSQL refuses ``\\x00`` in text, which lost titles and notes (probe finding 19).
2. The length is bounded per field, so neither storage nor the scrubber sees megabytes.
3. PII is scrubbed (:mod:`domain.governance.scrubber`): what lands in the timeline and in the
   append-only audit trail can never be purged afterwards.

Escaping for Slack mrkdwn is *not* done here: stored text stays what the user wrote (scrubbed);
rendering escapes it (:func:`bot.slack_ui.mrkdwn.escape`).
"""
from __future__ import annotations

import re

from domain.governance.scrubber import scrub

# Characters kept per field. Titles were already cut at 500; a description fills one Slack
# section (3000); a note or update is a message, not a file.
CAPS: dict[str, int] = {
    "title": 500,
    "description": 3000,
    "note": 8000,
    "reason": 1000,
    "update": 3000,
    "action": 500,
    "label": 64,
    "text": 3000,
}
ELLIPSIS = "…"
# C0 controls except \t and \n, DEL, C1 controls, and the bidi overrides that can disguise text
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """Drop NULs and control characters; keep newlines and tabs."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def clean(text: str | None, field: str = "text") -> str:
    """Controls stripped, length bounded, PII scrubbed: what may be stored for ``field``."""
    if not text:
        return ""
    cap = CAPS.get(field, CAPS["text"])
    # cut before scrubbing so its cost is bounded, with room for placeholders that shorten text
    text = strip_controls(text[:cap * 4])
    text = scrub(text) or ""
    return text if len(text) <= cap else text[:cap - 1].rstrip() + ELLIPSIS


def clean_optional(text: str | None, field: str = "text") -> str | None:
    """:func:`clean`, keeping ``None`` (and empty text) as ``None``."""
    cleaned = clean(text, field).strip() if text is not None else ""
    return cleaned or None
