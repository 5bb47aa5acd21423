"""The stand-in's vocabulary: workspace constants, recorded calls, faults, channels, and the
argument helpers every Web API method shares (flags, JSON-in-form fields, cursors)."""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

JSON = dict[str, Any]

TEAM_ID = "T0STANDIN"
TEAM_DOMAIN = "standin"
TEAM_NAME = "Stand-in Workspace"
BOT_USER_ID = "U0INCBOT"
BOT_ID = "B0INCBOT"
APP_ID = "A0INCBOT"
BOT_NAME = "incident-bot"
DEFAULT_INCIDENT_CHANNEL = "ml-incidents"
DEFAULT_INCIDENT_CHANNEL_ID = "C0INCIDENT"
GENERAL_CHANNEL_ID = "C0GENERAL"

SEED_USERS: tuple[tuple[str, str, str, str], ...] = (
    ("U0DECLARER", "alice", "alice@example.com", "Alice Declarer"),
    ("U0RESPOND", "bob", "bob@example.com", "Bob Responder"),
    ("U0ONCALL", "carol", "carol@example.com", "Carol Oncall"),
    ("U0MLLEAD", "dave", "dave@example.com", "Dave Lead"),
)

CHANNEL_NAME_MAX = 80
TOPIC_MAX = 250
PURPOSE_MAX = 250
TEXT_MAX = 40_000
MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
RESPONSE_URL_USES = 5
RESPONSE_URL_TTL = 30 * 60
_NAME_OK = re.compile(r"^[a-z0-9_\-]+$")
_NAME_PUNCT_ONLY = re.compile(r"^[\-_]+$")
_REACTION_NAME = re.compile(r"^[a-z0-9_+\-']+$")
_TOKEN = re.compile(r"^xox[abpe]-")
_SYSTEM_SUBTYPES = {"channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name",
                    "channel_archive", "channel_unarchive", "pinned_item"}
_BLOCK_TYPES = {"section", "divider", "header", "context", "actions", "image", "input", "rich_text",
                "file", "video", "markdown", "call", "table", "context_actions"}
_STATUS_ERRORS = {500: "internal_error", 502: "fatal_error", 503: "service_unavailable",
                  504: "request_timeout"}



class SlackError(Exception):
    """An API-level failure: Slack answers these with HTTP 200 and ``ok: false``."""

    def __init__(self, error: str, *, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra


@dataclass
class Call:
    """One request the bot made, as recorded for assertions (the token is never recorded)."""

    method: str
    params: JSON
    time: float
    http_method: str = "POST"
    status: int = 0
    ok: bool | None = None
    error: str | None = None
    response: JSON | None = None
    #: an injected fault that hit this call after it was performed: ``"fail_after"``,
    #: ``"drop_after"`` or ``"delay_after"`` (the work was done; the answer was lost or late)
    fault: str | None = None
    #: for an ``*_after`` fault, the answer Slack would have given (``response`` is what was sent)
    performed: JSON | None = None


@dataclass
class _Fault:
    """A queued injected failure, consumed one request at a time."""

    kind: Literal["status", "ratelimit", "error", "drop", "fail_after", "drop_after", "delay_after"]
    remaining: int
    method: str | None
    status: int = 503
    retry_after: int = 1
    error: str = ""
    delay: float = 0.0


@dataclass
class _Channel:
    """Workspace-side state of one conversation."""

    id: str
    name: str
    created: int
    creator: str
    is_private: bool = False
    is_im: bool = False
    is_general: bool = False
    is_archived: bool = False
    im_user: str | None = None
    topic: JSON = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    purpose: JSON = field(default_factory=lambda: {"value": "", "creator": "", "last_set": 0})
    members: list[str] = field(default_factory=list)
    messages: list[JSON] = field(default_factory=list)
    by_ts: dict[str, JSON] = field(default_factory=dict)
    pins: list[str] = field(default_factory=list)
    previous_names: list[str] = field(default_factory=list)



def _ts_key(ts: str) -> tuple[int, int]:
    """Order Slack timestamps exactly (float parsing loses microseconds around 1.7e9)."""
    sec, _, frac = str(ts).partition(".")
    try:
        return int(sec or 0), int((frac + "000000")[:6] or 0)
    except ValueError as exc:
        raise SlackError("invalid_arguments") from exc


def _bool(value: Any) -> bool:
    """Slack accepts true/false, 1/0 and JSON booleans for flags."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _json_field(value: Any, error: str) -> Any:
    """Fields like ``blocks`` and ``view`` arrive as JSON strings in form posts, as objects in JSON."""
    if value is None or isinstance(value, list | dict):
        return value
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SlackError(error) from exc
    raise SlackError(error)


def _metadata(params: JSON) -> JSON | None:
    """Message ``metadata``: ``{"event_type": str, "event_payload": {...}}``, a JSON string in form
    posts or an object in JSON bodies. Slack refuses the message when it is malformed."""
    raw = params.get("metadata")
    if raw is None or raw == "":
        return None
    value = _json_field(raw, "invalid_metadata_format")
    if not isinstance(value, dict):
        raise SlackError("invalid_metadata_format")
    event_type = value.get("event_type")
    if not isinstance(event_type, str) or not event_type or not isinstance(value.get("event_payload"), dict):
        raise SlackError("invalid_metadata_schema")
    return {"event_type": event_type, "event_payload": copy.deepcopy(value["event_payload"])}


def _require(params: JSON, name: str) -> str:
    """Missing arguments get Slack's generic ``invalid_arguments`` with a pointer message."""
    value = params.get(name)
    if value is None or value == "":
        raise SlackError("invalid_arguments",
                         response_metadata={"messages": [f"[ERROR] missing required field: {name}"]})
    return str(value)


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str) -> int:
    try:
        prefix, _, number = base64.b64decode(cursor.encode()).decode().partition(":")
        if prefix != "offset":
            raise ValueError(cursor)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SlackError("invalid_cursor") from exc


def _page(items: list[Any], params: JSON, default_limit: int = 100) -> tuple[list[Any], str]:
    """Cursor pagination the way Slack does it: opaque cursor, empty ``next_cursor`` at the end."""
    try:
        limit = int(params.get("limit") or default_limit)
    except ValueError as exc:
        raise SlackError("invalid_limit") from exc
    limit = max(1, min(limit, 1000))
    cursor = str(params.get("cursor") or "")
    start = _decode_cursor(cursor) if cursor else 0
    end = start + limit
    return items[start:end], (_encode_cursor(end) if end < len(items) else "")


Handler = Callable[[JSON], JSON]
CallHook = Callable[["Call"], "Awaitable[JSON | None] | JSON | None"]
