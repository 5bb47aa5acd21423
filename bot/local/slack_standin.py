"""A local stand-in for the Slack Web API, for the demo and for end-to-end tests.

Why: the bot talks to Slack through the real ``slack_sdk`` ``AsyncWebClient``; pointing its
``base_url`` here lets the whole product run with no Slack workspace and lets tests see exactly
what the bot asked Slack to do. Responses copy the shape of Slack's real Web API (HTTP 200 with
``ok: false`` and Slack's own error strings for API errors, HTTP 429 + ``Retry-After`` for rate
limits), so code that works here has been exercised against the contract it will meet in
production. Where real Slack silently accepts something that is almost certainly a bug (a reply
to a message that does not exist, a file uploaded with a wrong length) the stand-in still answers
like Slack but notes it in :attr:`SlackStandIn.anomalies` so tests can fail on it.

Routes served (all under the base URL's origin):

* ``/api/<method>``          Web API methods (GET or POST; query string, form or JSON bodies).
* ``/upload/v1/<id>``        the ``upload_url`` handed out by ``files.getUploadURLExternal``.
* ``/files/<id>/<name>``     ``url_private`` downloads of uploaded files (needs the bot token).
* ``/response/<id>``         ``response_url`` targets for slash commands and interactions; they
                             are minted with :meth:`SlackStandIn.new_response_url` (the
                             :class:`bot.local.slack_driver.SlackDriver` does this) and recorded in
                             :attr:`SlackStandIn.responses`.

Faults real Slack shows: refused work (:meth:`SlackStandIn.fail_next`, ``rate_limit_next``,
``error_next``, ``drop_next``), outages (``set_down``, ``go_offline``), slowness (``set_latency``),
and work done whose answer is lost or late (:meth:`SlackStandIn.fail_after_next`,
``drop_after_next``, ``delay_after_next``; such calls carry ``fault`` and ``performed``).
Message ``metadata`` is stored and returned by ``conversations.history`` / ``replies`` only with
``include_all_metadata``, as Slack does.

Everything runs on one asyncio loop and every handler mutates state without awaiting in the
middle, so many concurrent requests are safe without locks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import inspect
import json
import mimetypes
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

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


def _text_len_errors(obj: Any, pointer: str, max_len: int, *, plain_only: bool = False,
                     required: bool = True) -> list[str]:
    """Validate a composition text object the way Block Kit does."""
    if obj is None:
        return [f"missing required field: {pointer.rsplit('/', 1)[-1]} [json-pointer:{pointer}]"] \
            if required else []
    if not isinstance(obj, dict) or obj.get("type") not in {"plain_text", "mrkdwn"}:
        return [f"must provide an object [json-pointer:{pointer}]"]
    if plain_only and obj.get("type") != "plain_text":
        return [f"must be a plain_text object [json-pointer:{pointer}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or len(text) == 0:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _element_errors(element: Any, pointer: str) -> list[str]:
    """Interactive elements: the limits the bot is most likely to trip over."""
    if not isinstance(element, dict) or "type" not in element:
        return [f"must provide an object with a type [json-pointer:{pointer}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > 255):
        errors.append(f"must be less than 256 characters [json-pointer:{pointer}/action_id]")
    if element["type"] == "button":
        errors += _text_len_errors(element.get("text"), f"{pointer}/text", 75, plain_only=True)
        if len(str(element.get("value", ""))) > 2000:
            errors.append(f"must be less than 2001 characters [json-pointer:{pointer}/value]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{pointer}/style]")
    if element["type"] in {"static_select", "multi_static_select", "radio_buttons", "checkboxes",
                           "overflow"} and "option_groups" not in element:
        options = element.get("options")
        if not isinstance(options, list) or not options:
            errors.append(f"must provide options [json-pointer:{pointer}/options]")
        elif len(options) > 100:
            errors.append(f"must provide at most 100 items [json-pointer:{pointer}/options]")
        else:
            for i, option in enumerate(options):
                if not isinstance(option, dict) or "value" not in option:
                    errors.append(f"must provide a value [json-pointer:{pointer}/options/{i}]")
                    continue
                errors += _text_len_errors(option.get("text"), f"{pointer}/options/{i}/text", 75)
    return errors


def validate_blocks(blocks: Any, *, max_blocks: int = MESSAGE_BLOCKS_MAX, root: str = "/blocks") -> list[str]:
    """Return Block Kit errors Slack would report (empty list when Slack would accept the blocks)."""
    if not isinstance(blocks, list):
        return [f"must provide an array [json-pointer:{root}]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"must provide at most {max_blocks} items [json-pointer:{root}]")
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"{root}/{i}"
        if not isinstance(block, dict):
            errors.append(f"must provide an object [json-pointer:{ptr}]")
            continue
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            errors.append(f"unsupported type: {kind} [json-pointer:{ptr}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                errors.append(f"must be 1-255 characters [json-pointer:{ptr}/block_id]")
            elif block_id in seen_ids:
                errors.append(f"duplicate block_id: {block_id} [json-pointer:{ptr}/block_id]")
            else:
                seen_ids.add(block_id)
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{ptr}]")
            if "text" in block:
                errors += _text_len_errors(block["text"], f"{ptr}/text", 3000)
            fields = block.get("fields")
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > 10:
                    errors.append(f"must provide at most 10 items [json-pointer:{ptr}/fields]")
                else:
                    for j, item in enumerate(fields):
                        errors += _text_len_errors(item, f"{ptr}/fields/{j}", 2000)
            if "accessory" in block:
                errors += _element_errors(block["accessory"], f"{ptr}/accessory")
        elif kind == "header":
            errors += _text_len_errors(block.get("text"), f"{ptr}/text", 150, plain_only=True)
        elif kind in {"context", "actions"}:
            elements = block.get("elements")
            limit = 10 if kind == "context" else 25
            if not isinstance(elements, list) or not elements:
                errors.append(f"must provide elements [json-pointer:{ptr}/elements]")
            elif len(elements) > limit:
                errors.append(f"must provide at most {limit} items [json-pointer:{ptr}/elements]")
            elif kind == "actions":
                action_ids: set[str] = set()
                for j, element in enumerate(elements):
                    errors += _element_errors(element, f"{ptr}/elements/{j}")
                    aid = element.get("action_id") if isinstance(element, dict) else None
                    if aid is not None and aid in action_ids:
                        errors.append(f"duplicate action_id: {aid} [json-pointer:{ptr}/elements/{j}]")
                    elif aid is not None:
                        action_ids.add(aid)
        elif kind == "input":
            errors += _text_len_errors(block.get("label"), f"{ptr}/label", 2000, plain_only=True)
            if "element" not in block:
                errors.append(f"missing required field: element [json-pointer:{ptr}]")
            else:
                errors += _element_errors(block["element"], f"{ptr}/element")
        elif kind == "image":
            if not block.get("image_url") and not block.get("slack_file"):
                errors.append(f"missing required field: image_url [json-pointer:{ptr}]")
            if not block.get("alt_text"):
                errors.append(f"missing required field: alt_text [json-pointer:{ptr}]")
    return errors


def validate_view(view: Any) -> list[str]:
    """Return the errors Slack gives for a malformed modal or Home tab view."""
    if not isinstance(view, dict):
        return ["must provide an object [json-pointer:/view]"]
    errors: list[str] = []
    kind = view.get("type")
    if kind not in {"modal", "home"}:
        return ["must be one of modal, home [json-pointer:/view/type]"]
    if kind == "modal":
        errors += _text_len_errors(view.get("title"), "/view/title", 24, plain_only=True)
        for key in ("submit", "close"):
            if key in view and view[key] is not None:
                errors += _text_len_errors(view[key], f"/view/{key}", 24, plain_only=True)
        has_inputs = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_inputs and not view.get("submit"):
            errors.append("must provide submit when there are input blocks [json-pointer:/view/submit]")
    errors += validate_blocks(view.get("blocks", []), max_blocks=VIEW_BLOCKS_MAX, root="/view/blocks")
    for key, limit in (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255)):
        if len(str(view.get(key) or "")) > limit:
            errors.append(f"must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    return errors


Handler = Callable[[JSON], JSON]
CallHook = Callable[[Call], "Awaitable[JSON | None] | JSON | None"]


class SlackStandIn:
    """An in-process Slack workspace speaking the Web API over HTTP.

    Start it, give its :attr:`url` to ``AsyncWebClient(base_url=...)``, then inspect what the bot
    did through :attr:`calls`, :meth:`messages`, :meth:`thread`, :attr:`files`, :attr:`pins`, ...
    """

    def __init__(self, *, incident_channel: str = DEFAULT_INCIDENT_CHANNEL,
                 incident_channel_id: str = DEFAULT_INCIDENT_CHANNEL_ID,
                 bot_token: str | None = None, seed_users: bool = True,
                 chat_write_public: bool = True, trigger_ttl: float = 3.0,
                 strict_trigger_ids: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        """Configure the workspace; ``bot_token=None`` accepts any ``xox?-`` token."""
        self.bot_token = bot_token
        self.chat_write_public = chat_write_public
        self.trigger_ttl = trigger_ttl
        self.strict_trigger_ids = strict_trigger_ids
        self.clock = clock
        self.incident_channel_name = incident_channel.lstrip("#")
        self.incident_channel_id = incident_channel_id

        self.calls: list[Call] = []
        self.files: list[JSON] = []
        self.pins: list[JSON] = []
        self.ephemerals: list[JSON] = []
        self.opened_views: list[JSON] = []
        self.published_views: dict[str, JSON] = {}
        self.responses: list[JSON] = []
        self.anomalies: list[str] = []
        self.latency: float = 0.0
        self.method_latency: dict[str, float] = {}
        self.on_call: CallHook | None = None

        self._users: dict[str, JSON] = {}
        self._usergroups: dict[str, JSON] = {}
        self._channels: dict[str, _Channel] = {}
        self._views: dict[str, JSON] = {}
        self._uploads: dict[str, JSON] = {}
        self._response_urls: dict[str, JSON] = {}
        self._triggers: dict[str, JSON] = {}
        self._faults: list[_Fault] = []
        self._after_faults: list[_Fault] = []
        self._down: Literal["", "503", "drop"] = ""
        self._offline = False
        self._last_ts_us = 0
        self._counter = 0
        self._tick: asyncio.Event | None = None

        self._sockets: list[web.WebSocketResponse] = []
        self._socket_acks: dict[str, asyncio.Future[JSON]] = {}
        self.socket_connections = 0  # how many Socket Mode connections were ever opened

        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self.url = ""  # the Web API base URL, ends with /api/
        self.origin = ""  # scheme://host:port

        self._methods: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.create": self._conversations_create,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.setPurpose": self._conversations_set_purpose,
            "conversations.invite": self._conversations_invite,
            "conversations.kick": self._conversations_kick,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.archive": self._conversations_archive,
            "conversations.unarchive": self._conversations_unarchive,
            "conversations.rename": self._conversations_rename,
            "conversations.list": self._conversations_list,
            "conversations.members": self._conversations_members,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.open": self._conversations_open,
            "pins.add": self._pins_add,
            "pins.remove": self._pins_remove,
            "pins.list": self._pins_list,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "apps.connections.open": self._apps_connections_open,
        }
        self._seed(seed_users)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0 picks a free port) and return the ``.../api/`` base URL."""
        self._tick = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{upload_id}", self._handle_upload)
        app.router.add_get("/files/{file_id}/{name}", self._handle_download)
        app.router.add_post("/response/{response_id}", self._handle_response_url)
        app.router.add_get("/socket-mode", self._handle_socket)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._host = host
        self._site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await self._site.start()
        self._port = int(self._runner.addresses[0][1])
        self.origin = f"http://{host}:{self._port}"
        self.url = f"{self.origin}/api/"
        return self.url

    async def stop(self) -> None:
        """Close the listener and every open connection."""
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._site = None

    async def __aenter__(self) -> SlackStandIn:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ workspace setup

    def _seed(self, seed_users: bool) -> None:
        """A small, deterministic workspace: enough people and channels for incident drills."""
        self._users[BOT_USER_ID] = self._user_obj(BOT_USER_ID, BOT_NAME, None, "Incident Bot", is_bot=True)
        if seed_users:
            for uid, name, email, real_name in SEED_USERS:
                self.add_user(uid, name, email, real_name=real_name)
        people = [u for u in self._users if u != BOT_USER_ID]
        self._channels[GENERAL_CHANNEL_ID] = _Channel(
            id=GENERAL_CHANNEL_ID, name="general", created=int(self.clock()), creator=people[0] if people
            else BOT_USER_ID, is_general=True, members=list(people))
        self.add_channel(self.incident_channel_name, channel_id=self.incident_channel_id,
                         members=[*people, BOT_USER_ID])

    def _user_obj(self, uid: str, name: str, email: str | None, real_name: str, *,
                  is_bot: bool = False, is_admin: bool = False, tz: str = "Europe/London") -> JSON:
        profile: JSON = {
            "title": "", "phone": "", "skype": "", "real_name": real_name,
            "real_name_normalized": real_name, "display_name": name, "display_name_normalized": name,
            "fields": None, "status_text": "", "status_emoji": "", "status_expiration": 0,
            "avatar_hash": "g" + uid[-11:].lower(), "first_name": real_name.split(" ")[0],
            "last_name": " ".join(real_name.split(" ")[1:]), "team": TEAM_ID,
            "image_24": f"https://example.invalid/avatars/{uid}_24.png",
            "image_48": f"https://example.invalid/avatars/{uid}_48.png",
            "image_72": f"https://example.invalid/avatars/{uid}_72.png",
        }
        if email:
            profile["email"] = email
        if is_bot:
            profile.update({"bot_id": BOT_ID, "api_app_id": APP_ID, "always_active": True})
        return {
            "id": uid, "team_id": TEAM_ID, "name": name, "deleted": False, "color": "9f69e7",
            "real_name": real_name, "tz": tz, "tz_label": "Greenwich Mean Time", "tz_offset": 0,
            "profile": profile, "is_admin": is_admin, "is_owner": False, "is_primary_owner": False,
            "is_restricted": False, "is_ultra_restricted": False, "is_bot": is_bot,
            "is_app_user": False, "updated": int(self.clock()), "is_email_confirmed": bool(email),
            "who_can_share_contact_card": "EVERYONE",
        }

    def add_user(self, user_id: str, name: str, email: str | None = None, *, real_name: str | None = None,
                 is_admin: bool = False, tz: str = "Europe/London") -> JSON:
        """Add (or replace) a workspace member; returns the ``users.info`` user object."""
        user = self._user_obj(user_id, name, email, real_name or name.title(), is_admin=is_admin, tz=tz)
        self._users[user_id] = user
        general = self._channels.get(GENERAL_CHANNEL_ID)
        if general is not None and user_id not in general.members:
            general.members.append(user_id)
        return copy.deepcopy(user)

    def deactivate_user(self, user_id: str) -> None:
        """Mark a user deleted, as when someone leaves the company."""
        self._users[user_id]["deleted"] = True

    def add_usergroup(self, handle: str, user_ids: Iterable[str], *, name: str | None = None,
                      description: str = "", group_id: str | None = None) -> str:
        """Create a user group (``@handle``) and return its ``S...`` id."""
        gid = group_id or self._new_id("S")
        now = int(self.clock())
        self._usergroups[gid] = {
            "id": gid, "team_id": TEAM_ID, "is_usergroup": True, "is_subteam": True,
            "name": name or handle, "description": description, "handle": handle, "is_external": False,
            "date_create": now, "date_update": now, "date_delete": 0, "auto_type": None,
            "created_by": BOT_USER_ID, "updated_by": BOT_USER_ID, "deleted_by": None,
            "prefs": {"channels": [], "groups": []}, "users": list(user_ids), "user_count": 0,
        }
        self._usergroups[gid]["user_count"] = len(self._usergroups[gid]["users"])
        return gid

    def add_channel(self, name: str, *, channel_id: str | None = None, members: Iterable[str] = (),
                    is_private: bool = False, creator: str = BOT_USER_ID) -> str:
        """Pre-create a conversation (the bot is a member only if listed) and return its id."""
        cid = channel_id or self._new_id("C")
        self._channels[cid] = _Channel(id=cid, name=name.lstrip("#"), created=int(self.clock()),
                                       creator=creator, is_private=is_private, members=list(members))
        return cid

    def add_member(self, channel: str, user: str = BOT_USER_ID) -> None:
        """Someone (by default an admin inviting the bot) adds ``user`` to a conversation."""
        ch = self._lookup_channel(self.channel_id(channel))
        if ch is None:
            raise KeyError(f"no channel {channel!r}")
        if user not in ch.members:
            ch.members.append(user)

    def add_user_message(self, channel: str, user: str, text: str, *, thread_ts: str | None = None,
                         ts: str | None = None, blocks: list[JSON] | None = None,
                         subtype: str | None = None) -> JSON:
        """Record a message a human posted (what Slack stores before it sends the event)."""
        ch = self._lookup_channel(channel)
        if ch is None:
            raise KeyError(f"no channel {channel!r}")
        message: JSON = {"type": "message", "user": user, "text": text, "ts": ts or self.next_ts(),
                         "team": TEAM_ID}
        if subtype:
            message["subtype"] = subtype
        if blocks:
            message["blocks"] = blocks
        else:
            message["blocks"] = [{"type": "rich_text", "block_id": self._block_id(), "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]}]
        self._store_message(ch, message, thread_ts)
        self._notify()
        return copy.deepcopy(message)

    # ------------------------------------------------------------------ fault injection

    def fail_next(self, n: int = 1, status: int = 503, *, method: str | None = None) -> None:
        """The next ``n`` API calls (of ``method``, if given) answer HTTP ``status`` (5xx)."""
        if status == 429:
            self.rate_limit_next(n, method=method)
            return
        self._faults.append(_Fault("status", n, method, status=status,
                                   error=_STATUS_ERRORS.get(status, "internal_error")))

    def rate_limit_next(self, n: int = 1, retry_after: int = 1, *, method: str | None = None) -> None:
        """The next ``n`` API calls answer 429 with ``Retry-After`` like Slack's rate limiter."""
        self._faults.append(_Fault("ratelimit", n, method, status=429, retry_after=retry_after,
                                   error="ratelimited"))

    def error_next(self, method: str, error: str, n: int = 1) -> None:
        """The next ``n`` calls of ``method`` answer HTTP 200 ``{"ok": false, "error": error}``."""
        self._faults.append(_Fault("error", n, method, status=200, error=error))

    def drop_next(self, n: int = 1, *, method: str | None = None) -> None:
        """The next ``n`` API calls have their connection cut before any response is written."""
        self._faults.append(_Fault("drop", n, method))

    def fail_after_next(self, n: int = 1, status: int = 500, *, method: str | None = None) -> None:
        """The next ``n`` API calls (of ``method``, if given) are performed, then answer HTTP
        ``status`` with ``{"ok": false, "error": "internal_error"}``: the answer is lost after the
        work was done (the message is posted, the channel created...), as Slack sometimes does.
        """
        self._after_faults.append(_Fault("fail_after", n, method, status=status, error="internal_error"))

    def drop_after_next(self, n: int = 1, *, method: str | None = None) -> None:
        """The next ``n`` API calls are performed, then their connection is cut with no answer.

        slack_sdk's default ``AsyncConnectionErrorRetryHandler`` retries such a POST by itself,
        so with a default client the call is performed twice.
        """
        self._after_faults.append(_Fault("drop_after", n, method))

    def delay_after_next(self, seconds: float, n: int = 1, *, method: str | None = None) -> None:
        """The next ``n`` API calls are performed at once, then answered only after ``seconds``
        (set it past the client's timeout to make the client give up on work that was done).
        """
        self._after_faults.append(_Fault("delay_after", n, method, delay=seconds))

    def clear_faults(self) -> None:
        """Forget queued faults and bring the service back up."""
        self._faults.clear()
        self._after_faults.clear()
        self._down = ""

    def set_down(self, down: bool = True, *, refuse: bool = False) -> None:
        """Simulate an outage of every route: 503 ``service_unavailable``, or cut connections.

        With ``refuse=True`` each request's connection is closed with no response (the client
        sees a disconnect). For a real ECONNREFUSED use :meth:`go_offline`.
        """
        self._down = ("drop" if refuse else "503") if down else ""

    async def go_offline(self) -> None:
        """Stop listening so new connections are refused; cut requests on kept-alive ones."""
        self._offline = True
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def go_online(self) -> None:
        """Listen again on the same port after :meth:`go_offline`."""
        self._offline = False
        if self._site is None and self._runner is not None:
            self._site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
            await self._site.start()

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """Delay every call (or only ``method``) by ``seconds`` before it is answered."""
        if method is None:
            self.latency = seconds
        else:
            self.method_latency[method] = seconds

    # ------------------------------------------------------------------ inspection

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one API method, oldest first."""
        return [c for c in self.calls if c.method == method]

    def channel_by_name(self, name: str) -> JSON | None:
        """The ``conversations.info`` channel object for ``name`` (``#`` optional), or None."""
        ch = self._by_name(name)
        return self._channel_obj(ch, include_num_members=True) if ch else None

    def channel(self, name_or_id: str) -> JSON | None:
        """The channel object for an id, a name or ``#name`` (None if unknown)."""
        ch = self._lookup_channel(name_or_id)
        return self._channel_obj(ch, include_num_members=True) if ch else None

    def user(self, user_id: str) -> JSON | None:
        """The ``users.info`` object of a workspace member (None if unknown)."""
        found = self._users.get(user_id)
        return copy.deepcopy(found) if found else None

    def channel_id(self, name_or_id: str) -> str:
        """Resolve a channel name or id to its id (KeyError if unknown)."""
        ch = self._lookup_channel(name_or_id)
        if ch is None:
            raise KeyError(name_or_id)
        return ch.id

    @property
    def channels(self) -> list[JSON]:
        """Every conversation as a channel object."""
        return [self._channel_obj(ch, include_num_members=True) for ch in self._channels.values()]

    def messages(self, channel: str, *, system: bool = False) -> list[JSON]:
        """All messages in ``channel`` (top-level and replies) oldest first.

        Join/topic/purpose notices are left out unless ``system=True``.
        """
        ch = self._lookup_channel(channel)
        if ch is None:
            return []
        return [copy.deepcopy(m) for m in ch.messages
                if system or m.get("subtype") not in _SYSTEM_SUBTYPES]

    def top_level(self, channel: str) -> list[JSON]:
        """Only the messages shown in the channel itself (no thread replies), oldest first."""
        return [m for m in self.messages(channel) if self._is_top_level(m)]

    def thread(self, channel: str, ts: str) -> list[JSON]:
        """The parent message with ``ts`` followed by its replies, oldest first."""
        ch = self._lookup_channel(channel)
        if ch is None or ts not in ch.by_ts:
            return []
        return [copy.deepcopy(m) for m in ch.messages
                if m["ts"] == ts or (m.get("thread_ts") == ts and m["ts"] != ts)]

    def message(self, channel: str, ts: str) -> JSON | None:
        """One stored message by channel and ts."""
        ch = self._lookup_channel(channel)
        found = ch.by_ts.get(ts) if ch else None
        return copy.deepcopy(found) if found else None

    def topic(self, channel: str) -> str:
        """The current topic text of a channel."""
        ch = self._lookup_channel(channel)
        return ch.topic["value"] if ch else ""

    def purpose(self, channel: str) -> str:
        """The current purpose text of a channel."""
        ch = self._lookup_channel(channel)
        return ch.purpose["value"] if ch else ""

    def members(self, channel: str) -> list[str]:
        """User ids in a channel, in join order."""
        ch = self._lookup_channel(channel)
        return list(ch.members) if ch else []

    def pinned(self, channel: str) -> list[str]:
        """Timestamps of the messages pinned in a channel."""
        ch = self._lookup_channel(channel)
        return list(ch.pins) if ch else []

    def file_content(self, file_id: str) -> bytes | None:
        """The bytes uploaded for ``file_id``."""
        for f in self.files:
            if f["id"] == file_id:
                return f["content"]
        upload = self._uploads.get(file_id)
        return upload["content"] if upload else None

    def view(self, view_id: str) -> JSON | None:
        """The current state of an opened, pushed or published view."""
        found = self._views.get(view_id)
        return copy.deepcopy(found) if found else None

    def latest_view(self, callback_id: str | None = None) -> JSON | None:
        """The most recently opened modal, optionally with a given ``callback_id``."""
        for view in reversed(self.opened_views):
            if callback_id is None or view.get("callback_id") == callback_id:
                return copy.deepcopy(view)
        return None

    async def wait_until(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked after every change); return its value.

        Why: the bot talks to Slack from background outbox workers, so tests must wait for effects.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {within}s")
            tick = self._tick or asyncio.Event()
            self._tick = tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tick.wait(), min(remaining, 0.25))

    async def wait_for_call(self, method: str, *, count: int = 1, within: float = 5.0) -> list[Call]:
        """Wait until ``method`` has been called at least ``count`` times."""
        return await self.wait_until(
            lambda: len(self.calls_to(method)) >= count and self.calls_to(method), within)

    # ------------------------------------------------------------------ response_url and triggers

    def new_response_url(self, *, channel_id: str | None, user_id: str, message_ts: str | None = None,
                         thread_ts: str | None = None, is_ephemeral: bool = False) -> str:
        """Mint a ``response_url`` like the ones in slash-command and interaction payloads."""
        rid = secrets.token_hex(12)
        self._response_urls[rid] = {"channel": channel_id, "user": user_id, "message_ts": message_ts,
                                    "thread_ts": thread_ts, "is_ephemeral": is_ephemeral, "uses": 0,
                                    "created": self.clock()}
        return f"{self.origin}/response/{rid}"

    def issue_trigger_id(self, user_id: str = "") -> str:
        """A ``trigger_id`` that ``views.open`` accepts once, within ``trigger_ttl`` seconds."""
        trigger = f"{int(self.clock())}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"
        self._triggers[trigger] = {"user": user_id, "issued": time.monotonic(), "used": False}
        return trigger

    # ------------------------------------------------------------------ HTTP plumbing

    def _notify(self) -> None:
        """Wake everyone in :meth:`wait_until`; a fresh event serves the next round."""
        if self._tick is not None:
            self._tick.set()
        self._tick = asyncio.Event()

    def next_ts(self) -> str:
        """Unique, strictly increasing message timestamps with microsecond digits."""
        now_us = int(self.clock() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}0{self._counter:08X}"

    def _block_id(self) -> str:
        return secrets.token_urlsafe(4)[:5]

    def _take_fault(self, method: str, queue: list[_Fault] | None = None) -> _Fault | None:
        faults = self._faults if queue is None else queue
        for fault in faults:
            if fault.method is None or fault.method == method:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
                return fault
        return None

    async def _read_params(self, request: web.Request) -> JSON:
        """Merge query string, form and JSON bodies: slack_sdk uses all three."""
        params: JSON = dict(request.query)
        if request.method != "POST" or not request.body_exists:
            return params
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.read()
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError as exc:
                raise SlackError("invalid_json") from exc
            if not isinstance(body, dict):
                raise SlackError("json_not_object")
            params.update(body)
        elif ctype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            form = await request.post()
            for key, value in form.items():
                params[key] = value.file.read() if isinstance(value, web.FileField) else value
        else:
            await request.read()
        return params

    def _check_token(self, request: web.Request, params: JSON) -> None:
        """Slack wants ``Authorization: Bearer`` (or a ``token`` param); no token is ``not_authed``."""
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        token = token or str(params.get("token") or "")
        if not token:
            raise SlackError("not_authed")
        valid = token == self.bot_token if self.bot_token else bool(_TOKEN.match(token))
        if not valid:
            raise SlackError("invalid_auth")

    @staticmethod
    def _check_app_token(request: web.Request, params: JSON) -> None:
        """``apps.connections.open`` takes only an app-level ``xapp-`` token, as in Slack."""
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else str(params.get("token") or "")
        if not token:
            raise SlackError("not_authed")
        if token.startswith("xox"):
            raise SlackError("not_allowed_token_type")
        if not token.startswith("xapp-"):
            raise SlackError("invalid_auth")

    # ------------------------------------------------------------------ Socket Mode

    def _apps_connections_open(self, params: JSON) -> JSON:
        ws_origin = self.origin.replace("http://", "ws://", 1)
        return {"url": f"{ws_origin}/socket-mode?ticket={secrets.token_hex(8)}&app_id={APP_ID}"}

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        """A Socket Mode WebSocket: ``hello`` first, then envelopes out and acks back."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.socket_connections += 1
        self._sockets.append(ws)
        self._notify()
        await ws.send_json({"type": "hello", "num_connections": len(self._sockets),
                            "debug_info": {"host": "standin", "approximate_connection_time": 18060},
                            "connection_info": {"app_id": APP_ID}})
        try:
            async for msg in ws:
                if msg.type != web.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except json.JSONDecodeError:
                    self.anomalies.append(f"socket mode: non-JSON frame {msg.data[:80]!r}")
                    continue
                future = self._socket_acks.pop(str(data.get("envelope_id")), None)
                if future is None:
                    self.anomalies.append(f"socket mode: ack for unknown envelope {data.get('envelope_id')}")
                elif not future.done():
                    future.set_result(data.get("payload") or {})
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self._notify()
        return ws

    @property
    def socket_connected(self) -> bool:
        return any(not ws.closed for ws in self._sockets)

    async def socket_deliver(self, envelope_type: str, payload: JSON, *, retry_attempt: int = 0,
                             within: float = 5.0) -> JSON:
        """Send one envelope (``slash_commands``, ``interactive`` or ``events_api``) to the app over
        its Socket Mode connection and return the ``payload`` of its ack (``{}`` for a bare ack).

        Raises ``TimeoutError`` when the app does not ack within ``within`` seconds, as Slack
        would then retry or show the user an error.
        """
        await self.wait_until(lambda: self.socket_connected, within)
        ws = next(ws for ws in self._sockets if not ws.closed)
        envelope_id = str(uuid.uuid4())
        future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._socket_acks[envelope_id] = future
        await ws.send_json({"envelope_id": envelope_id, "type": envelope_type, "payload": payload,
                            "accepts_response_payload": envelope_type != "events_api",
                            "retry_attempt": retry_attempt, "retry_reason": ""})
        try:
            return await asyncio.wait_for(future, within)
        finally:
            self._socket_acks.pop(envelope_id, None)

    def _outage(self, request: web.Request) -> web.StreamResponse | None:
        """Apply ``set_down`` / ``go_offline`` to any route."""
        if self._offline or self._down == "drop":
            return self._cut(request)
        if self._down == "503":
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        return None

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        call = Call(method=method, params={}, time=self.clock(), http_method=request.method)
        self.calls.append(call)
        try:
            outage = self._outage(request)
            if outage is not None:
                call.status, call.ok = outage.status, False
                call.error = "service_unavailable" if self._down == "503" else "connection_dropped"
                return outage
            delay = self.method_latency.get(method, self.latency)
            if delay > 0:
                await asyncio.sleep(delay)
            params = await self._read_params(request)
            call.params = self._recorded(params)
            fault = self._take_fault(method)
            if fault is not None:
                return self._fault_response(call, fault, request)
            if method == "apps.connections.open":
                self._check_app_token(request, params)
            else:
                self._check_token(request, params)
            if self.on_call is not None:
                hooked = self.on_call(call)
                if inspect.isawaitable(hooked):
                    hooked = await hooked
                if isinstance(hooked, dict):
                    return self._respond(call, hooked)
            handler = self._methods.get(method)
            if handler is None:
                raise SlackError("unknown_method", status=404, req_method=method)
            after = self._take_fault(method, self._after_faults)
            status = 200
            try:
                body: JSON = {"ok": True, **handler({k: v for k, v in params.items() if k != "token"})}
            except SlackError as exc:
                body, status = {"ok": False, "error": exc.error, **exc.extra}, exc.status
            if after is None:
                return self._respond(call, body, status=status)
            return await self._after_fault_response(call, after, request, body, status)
        except SlackError as exc:
            return self._respond(call, {"ok": False, "error": exc.error, **exc.extra}, status=exc.status)
        finally:
            self._notify()

    async def _after_fault_response(self, call: Call, fault: _Fault, request: web.Request,
                                    body: JSON, status: int) -> web.StreamResponse:
        """The call was performed (``body`` is Slack's real answer); now lose or delay the answer."""
        call.fault, call.performed = fault.kind, copy.deepcopy(body)
        if fault.kind == "fail_after":
            return self._respond(call, {"ok": False, "error": fault.error}, status=fault.status)
        if fault.kind == "drop_after":
            call.status, call.ok, call.error = 0, False, "connection_dropped"
            return self._cut(request)
        call.status, call.ok, call.error = 0, False, "answer_pending"
        self._notify()  # the effect is visible now; only the answer is late
        await asyncio.sleep(fault.delay)
        return self._respond(call, body, status=status)

    @staticmethod
    def _cut(request: web.Request) -> web.Response:
        """Abort the TCP connection; the response object returned is never written."""
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=503)

    @staticmethod
    def _recorded(params: JSON) -> JSON:
        """A copy of the arguments for :attr:`calls`: no token, JSON-in-form fields decoded."""
        out = copy.deepcopy({k: v for k, v in params.items() if k != "token"})
        for key in ("blocks", "attachments", "view", "files", "metadata"):
            if isinstance(out.get(key), str):
                with contextlib.suppress(json.JSONDecodeError):
                    out[key] = json.loads(out[key])
        return out

    def _respond(self, call: Call, body: JSON, status: int = 200,
                 headers: dict[str, str] | None = None) -> web.Response:
        call.status, call.ok, call.error = status, bool(body.get("ok")), body.get("error")
        call.response = body
        return web.json_response(body, status=status, headers=headers)

    def _fault_response(self, call: Call, fault: _Fault, request: web.Request) -> web.Response:
        if fault.kind == "drop":
            call.status, call.ok, call.error = 0, False, "connection_dropped"
            return self._cut(request)
        headers = {"Retry-After": str(fault.retry_after)} if fault.kind == "ratelimit" else None
        return self._respond(call, {"ok": False, "error": fault.error}, status=fault.status, headers=headers)

    # ------------------------------------------------------------------ lookups

    def _by_name(self, name: str) -> _Channel | None:
        wanted = name.lstrip("#")
        for ch in self._channels.values():
            if ch.name == wanted and not ch.is_im:
                return ch
        return None

    def _lookup_channel(self, channel: str) -> _Channel | None:
        """Inspection helpers accept an id, a name or ``#name``."""
        return self._channels.get(channel) or self._by_name(channel)

    def _channel(self, params: JSON, key: str = "channel", *, allow_name: bool = False,
                 allow_user: bool = False, need_member: bool = False) -> _Channel:
        """Resolve a channel argument with Slack's rules: most methods want an id, not a name."""
        value = str(params.get(key) or "")
        if not value:
            raise SlackError("channel_not_found")
        ch = self._channels.get(value)
        if ch is None and allow_name:
            ch = self._by_name(value)
        if ch is None and allow_user and value in self._users and value != BOT_USER_ID:
            ch = self._im_for(value)
        if ch is None or (ch.is_private and BOT_USER_ID not in ch.members):
            raise SlackError("channel_not_found")
        if need_member and BOT_USER_ID not in ch.members:
            raise SlackError("not_in_channel")
        return ch

    def _im_for(self, user_id: str) -> _Channel:
        for ch in self._channels.values():
            if ch.is_im and ch.im_user == user_id:
                return ch
        cid = self._new_id("D")
        ch = _Channel(id=cid, name=user_id, created=int(self.clock()), creator=BOT_USER_ID, is_im=True,
                      im_user=user_id, members=[BOT_USER_ID, user_id])
        self._channels[cid] = ch
        return ch

    def _user(self, user_id: str) -> JSON:
        user = self._users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return user

    def _channel_obj(self, ch: _Channel, *, include_num_members: bool = False) -> JSON:
        if ch.is_im:
            return {"id": ch.id, "created": ch.created, "is_im": True, "is_org_shared": False,
                    "user": ch.im_user, "is_user_deleted": False, "priority": 0,
                    "context_team_id": TEAM_ID}
        obj: JSON = {
            "id": ch.id, "name": ch.name, "is_channel": True, "is_group": False, "is_im": False,
            "is_mpim": False, "is_private": ch.is_private, "created": ch.created,
            "is_archived": ch.is_archived, "is_general": ch.is_general, "unlinked": 0,
            "name_normalized": ch.name, "is_shared": False, "is_org_shared": False,
            "is_ext_shared": False, "is_pending_ext_shared": False, "pending_shared": [],
            "context_team_id": TEAM_ID, "updated": ch.created * 1000, "parent_conversation": None,
            "creator": ch.creator, "is_member": BOT_USER_ID in ch.members, "last_read": "0000000000.000000",
            "topic": dict(ch.topic), "purpose": dict(ch.purpose), "previous_names": list(ch.previous_names),
            "priority": 0,
        }
        if include_num_members:
            obj["num_members"] = len(ch.members)
        return obj

    @staticmethod
    def _is_top_level(message: JSON) -> bool:
        thread_ts = message.get("thread_ts")
        return thread_ts is None or thread_ts == message["ts"] or message.get("subtype") == "thread_broadcast"

    def _find_message(self, ch: _Channel, ts: Any) -> JSON:
        message = ch.by_ts.get(str(ts or ""))
        if message is None:
            raise SlackError("message_not_found")
        return message

    # ------------------------------------------------------------------ message storage

    def _bot_message(self, text: str, blocks: list[JSON] | None, params: JSON) -> JSON:
        message: JSON = {"user": BOT_USER_ID, "type": "message", "ts": "", "bot_id": BOT_ID,
                         "app_id": APP_ID, "text": text, "team": TEAM_ID,
                         "bot_profile": {"id": BOT_ID, "app_id": APP_ID, "name": BOT_NAME, "icons": {},
                                         "deleted": False, "updated": int(self.clock()), "team_id": TEAM_ID}}
        if blocks is not None:
            message["blocks"] = blocks
        attachments = _json_field(params.get("attachments"), "invalid_attachments")
        if attachments:
            message["attachments"] = attachments
        metadata = _metadata(params)
        if metadata is not None:
            message["metadata"] = metadata
        for key in ("username", "icon_emoji", "icon_url"):
            if params.get(key):
                message[key] = params[key]
        return message

    def _store_message(self, ch: _Channel, message: JSON, thread_ts: str | None,
                       broadcast: bool = False) -> None:
        """Insert in ts order and keep the parent's thread summary fields current."""
        if thread_ts:
            parent = ch.by_ts.get(thread_ts)
            if parent is None:
                self.anomalies.append(f"reply in {ch.id} to unknown thread_ts {thread_ts}")
            elif parent.get("thread_ts") not in (None, parent["ts"]):
                self.anomalies.append(f"thread_ts {thread_ts} in {ch.id} is itself a reply")
                thread_ts = parent["thread_ts"]
                parent = ch.by_ts[thread_ts]
            message["thread_ts"] = thread_ts
            if broadcast:
                message["subtype"] = "thread_broadcast"
            if parent is not None:
                message["parent_user_id"] = parent.get("user")
                users = parent.setdefault("reply_users", [])
                if message.get("user") not in users:
                    users.append(message.get("user"))
                parent.update({"thread_ts": parent["ts"], "reply_count": parent.get("reply_count", 0) + 1,
                               "reply_users_count": len(users), "latest_reply": message["ts"],
                               "is_locked": False, "subscribed": False})
        key = _ts_key(message["ts"])
        index = len(ch.messages)
        while index > 0 and _ts_key(ch.messages[index - 1]["ts"]) > key:
            index -= 1
        ch.messages.insert(index, message)
        ch.by_ts[message["ts"]] = message

    def _system_message(self, ch: _Channel, subtype: str, user: str, text: str, **extra: Any) -> None:
        self._store_message(ch, {"type": "message", "subtype": subtype, "user": user, "text": text,
                                 "ts": self.next_ts(), **extra}, None)

    def _message_content(self, params: JSON) -> tuple[str | None, list[JSON] | None]:
        """Shared post/update checks: ``no_text``, ``msg_too_long``, ``invalid_blocks``."""
        text = params.get("text")
        blocks = _json_field(params.get("blocks"), "invalid_blocks_format")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise SlackError("invalid_blocks_format")
            errors = validate_blocks(blocks)
            if errors:
                raise SlackError("invalid_blocks", errors=errors,
                                 response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
            for block in blocks:
                block.setdefault("block_id", self._block_id())
        if not text and not blocks and not params.get("attachments"):
            raise SlackError("no_text")
        if text is not None and len(str(text)) > TEXT_MAX:
            raise SlackError("msg_too_long")
        return (None if text is None else str(text)), blocks

    # ------------------------------------------------------------------ auth / chat

    def _api_test(self, params: JSON) -> JSON:
        if params.get("error"):
            raise SlackError(str(params["error"]))
        return {"args": params}

    def _auth_test(self, params: JSON) -> JSON:
        return {"url": f"https://{TEAM_DOMAIN}.slack.com/", "team": TEAM_NAME, "user": BOT_NAME,
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _check_postable(self, ch: _Channel) -> None:
        if ch.is_archived:
            raise SlackError("is_archived")
        if BOT_USER_ID not in ch.members and not (self.chat_write_public and not ch.is_private):
            raise SlackError("not_in_channel")

    def _chat_post_message(self, params: JSON) -> JSON:
        ch = self._channel(params, allow_name=True, allow_user=True)
        self._check_postable(ch)
        text, blocks = self._message_content(params)
        if blocks and not text:
            self.anomalies.append(f"chat.postMessage to {ch.id} with blocks but no text fallback")
        message = self._bot_message(text or "", blocks, params)
        message["ts"] = self.next_ts()
        thread_ts = str(params.get("thread_ts") or "") or None
        self._store_message(ch, message, thread_ts, broadcast=_bool(params.get("reply_broadcast")))
        return {"channel": ch.id, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, params: JSON) -> JSON:
        ch = self._channel(params)
        message = self._find_message(ch, params.get("ts"))
        if message.get("bot_id") != BOT_ID:
            raise SlackError("cant_update_message")
        text, blocks = self._message_content(params)
        _metadata(params)  # refuse a malformed one before anything changes
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        attachments = _json_field(params.get("attachments"), "invalid_attachments")
        if attachments is not None:
            message["attachments"] = attachments
        metadata = _metadata(params)
        if metadata is not None:
            message["metadata"] = metadata
        message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
        return {"channel": ch.id, "ts": message["ts"], "text": message["text"],
                "message": copy.deepcopy(message)}

    def _chat_delete(self, params: JSON) -> JSON:
        ch = self._channel(params)
        message = self._find_message(ch, params.get("ts"))
        if message.get("bot_id") != BOT_ID:
            raise SlackError("cant_delete_message")
        ch.messages.remove(message)
        del ch.by_ts[message["ts"]]
        return {"channel": ch.id, "ts": message["ts"]}

    def _chat_post_ephemeral(self, params: JSON) -> JSON:
        ch = self._channel(params, allow_name=True)
        user = _require(params, "user")
        self._user(user)
        if user not in ch.members:
            raise SlackError("user_not_in_channel")
        text, blocks = self._message_content(params)
        message_ts = self.next_ts()
        self.ephemerals.append({"channel": ch.id, "user": user, "text": text or "", "blocks": blocks,
                                "thread_ts": params.get("thread_ts"), "message_ts": message_ts,
                                "via": "chat.postEphemeral", "time": self.clock()})
        return {"message_ts": message_ts}

    def _chat_get_permalink(self, params: JSON) -> JSON:
        ch = self._channel(params)
        message = self._find_message(ch, params.get("message_ts"))
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{ch.id}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
            link += f"?thread_ts={message['thread_ts']}&cid={ch.id}"
        return {"channel": ch.id, "permalink": link}

    # ------------------------------------------------------------------ conversations

    def _conversations_create(self, params: JSON) -> JSON:
        name = str(params.get("name") or "")
        self._check_channel_name(name)
        if self._by_name(name) is not None:
            raise SlackError("name_taken")
        cid = self.add_channel(name, members=[BOT_USER_ID], is_private=_bool(params.get("is_private")))
        return {"channel": self._channel_obj(self._channels[cid])}

    @staticmethod
    def _check_channel_name(name: str) -> None:
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > CHANNEL_NAME_MAX:
            raise SlackError("invalid_name_maxlength")
        if not _NAME_OK.match(name):
            raise SlackError("invalid_name_specials")
        if _NAME_PUNCT_ONLY.match(name):
            raise SlackError("invalid_name_punctuation")

    def _conversations_rename(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        name = str(params.get("name") or "")
        self._check_channel_name(name)
        other = self._by_name(name)
        if other is not None and other is not ch:
            raise SlackError("name_taken")
        if name != ch.name:
            ch.previous_names.insert(0, ch.name)
            ch.name = name
        return {"channel": self._channel_obj(ch)}

    def _set_text_attr(self, params: JSON, attr: str, limit: int) -> JSON:
        ch = self._channel(params, need_member=True)
        if ch.is_archived:
            raise SlackError("is_archived")
        value = str(params.get(attr) or "")
        if len(value) > limit:
            raise SlackError("too_long")
        setattr(ch, attr, {"value": value, "creator": BOT_USER_ID, "last_set": int(self.clock())})
        verb = "topic" if attr == "topic" else "purpose"
        self._system_message(ch, f"channel_{verb}", BOT_USER_ID,
                             f"set the channel {verb}: {value}" if value else f"cleared the channel {verb}",
                             **{verb: value})
        return {"channel": self._channel_obj(ch)}

    def _conversations_set_topic(self, params: JSON) -> JSON:
        return self._set_text_attr(params, "topic", TOPIC_MAX)

    def _conversations_set_purpose(self, params: JSON) -> JSON:
        return self._set_text_attr(params, "purpose", PURPOSE_MAX)

    def _conversations_invite(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        if ch.is_archived:
            raise SlackError("is_archived")
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("no_user")
        if len(users) > 1000:
            raise SlackError("too_many_users")
        errors: list[JSON] = []
        to_add: list[str] = []
        for uid in dict.fromkeys(users):
            if uid == BOT_USER_ID:
                errors.append({"user": uid, "ok": False, "error": "cant_invite_self"})
            elif uid not in self._users:
                errors.append({"user": uid, "ok": False, "error": "user_not_found"})
            elif self._users[uid]["deleted"]:
                errors.append({"user": uid, "ok": False, "error": "user_is_deleted"})
            elif uid in ch.members:
                errors.append({"user": uid, "ok": False, "error": "already_in_channel"})
            else:
                to_add.append(uid)
        hard = [e for e in errors if e["error"] != "already_in_channel"]
        if hard and not _bool(params.get("force")):
            raise SlackError(hard[0]["error"], errors=errors)
        if not to_add:
            raise SlackError(errors[0]["error"] if errors else "already_in_channel", errors=errors)
        for uid in to_add:
            ch.members.append(uid)
            self._system_message(ch, "channel_join", uid, f"<@{uid}> has joined the channel",
                                 inviter=BOT_USER_ID)
        result: JSON = {"channel": self._channel_obj(ch)}
        if errors:
            result["errors"] = errors
        return result

    def _conversations_kick(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        user = _require(params, "user")
        if user not in ch.members:
            raise SlackError("not_in_channel")
        ch.members.remove(user)
        return {}

    def _conversations_info(self, params: JSON) -> JSON:
        ch = self._channel(params)
        with_count = _bool(params.get("include_num_members"))
        return {"channel": self._channel_obj(ch, include_num_members=with_count)}

    def _conversations_join(self, params: JSON) -> JSON:
        ch = self._channel(params)
        if ch.is_archived:
            raise SlackError("is_archived")
        if ch.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        result: JSON = {}
        if BOT_USER_ID in ch.members:
            result = {"warning": "already_in_channel",
                      "response_metadata": {"warnings": ["already_in_channel"]}}
        else:
            ch.members.append(BOT_USER_ID)
            self._system_message(ch, "channel_join", BOT_USER_ID, f"<@{BOT_USER_ID}> has joined the channel")
        return {"channel": self._channel_obj(ch), **result}

    def _conversations_archive(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        if ch.is_general:
            raise SlackError("cant_archive_general")
        if ch.is_archived:
            raise SlackError("already_archived")
        ch.is_archived = True
        self._system_message(ch, "channel_archive", BOT_USER_ID, "archived the channel")
        return {}

    def _conversations_unarchive(self, params: JSON) -> JSON:
        ch = self._channel(params)
        if not ch.is_archived:
            raise SlackError("not_archived")
        ch.is_archived = False
        return {}

    def _conversations_list(self, params: JSON) -> JSON:
        types = {t.strip() for t in str(params.get("types") or "public_channel").split(",")}
        exclude_archived = _bool(params.get("exclude_archived"))
        chans = []
        for ch in self._channels.values():
            kind = "im" if ch.is_im else ("private_channel" if ch.is_private else "public_channel")
            if kind not in types or (exclude_archived and ch.is_archived):
                continue
            if ch.is_private and BOT_USER_ID not in ch.members:
                continue
            chans.append(self._channel_obj(ch, include_num_members=True))
        page, next_cursor = _page(chans, params)
        return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_members(self, params: JSON) -> JSON:
        ch = self._channel(params)
        page, next_cursor = _page(list(ch.members), params)
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _public_message(self, message: JSON, params: JSON) -> JSON:
        out = copy.deepcopy(message)
        if not _bool(params.get("include_all_metadata")):
            out.pop("metadata", None)
        return out

    def _conversations_history(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        inclusive = _bool(params.get("inclusive"))
        latest = _ts_key(params["latest"]) if params.get("latest") else None
        oldest = _ts_key(params["oldest"]) if params.get("oldest") else None

        def in_window(m: JSON) -> bool:
            key = _ts_key(m["ts"])
            if latest is not None and (key > latest or (key == latest and not inclusive)):
                return False
            return not (oldest is not None and (key < oldest or (key == oldest and not inclusive)))

        newest_first = [m for m in reversed(ch.messages) if self._is_top_level(m) and in_window(m)]
        page, next_cursor = _page(newest_first, params)
        result: JSON = {"messages": [self._public_message(m, params) for m in page],
                        "has_more": bool(next_cursor), "pin_count": len(ch.pins),
                        "channel_actions_ts": None, "channel_actions_count": 0}
        if next_cursor:
            result["response_metadata"] = {"next_cursor": next_cursor}
        return result

    def _conversations_replies(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        ts = str(params.get("ts") or "")
        message = ch.by_ts.get(ts)
        if message is None:
            raise SlackError("thread_not_found")
        root = message.get("thread_ts") or ts
        thread = [m for m in ch.messages if m["ts"] == root or m.get("thread_ts") == root]
        page, next_cursor = _page(thread, params, default_limit=1000)
        result: JSON = {"messages": [self._public_message(m, params) for m in page],
                        "has_more": bool(next_cursor)}
        if next_cursor:
            result["response_metadata"] = {"next_cursor": next_cursor}
        return result

    def _conversations_open(self, params: JSON) -> JSON:
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users and params.get("channel"):
            return {"channel": self._channel_obj(self._channel(params)), "already_open": True}
        if len(users) != 1:
            raise SlackError("not_enough_users" if not users else "method_not_supported_for_channel_type")
        self._user(users[0])
        return {"no_op": False, "already_open": False, "channel": {"id": self._im_for(users[0]).id}}

    # ------------------------------------------------------------------ pins / reactions

    def _pins_add(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        if not params.get("timestamp"):
            raise SlackError("no_item_specified")
        message = self._find_message(ch, params.get("timestamp"))
        if message["ts"] in ch.pins:
            raise SlackError("already_pinned")
        ch.pins.append(message["ts"])
        message.setdefault("pinned_to", []).append(ch.id)
        self.pins.append({"channel": ch.id, "ts": message["ts"], "user": BOT_USER_ID, "time": self.clock()})
        return {}

    def _pins_remove(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        message = self._find_message(ch, params.get("timestamp"))
        if message["ts"] not in ch.pins:
            raise SlackError("no_pin")
        ch.pins.remove(message["ts"])
        message["pinned_to"] = [c for c in message.get("pinned_to", []) if c != ch.id]
        self.pins = [p for p in self.pins if not (p["channel"] == ch.id and p["ts"] == message["ts"])]
        return {}

    def _pins_list(self, params: JSON) -> JSON:
        ch = self._channel(params)
        items = [{"type": "message", "created": int(self.clock()), "created_by": BOT_USER_ID,
                  "channel": ch.id, "message": copy.deepcopy(ch.by_ts[ts])} for ts in ch.pins]
        return {"items": items}

    def _reactions_add(self, params: JSON) -> JSON:
        ch = self._channel(params)
        if not params.get("timestamp"):
            raise SlackError("no_item_specified")
        message = self._find_message(ch, params.get("timestamp"))
        name = str(params.get("name") or "").strip(":")
        if not name or not _REACTION_NAME.match(name):
            raise SlackError("invalid_name")
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if BOT_USER_ID in reaction["users"]:
                    raise SlackError("already_reacted")
                reaction["users"].append(BOT_USER_ID)
                reaction["count"] += 1
                return {}
        reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        return {}

    def _reactions_remove(self, params: JSON) -> JSON:
        ch = self._channel(params)
        message = self._find_message(ch, params.get("timestamp"))
        name = str(params.get("name") or "").strip(":")
        for reaction in message.get("reactions", []):
            if reaction["name"] == name and BOT_USER_ID in reaction["users"]:
                reaction["users"].remove(BOT_USER_ID)
                reaction["count"] -= 1
                if not reaction["count"]:
                    message["reactions"].remove(reaction)
                return {}
        raise SlackError("no_reaction")

    # ------------------------------------------------------------------ users / groups

    def _users_info(self, params: JSON) -> JSON:
        return {"user": copy.deepcopy(self._user(str(params.get("user") or "")))}

    def _users_list(self, params: JSON) -> JSON:
        page, next_cursor = _page([copy.deepcopy(u) for u in self._users.values()], params)
        return {"members": page, "cache_ts": int(self.clock()),
                "response_metadata": {"next_cursor": next_cursor}}

    def _users_lookup_by_email(self, params: JSON) -> JSON:
        email = _require(params, "email").lower()
        for user in self._users.values():
            if str(user["profile"].get("email", "")).lower() == email and not user["deleted"]:
                return {"user": copy.deepcopy(user)}
        raise SlackError("users_not_found")

    def _usergroups_list(self, params: JSON) -> JSON:
        include_users = _bool(params.get("include_users"))
        include_disabled = _bool(params.get("include_disabled"))
        groups = []
        for group in self._usergroups.values():
            if group["date_delete"] and not include_disabled:
                continue
            out = copy.deepcopy(group)
            if not include_users:
                out.pop("users", None)
            groups.append(out)
        return {"usergroups": groups}

    def _usergroups_users_list(self, params: JSON) -> JSON:
        group = self._usergroups.get(str(params.get("usergroup") or ""))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group["users"])}

    # ------------------------------------------------------------------ views

    def _check_view(self, params: JSON) -> JSON:
        view = _json_field(params.get("view"), "invalid_arguments")
        if view is None:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] missing required field: view"]})
        errors = validate_view(view)
        if errors:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
        return view

    def _use_trigger(self, params: JSON) -> None:
        trigger = str(params.get("trigger_id") or params.get("interactivity_pointer") or "")
        if not trigger:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]})
        issued = self._triggers.get(trigger)
        if issued is None:
            if self.strict_trigger_ids:
                raise SlackError("invalid_trigger_id")
            return
        if issued["used"]:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - issued["issued"] > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        issued["used"] = True

    def _store_view(self, view: JSON, *, previous: str | None = None, root: str | None = None,
                    view_id: str | None = None) -> JSON:
        vid = view_id or self._new_id("V")
        for block in view.get("blocks", []):
            block.setdefault("block_id", self._block_id())
        stored: JSON = {
            "id": vid, "team_id": TEAM_ID, "type": view["type"], "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "state": {"values": {}}, "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "title": view.get("title"), "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)), "close": view.get("close"),
            "submit": view.get("submit"), "previous_view_id": previous, "root_view_id": root or vid,
            "app_id": APP_ID, "external_id": view.get("external_id", ""), "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID, "submit_disabled": bool(view.get("submit_disabled", False)),
        }
        self._views[vid] = stored
        return stored

    def _views_open(self, params: JSON) -> JSON:
        view = self._check_view(params)
        if view.get("type") != "modal":
            raise SlackError("invalid_arguments")
        self._use_trigger(params)
        stored = self._store_view(view)
        self.opened_views.append(stored)
        return {"view": copy.deepcopy(stored)}

    def _views_push(self, params: JSON) -> JSON:
        view = self._check_view(params)
        self._use_trigger(params)
        parent = self.opened_views[-1] if self.opened_views else None
        stored = self._store_view(view, previous=parent["id"] if parent else None,
                                  root=parent["root_view_id"] if parent else None)
        self.opened_views.append(stored)
        return {"view": copy.deepcopy(stored)}

    def _views_update(self, params: JSON) -> JSON:
        view = self._check_view(params)
        view_id = str(params.get("view_id") or "")
        external_id = str(params.get("external_id") or "")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments")
        target = self._views.get(view_id) if view_id else next(
            (v for v in self._views.values() if external_id and v.get("external_id") == external_id), None)
        if target is None:
            raise SlackError("not_found")
        if params.get("hash") and params["hash"] != target["hash"]:
            raise SlackError("hash_conflict")
        replacement = self._store_view(view, previous=target["previous_view_id"], root=target["root_view_id"],
                                       view_id=target["id"])
        replacement["state"] = target["state"]
        target.clear()
        target.update(replacement)
        self._views[target["id"]] = target
        return {"view": copy.deepcopy(target)}

    def _views_publish(self, params: JSON) -> JSON:
        view = self._check_view(params)
        if view.get("type") != "home":
            raise SlackError("invalid_arguments")
        user = str(params.get("user_id") or "")
        self._user(user)
        current = self.published_views.get(user)
        if current is not None and params.get("hash") and params["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        stored = self._store_view(view, view_id=current["id"] if current else None)
        self.published_views[user] = stored
        return {"view": copy.deepcopy(stored)}

    # ------------------------------------------------------------------ files (upload v2)

    def _files_get_upload_url(self, params: JSON) -> JSON:
        filename = _require(params, "filename")
        try:
            length = int(_require(params, "length"))
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
        if length < 0:
            raise SlackError("invalid_arguments")
        file_id = self._new_id("F")
        upload_key = secrets.token_urlsafe(18)
        self._uploads[file_id] = {"id": file_id, "key": upload_key, "filename": filename, "length": length,
                                  "alt_txt": params.get("alt_txt"), "content": None, "completed": False,
                                  "snippet_type": params.get("snippet_type"), "created": int(self.clock())}
        return {"upload_url": f"{self.origin}/upload/v1/{upload_key}", "file_id": file_id}

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        outage = self._outage(request)
        if outage is not None:
            return outage
        key = request.match_info["upload_id"]
        upload = next((u for u in self._uploads.values() if u["key"] == key), None)
        if upload is None:
            return web.Response(status=404, text="upload_not_found", content_type="text/plain")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field_value = form.get("file") or next(iter(form.values()), b"")
            data = field_value.file.read() if isinstance(field_value, web.FileField) else (
                field_value.encode() if isinstance(field_value, str) else bytes(field_value))
        else:
            data = await request.read()
        if len(data) != upload["length"]:
            self.anomalies.append(
                f"upload {upload['id']}: declared length {upload['length']}, got {len(data)}")
        upload["content"] = data
        self._notify()
        return web.Response(status=200, text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        outage = self._outage(request)
        if outage is not None:
            return outage
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return web.Response(status=302, headers={"Location": f"https://{TEAM_DOMAIN}.slack.com/"})
        content = self.file_content(request.match_info["file_id"])
        if content is None:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=content, content_type="application/octet-stream")

    def _file_obj(self, upload: JSON, title: str, shares: dict[str, list[JSON]]) -> JSON:
        fid, name = upload["id"], upload["filename"]
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        url = f"{self.origin}/files/{fid}/{name}"
        return {
            "id": fid, "created": upload["created"], "timestamp": upload["created"], "name": name,
            "title": title, "mimetype": mimetype,
            "filetype": ext, "pretty_type": ext.upper(), "user": BOT_USER_ID, "user_team": TEAM_ID,
            "editable": False, "size": len(upload["content"] or b""), "mode": "hosted", "is_external": False,
            "external_type": "", "is_public": bool(shares), "public_url_shared": False,
            "display_as_bot": False, "username": "", "url_private": url, "url_private_download": url,
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{BOT_USER_ID}/{fid}/{name}",
            "permalink_public": f"https://slack-files.com/{TEAM_ID}-{fid}", "alt_txt": upload.get("alt_txt"),
            "comments_count": 0, "is_starred": False, "has_rich_preview": False, "file_access": "visible",
            "channels": list(shares), "groups": [], "ims": [],
            "shares": {"public": shares} if shares else {},
        }

    def _files_complete_upload(self, params: JSON) -> JSON:
        files = _json_field(params.get("files"), "invalid_arguments")
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] missing required field: files"]})
        uploads = []
        for item in files:
            upload = self._uploads.get(str(item.get("id") if isinstance(item, dict) else ""))
            if upload is None or upload["completed"]:
                raise SlackError("file_not_found")
            if upload["content"] is None:
                self.anomalies.append(
                    f"files.completeUploadExternal for {upload['id']} before its bytes arrived")
                raise SlackError("file_not_found")
            uploads.append((upload, str(item.get("title") or upload["filename"])))
        targets: list[_Channel] = []
        channel_ids = [str(params["channel_id"])] if params.get("channel_id") else []
        channel_ids += [c.strip() for c in str(params.get("channels") or "").split(",") if c.strip()]
        for cid in dict.fromkeys(channel_ids):
            ch = self._channel({"channel": cid}, allow_user=True)
            self._check_postable(ch)
            targets.append(ch)
        thread_ts = str(params.get("thread_ts") or "") or None
        if thread_ts and len(targets) != 1:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] thread_ts needs exactly one channel"]})
        comment = str(params.get("initial_comment") or "")
        blocks = None if comment else _json_field(params.get("blocks"), "invalid_blocks_format")
        shares: dict[str, list[JSON]] = {}
        for ch in targets:
            message = self._bot_message(comment, blocks, {})
            message.update({"ts": self.next_ts(), "upload": True, "display_as_bot": False})
            share: JSON = {"ts": message["ts"], "channel_name": ch.name, "team_id": TEAM_ID,
                           "share_user_id": BOT_USER_ID, "reply_users": [], "reply_users_count": 0,
                           "reply_count": 0, "source": "UNKNOWN"}
            if thread_ts:
                share["thread_ts"] = thread_ts
            shares[ch.id] = [share]
            message["files"] = [self._file_obj(u, t, {ch.id: [share]}) for u, t in uploads]
            self._store_message(ch, message, thread_ts)
        out = []
        for upload, title in uploads:
            upload["completed"] = True
            obj = self._file_obj(upload, title, shares)
            out.append(obj)
            self.files.append({**copy.deepcopy(obj), "content": upload["content"], "thread_ts": thread_ts,
                               "initial_comment": comment or None, "channel_ids": [c.id for c in targets]})
        return {"files": out}

    def _files_info(self, params: JSON) -> JSON:
        fid = str(params.get("file") or "")
        for f in self.files:
            if f["id"] == fid:
                return {"file": {k: v for k, v in f.items()
                                 if k not in {"content", "thread_ts", "initial_comment", "channel_ids"}},
                        "comments": [], "response_metadata": {"next_cursor": ""}}
        raise SlackError("file_not_found")

    # ------------------------------------------------------------------ response_url

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        """Apply a ``response_url`` post the way Slack does (ephemeral, in_channel, replace, delete)."""
        outage = self._outage(request)
        if outage is not None:
            return outage
        rid = request.match_info["response_id"]
        raw = await request.read()
        context = self._response_urls.get(rid)
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                form = await request.post()
                body = json.loads(str(form.get("payload") or "{}"))
            else:
                body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        record: JSON = {"id": rid, "body": body, "time": self.clock(), "context": dict(context or {}),
                        "status": 200, "result": "ok"}
        self.responses.append(record)
        try:
            if context is None:
                return self._response_result(record, 404, "expired_url")
            if not isinstance(body, dict):
                return self._response_result(record, 400, "invalid_payload")
            if context["uses"] >= RESPONSE_URL_USES:
                return self._response_result(record, 404, "used_url")
            if self.clock() - context["created"] > RESPONSE_URL_TTL:
                return self._response_result(record, 404, "expired_url")
            response = self._apply_response(record, context, body)
            if response.status == 200:
                context["uses"] += 1
            return response
        finally:
            self._notify()

    def _response_result(self, record: JSON, status: int, text: str) -> web.Response:
        record["status"], record["result"] = status, text
        return web.Response(status=status, text=text, content_type="text/html")

    def _apply_response(self, record: JSON, context: JSON, body: JSON) -> web.Response:
        ch = self._channels.get(context.get("channel") or "")
        message_ts = context.get("message_ts")
        if _bool(body.get("delete_original")):
            if ch is not None and message_ts in ch.by_ts and not context.get("is_ephemeral"):
                message = ch.by_ts.pop(message_ts)
                ch.messages.remove(message)
            return self._response_result(record, 200, "ok")
        text = body.get("text")
        blocks = body.get("blocks")
        if not text and not blocks and not body.get("attachments"):
            return self._response_result(record, 400, "no_text")
        if blocks is not None:
            errors = validate_blocks(blocks)
            if errors:
                record["errors"] = errors
                return self._response_result(record, 400, "invalid_blocks")
        replace = _bool(body.get("replace_original"))
        if replace and ch is not None and message_ts in ch.by_ts and not context.get("is_ephemeral"):
            message = ch.by_ts[message_ts]
            message["text"] = text or ""
            if blocks is not None:
                message["blocks"] = blocks
            else:
                message.pop("blocks", None)
            message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
        elif body.get("response_type") == "in_channel" and ch is not None:
            message = self._bot_message(text or "", blocks, body)
            message["ts"] = self.next_ts()
            self._store_message(ch, message, body.get("thread_ts") or context.get("thread_ts"))
        else:
            self.ephemerals.append({"channel": context.get("channel"), "user": context["user"],
                                    "text": text or "", "blocks": blocks,
                                    "thread_ts": context.get("thread_ts"),
                                    "message_ts": self.next_ts(), "via": "response_url",
                                    "replace_original": replace, "time": self.clock()})
        return self._response_result(record, 200, "ok")
