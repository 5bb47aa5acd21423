"""The workspace the stand-in serves: its state, setup helpers for tests, inspection, and the
lookups and message storage the Web API families share."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from aiohttp import web

from bot.local.slack_standin.blocks import validate_blocks
from bot.local.slack_standin.model import (
    _SYSTEM_SUBTYPES,
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    DEFAULT_INCIDENT_CHANNEL,
    DEFAULT_INCIDENT_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    JSON,
    SEED_USERS,
    TEAM_ID,
    TEXT_MAX,
    Call,
    CallHook,
    Handler,
    SlackError,
    _Channel,
    _Fault,
    _json_field,
    _metadata,
    _ts_key,
)


class Workspace:
    """The workspace state (users, groups, channels, messages, views, uploads) and the helpers
    every Web API family shares; the method families are mixins over it."""

    def __init__(self, *, incident_channel: str = DEFAULT_INCIDENT_CHANNEL,
                 incident_channel_id: str = DEFAULT_INCIDENT_CHANNEL_ID,
                 bot_token: str | None = None, seed_users: bool = True,
                 chat_write_public: bool = True, trigger_ttl: float = 3.0,
                 strict_trigger_ids: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        """Configure the workspace; ``bot_token=None`` accepts any ``xox?-`` token."""
        from bot.cli.check import BOT_SCOPES

        self.bot_token = bot_token
        # sent as x-oauth-scopes: the app installed with manifest.yml's scopes (a test narrows it)
        self.granted_scopes: tuple[str, ...] = BOT_SCOPES
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
        self._methods: dict[str, Handler] = {}
        self._seed(seed_users)

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
        Every change here wakes the wait at once; a predicate on something else (the bot's own
        state, the driver's) is re-checked every 50 ms.
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
                await asyncio.wait_for(tick.wait(), min(remaining, 0.05))

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

    def _check_postable(self, ch: _Channel) -> None:
        if ch.is_archived:
            raise SlackError("is_archived")
        if BOT_USER_ID not in ch.members and not (self.chat_write_public and not ch.is_private):
            raise SlackError("not_in_channel")
