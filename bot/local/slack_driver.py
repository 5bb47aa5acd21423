"""Plays the Slack platform towards the bot: signed slash commands, interactions and events.

Why: the bot's HTTP endpoint (``POST {bot_url}/slack/events``) must only trust requests signed
the way Slack signs them, so the demo and every end-to-end test drive it through this class,
which builds payloads shaped like Slack's and signs each one with the app's signing secret
(``X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{raw body}"))``). Negative tests can
ask for a stale timestamp, a wrong signature or none at all.

``response_url``: the URLs in slash-command and interaction payloads point at a
:class:`bot.local.slack_standin.SlackStandIn` (route ``/response/<id>``), which records every post in
``responses`` and applies it the way Slack would (ephemeral, ``in_channel``,
``replace_original``, ``delete_original``). Pass ``slack=`` to use the stand-in the bot already
talks to (then payloads also carry real message contents, block ids and trigger ids issued by
that stand-in); without it the driver starts a private stand-in just to receive responses.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp

from bot.local.slack_standin import (
    APP_ID,
    BOT_USER_ID,
    DEFAULT_INCIDENT_CHANNEL,
    DEFAULT_INCIDENT_CHANNEL_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    SlackStandIn,
)

JSON = dict[str, Any]
SignMode = Literal["valid", "stale", "future", "wrong", "none"]
Result = tuple[int, Any]

SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
STALE_SECONDS = 10 * 60  # Slack's receivers reject anything older than 5 minutes


@dataclass
class SentRequest:
    """One request the driver sent, with what the bot answered, for assertions."""

    kind: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response: Any = None
    elapsed: float = 0.0
    payload: JSON = field(default_factory=dict)

    def late(self, deadline: float = 3.0) -> bool:
        """Slack gives up on an ack after 3 seconds (and retries events)."""
        return self.elapsed > deadline


def _rich_text(text: str) -> list[JSON]:
    """Messages typed by humans carry a rich_text block mirroring ``text``."""
    return [{"type": "rich_text", "block_id": secrets.token_urlsafe(4)[:5], "elements": [
        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]}]


def _option(value: str, element: JSON | None) -> JSON:
    """Find the option Slack would echo back for ``value`` (or synthesise one)."""
    options = list((element or {}).get("options") or [])
    for group in (element or {}).get("option_groups") or []:
        options += group.get("options") or []
    for option in options:
        if option.get("value") == value:
            return option
    return {"text": {"type": "plain_text", "text": value, "emoji": True}, "value": value}


class SlackDriver:
    """Sends correctly signed Slack requests to the bot and returns ``(status, body)``."""

    def __init__(self, bot_url: str, signing_secret: str, *, slack: SlackStandIn | None = None,
                 path: str = "/slack/events", team_id: str = TEAM_ID, team_domain: str = TEAM_DOMAIN,
                 api_app_id: str = APP_ID, verification_token: str = "standin-verification-token",
                 stale_seconds: int = STALE_SECONDS, timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        """``bot_url`` is the bot's origin (``http://host:port``); requests go to ``bot_url + path``."""
        self.bot_url = bot_url.rstrip("/")
        self.url = self.bot_url + path
        self.signing_secret = signing_secret
        self.slack = slack
        self.team_id = team_id
        self.team_domain = team_domain
        self.api_app_id = api_app_id
        self.verification_token = verification_token
        self.stale_seconds = stale_seconds
        self.timeout = timeout
        self.sent: list[SentRequest] = []
        self.last_event: JSON | None = None
        self._session = session
        self._own_session = session is None
        self._own_slack: SlackStandIn | None = None
        # When True, requests travel as Socket Mode envelopes over the linked stand-in's
        # WebSocket instead of signed HTTP posts (the app must be connected in Socket Mode).
        self.socket_mode = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> SlackDriver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session and the private response receiver, if the driver made them."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        if self._own_slack is not None:
            await self._own_slack.stop()
            self._own_slack = None

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._own_session = True
        return self._session

    async def _receiver(self) -> SlackStandIn:
        """The stand-in that owns response_urls: the linked one, or a private one started lazily."""
        if self.slack is not None:
            return self.slack
        if self._own_slack is None:
            self._own_slack = SlackStandIn(seed_users=False)
            await self._own_slack.start()
        return self._own_slack

    @property
    def responses(self) -> list[JSON]:
        """Everything the bot posted to response_urls minted by this driver's stand-in."""
        receiver = self.slack or self._own_slack
        return receiver.responses if receiver else []

    # ------------------------------------------------------------------ signing

    def sign(self, body: bytes | str, timestamp: int | str, secret: str | None = None) -> str:
        """``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``, exactly as Slack computes it."""
        raw = body.encode() if isinstance(body, str) else body
        base = b"v0:" + str(timestamp).encode() + b":" + raw
        key = (secret if secret is not None else self.signing_secret).encode()
        return "v0=" + hmac.new(key, base, hashlib.sha256).hexdigest()

    def signed_headers(self, body: bytes | str, *, sign: SignMode = "valid",
                       timestamp: int | None = None) -> dict[str, str]:
        """Headers Slack would send; ``sign`` picks a deliberately broken variant for negative tests."""
        if sign == "none":
            return {}
        now = int(time.time())
        if timestamp is None:
            timestamp = {"stale": now - self.stale_seconds, "future": now + self.stale_seconds}.get(sign, now)
        secret = self.signing_secret + "-wrong" if sign == "wrong" else None
        return {"X-Slack-Request-Timestamp": str(timestamp),
                "X-Slack-Signature": self.sign(body, timestamp, secret)}

    # ------------------------------------------------------------------ transport

    async def post(self, body: bytes | str, content_type: str, *, kind: str = "raw",
                   sign: SignMode = "valid", timestamp: int | None = None,
                   headers: dict[str, str] | None = None, payload: JSON | None = None) -> Result:
        """Send raw bytes to the bot's endpoint, signed per ``sign``; returns ``(status, body)``."""
        raw = body.encode() if isinstance(body, str) else body
        all_headers = {"Content-Type": content_type, "User-Agent": SLACK_USER_AGENT,
                       "Accept": "application/json,*/*", "Accept-Encoding": "gzip,deflate"}
        all_headers.update(self.signed_headers(raw, sign=sign, timestamp=timestamp))
        all_headers.update(headers or {})
        record = SentRequest(kind=kind, url=self.url, headers=all_headers, body=raw, payload=payload or {})
        self.sent.append(record)
        session = await self._http()
        started = time.monotonic()
        async with session.post(self.url, data=raw, headers=all_headers) as resp:
            text = await resp.text()
            record.status = resp.status
            if resp.content_type == "application/json" and text:
                try:
                    record.response = json.loads(text)
                except json.JSONDecodeError:
                    record.response = text
            else:
                record.response = text
        record.elapsed = time.monotonic() - started
        return record.status, record.response

    async def _over_socket(self, kind: str, payload: JSON, retry_num: int | None = None) -> Result:
        """Deliver as Slack does in Socket Mode; the ack's payload stands in for the HTTP body."""
        if self.slack is None:
            raise RuntimeError("Socket Mode needs a linked stand-in")
        envelope_type = {"slash_command": "slash_commands", "event_callback": "events_api"}.get(
            kind, "interactive")
        ack = await self.slack.socket_deliver(envelope_type, payload, retry_attempt=retry_num or 0)
        return 200, ack

    async def _post_form(self, fields: JSON, *, kind: str, sign: SignMode,
                         timestamp: int | None = None, payload: JSON | None = None) -> Result:
        if self.socket_mode:
            return await self._over_socket(kind, payload or fields)
        return await self.post(urlencode(fields), "application/x-www-form-urlencoded", kind=kind,
                               sign=sign, timestamp=timestamp, payload=payload or fields)

    async def _post_json(self, body: JSON, *, kind: str, sign: SignMode, timestamp: int | None = None,
                         headers: dict[str, str] | None = None) -> Result:
        if self.socket_mode:
            retry = (headers or {}).get("X-Slack-Retry-Num")
            return await self._over_socket(kind, body, int(retry) if retry else None)
        return await self.post(json.dumps(body), "application/json", kind=kind, sign=sign,
                               timestamp=timestamp, headers=headers, payload=body)

    # ------------------------------------------------------------------ helpers

    def _user_name(self, user_id: str, user_name: str | None) -> str:
        if user_name:
            return user_name
        known = self.slack.user(user_id) if self.slack is not None else None
        if known is not None:
            return str(known["name"])
        return user_id.lower()

    def _channel_defaults(self, channel_id: str | None, channel_name: str | None) -> tuple[str, str]:
        if channel_id is None:
            channel_id = self.slack.incident_channel_id if self.slack else DEFAULT_INCIDENT_CHANNEL_ID
        if channel_name is None:
            known = self.slack.channel(channel_id) if self.slack else None
            if known is not None:
                channel_name = "directmessage" if known.get("is_im") else str(known["name"])
            elif channel_id == DEFAULT_INCIDENT_CHANNEL_ID:
                channel_name = DEFAULT_INCIDENT_CHANNEL
            else:
                channel_name = "directmessage" if channel_id.startswith("D") else "unknown"
        return channel_id, channel_name

    def _trigger_id(self, user_id: str) -> str:
        if self.slack is not None:
            return self.slack.issue_trigger_id(user_id)
        return f"{int(time.time())}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"

    async def _response_url(self, *, channel_id: str | None, user_id: str, message_ts: str | None = None,
                            thread_ts: str | None = None, is_ephemeral: bool = False) -> str:
        receiver = await self._receiver()
        return receiver.new_response_url(channel_id=channel_id, user_id=user_id, message_ts=message_ts,
                                         thread_ts=thread_ts, is_ephemeral=is_ephemeral)

    def _user_obj(self, user_id: str, user_name: str | None) -> JSON:
        name = self._user_name(user_id, user_name)
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team_obj(self) -> JSON:
        return {"id": self.team_id, "domain": self.team_domain}

    @staticmethod
    def _action_ts() -> str:
        return f"{time.time():.6f}"

    # ------------------------------------------------------------------ slash commands

    async def slash_command(self, text: str = "", user_id: str = "U0DECLARER", user_name: str | None = None,
                            channel_id: str | None = None, channel_name: str | None = None,
                            command: str = "/incident", trigger_id: str | None = None, *,
                            sign: SignMode = "valid", timestamp: int | None = None) -> Result:
        """A slash command, form-encoded with the fields Slack sends."""
        channel_id, channel_name = self._channel_defaults(channel_id, channel_name)
        fields = {
            "token": self.verification_token, "team_id": self.team_id, "team_domain": self.team_domain,
            "channel_id": channel_id, "channel_name": channel_name, "user_id": user_id,
            "user_name": self._user_name(user_id, user_name), "command": command, "text": text,
            "api_app_id": self.api_app_id, "is_enterprise_install": "false",
            "response_url": await self._response_url(channel_id=channel_id, user_id=user_id),
            "trigger_id": trigger_id or self._trigger_id(user_id),
        }
        return await self._post_form(fields, kind="slash_command", sign=sign, timestamp=timestamp)

    # ------------------------------------------------------------------ interactivity

    async def interaction(self, payload: JSON, *, sign: SignMode = "valid",
                          timestamp: int | None = None) -> Result:
        """Send any interactivity payload as Slack does: form field ``payload=<json>``."""
        return await self._post_form({"payload": json.dumps(payload)}, kind=str(payload.get("type")),
                                     sign=sign, timestamp=timestamp, payload=payload)

    @staticmethod
    def _find_element(blocks: list[JSON], action_id: str, block_id: str | None) -> tuple[str, JSON] | None:
        """Locate the interactive element a click came from, to echo Slack's block_id and text."""
        for block in blocks:
            if block_id is not None and block.get("block_id") != block_id:
                continue
            candidates = list(block.get("elements") or [])
            for key in ("accessory", "element"):
                if isinstance(block.get(key), dict):
                    candidates.append(block[key])
            for element in candidates:
                if isinstance(element, dict) and element.get("action_id") == action_id:
                    return str(block.get("block_id", "")), element
        return None

    async def block_action(self, action_id: str, value: str | None = None, user_id: str = "U0RESPOND",
                           user_name: str | None = None, channel_id: str | None = None,
                           message_ts: str | None = None, block_id: str | None = None, *,
                           action: JSON | None = None, message: JSON | None = None,
                           thread_ts: str | None = None, is_ephemeral: bool = False,
                           state_values: JSON | None = None, sign: SignMode = "valid",
                           timestamp: int | None = None) -> Result:
        """A ``block_actions`` click on a message, shaped like Slack's payload.

        With a linked stand-in and ``message_ts``, the stored message (blocks included) is sent,
        and ``block_id``/``value``/element type are taken from the button with ``action_id``.
        ``action`` overrides/extends the action object (e.g. ``selected_option`` for selects).
        """
        channel_id, channel_name = self._channel_defaults(channel_id, None)
        if message is None and self.slack is not None and message_ts:
            message = self.slack.message(channel_id, message_ts)
        if message is None:
            message = {"type": "message", "user": BOT_USER_ID, "ts": message_ts or "", "text": "",
                       "team": self.team_id, "blocks": []}
        thread_ts = thread_ts or (message.get("thread_ts") if message.get("thread_ts") != message.get("ts")
                                  else None)
        found = self._find_element(message.get("blocks") or [], action_id, block_id)
        element: JSON = found[1] if found else {"type": "button"}
        resolved_block_id = block_id or (found[0] if found else "actions")
        act: JSON = {"action_id": action_id, "block_id": resolved_block_id,
                     "type": element.get("type", "button"), "action_ts": self._action_ts()}
        if "text" in element:
            act["text"] = element["text"]
        if act["type"] == "button":
            act["value"] = value if value is not None else element.get("value", "")
            if element.get("style"):
                act["style"] = element["style"]
        elif value is not None and act["type"] in {"static_select", "external_select", "overflow",
                                                    "radio_buttons"}:
            act["selected_option"] = _option(value, element)
        elif value is not None:
            act["value"] = value
        act.update(action or {})
        container: JSON = {"type": "message", "message_ts": message_ts or message.get("ts", ""),
                           "channel_id": channel_id, "is_ephemeral": is_ephemeral}
        if thread_ts:
            container["thread_ts"] = thread_ts
        payload: JSON = {
            "type": "block_actions", "user": self._user_obj(user_id, user_name),
            "api_app_id": self.api_app_id, "token": self.verification_token, "container": container,
            "trigger_id": self._trigger_id(user_id), "team": self._team_obj(), "enterprise": None,
            "is_enterprise_install": False, "channel": {"id": channel_id, "name": channel_name},
            "message": message, "state": {"values": state_values or {}},
            "response_url": await self._response_url(channel_id=channel_id, user_id=user_id,
                                                     message_ts=container["message_ts"], thread_ts=thread_ts,
                                                     is_ephemeral=is_ephemeral),
            "actions": [act],
        }
        return await self.interaction(payload, sign=sign, timestamp=timestamp)

    async def message_shortcut(self, callback_id: str, channel: str, message_ts: str,
                               user_id: str = "U0RESPOND", user_name: str | None = None, *,
                               message: JSON | None = None, sign: SignMode = "valid",
                               timestamp: int | None = None) -> Result:
        """A message shortcut (``message_action``) used on a message: with a linked stand-in the
        stored message (text, author, thread) goes in the payload, as Slack sends it."""
        if message is None:
            found = self.slack.message(self.slack.channel_id(channel), message_ts) if self.slack else None
            if found is None:
                raise KeyError(f"no message {message_ts} in {channel}: pass message=")
            message = found
        channel_id, channel_name = self._channel_defaults(
            self.slack.channel_id(channel) if self.slack else channel, None)
        payload: JSON = {
            "type": "message_action", "token": self.verification_token, "action_ts": self._action_ts(),
            "team": self._team_obj(), "user": self._user_obj(user_id, user_name),
            "channel": {"id": channel_id, "name": channel_name}, "is_enterprise_install": False,
            "enterprise": None, "callback_id": callback_id, "trigger_id": self._trigger_id(user_id),
            "response_url": await self._response_url(channel_id=channel_id, user_id=user_id),
            "message_ts": message_ts, "message": message,
        }
        return await self.interaction(payload, sign=sign, timestamp=timestamp)

    # ------------------------------------------------------------------ views

    @staticmethod
    def text(value: str | None) -> JSON:
        """State of a ``plain_text_input`` for :meth:`view_submission` values."""
        return {"type": "plain_text_input", "value": value}

    @staticmethod
    def select(value: str, text: str | None = None) -> JSON:
        """State of a ``static_select`` for :meth:`view_submission` values."""
        return {"type": "static_select", "selected_option": {
            "text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}}

    @staticmethod
    def users(user_ids: list[str]) -> JSON:
        """State of a ``multi_users_select`` for :meth:`view_submission` values."""
        return {"type": "multi_users_select", "selected_users": list(user_ids)}

    @staticmethod
    def element_state(value: Any, element: JSON | None) -> JSON:
        """Turn a plain Python value into the action state Slack reports for ``element``.

        Why: tests read better as ``{"severity": "sev1"}`` than as Slack's nested state; when
        the opened view is known, the element type decides the shape.
        """
        if isinstance(value, dict) and "type" in value:
            return value
        if element is not None:
            kind = str(element.get("type"))
        elif isinstance(value, list):
            kind = "multi_static_select"
        else:
            kind = "plain_text_input"
        if kind in {"static_select", "external_select", "radio_buttons"}:
            return {"type": kind, "selected_option": None if value is None else _option(str(value), element)}
        if kind in {"multi_static_select", "multi_external_select", "checkboxes"}:
            return {"type": kind, "selected_options": [_option(str(v), element) for v in (value or [])]}
        if kind == "users_select":
            return {"type": kind, "selected_user": value}
        if kind == "multi_users_select":
            return {"type": kind, "selected_users": list(value or [])}
        if kind == "conversations_select":
            return {"type": kind, "selected_conversation": value}
        if kind == "multi_conversations_select":
            return {"type": kind, "selected_conversations": list(value or [])}
        if kind == "channels_select":
            return {"type": kind, "selected_channel": value}
        if kind == "multi_channels_select":
            return {"type": kind, "selected_channels": list(value or [])}
        if kind == "datepicker":
            return {"type": kind, "selected_date": value}
        if kind == "timepicker":
            return {"type": kind, "selected_time": value}
        if kind == "datetimepicker":
            return {"type": kind, "selected_date_time": value}
        if kind == "rich_text_input":
            return {"type": kind, "rich_text_value": {"type": "rich_text", "elements": [
                {"type": "rich_text_section", "elements": [{"type": "text", "text": str(value or "")}]}]}}
        return {"type": kind, "value": None if value is None else str(value)}

    @classmethod
    def state_values(cls, values: JSON, blocks: list[JSON] | None = None) -> JSON:
        """Build ``view.state.values`` (``{block_id: {action_id: state}}``) from a helper form.

        Accepted per block: the full ``{action_id: {type, ...}}`` dict; ``{action_id: value}``;
        a bare value or a state dict (the action_id is taken from the view's input block, or
        equals the block_id when the view is unknown).
        """
        by_id = {b.get("block_id"): b for b in (blocks or []) if isinstance(b, dict)}
        out: JSON = {}
        for block_id, given in values.items():
            block = by_id.get(block_id) or {}
            element = block.get("element") if isinstance(block.get("element"), dict) else None
            element_action = str(element.get("action_id") or "") if element else ""
            if isinstance(given, dict) and "type" not in given:
                out[block_id] = {aid: cls.element_state(v, element if element_action == aid else None)
                                 for aid, v in given.items()}
            else:
                out[block_id] = {element_action or block_id: cls.element_state(given, element)}
        return out

    def _view_for(self, callback_id: str, view_id: str | None) -> JSON:
        view = None
        if self.slack is not None:
            view = self.slack.view(view_id) if view_id else self.slack.latest_view(callback_id)
        if view is None:
            vid = view_id or "V0" + secrets.token_hex(4).upper()
            view = {"id": vid, "team_id": self.team_id, "type": "modal", "blocks": [], "private_metadata": "",
                    "callback_id": callback_id, "state": {"values": {}}, "hash": f"{int(time.time())}.x",
                    "title": {"type": "plain_text", "text": "Modal", "emoji": True},
                    "clear_on_close": False, "notify_on_close": False, "close": None,
                    "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
                    "previous_view_id": None, "root_view_id": vid, "app_id": self.api_app_id,
                    "external_id": "", "app_installed_team_id": self.team_id, "bot_id": None}
        return view

    async def view_submission(self, callback_id: str, values: JSON | None = None, user_id: str = "U0DECLARER",
                              user_name: str | None = None, private_metadata: str | None = None, *,
                              view_id: str | None = None, sign: SignMode = "valid",
                              timestamp: int | None = None) -> Result:
        """Submit a modal; with a linked stand-in the last opened view with ``callback_id`` is used."""
        view = self._view_for(callback_id, view_id)
        view["callback_id"] = callback_id
        if private_metadata is not None:
            view["private_metadata"] = private_metadata
        view["state"] = {"values": self.state_values(values or {}, view.get("blocks"))}
        payload: JSON = {
            "type": "view_submission", "team": self._team_obj(), "user": self._user_obj(user_id, user_name),
            "api_app_id": self.api_app_id, "token": self.verification_token,
            "trigger_id": self._trigger_id(user_id), "view": view, "response_urls": [],
            "is_enterprise_install": False, "enterprise": None,
        }
        return await self.interaction(payload, sign=sign, timestamp=timestamp)

    async def view_closed(self, callback_id: str, user_id: str = "U0DECLARER", *, view_id: str | None = None,
                          sign: SignMode = "valid") -> Result:
        """The user dismissed a modal opened with ``notify_on_close``."""
        payload: JSON = {"type": "view_closed", "team": self._team_obj(),
                         "user": self._user_obj(user_id, None), "api_app_id": self.api_app_id,
                         "token": self.verification_token,
                         "view": self._view_for(callback_id, view_id), "is_cleared": False,
                         "is_enterprise_install": False, "enterprise": None}
        return await self.interaction(payload, sign=sign)

    # ------------------------------------------------------------------ Events API

    def _new_ts(self) -> str:
        if self.slack is not None:
            return self.slack.next_ts()
        return f"{time.time():.6f}"

    def message_event(self, channel: str, user: str | None, text: str, ts: str | None = None,
                      thread_ts: str | None = None, subtype: str | None = None,
                      bot_id: str | None = None) -> JSON:
        """A ``message`` event as Slack delivers it for a channel or DM."""
        ts = ts or self._new_ts()
        event: JSON = {"type": "message", "channel": channel, "text": text, "ts": ts, "event_ts": ts,
                       "channel_type": "im" if channel.startswith("D") else "channel", "team": self.team_id}
        if user:
            event["user"] = user
        if subtype:
            event["subtype"] = subtype
        if bot_id:
            event["bot_id"] = bot_id
        if not subtype:
            event["blocks"] = _rich_text(text)
        if thread_ts:
            event["thread_ts"] = thread_ts
            parent = self.slack.message(channel, thread_ts) if self.slack else None
            if parent is not None and parent.get("user"):
                event["parent_user_id"] = parent["user"]
        return event

    def app_mention_event(self, channel: str, user: str, text: str, ts: str | None = None,
                          thread_ts: str | None = None) -> JSON:
        """An ``app_mention`` event (Slack sends it alongside the ``message`` event)."""
        ts = ts or self._new_ts()
        event: JSON = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel,
                       "event_ts": ts, "team": self.team_id, "blocks": _rich_text(text)}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    def member_joined_event(self, channel: str, user: str, inviter: str | None = None) -> JSON:
        """A ``member_joined_channel`` event as Slack delivers it (``channel_type`` ``C`` for a
        public channel, ``G`` for a private one; ``inviter`` only when someone added them)."""
        is_private = bool(self.slack and (self.slack.channel(channel) or {}).get("is_private"))
        event: JSON = {"type": "member_joined_channel", "user": user, "channel": channel,
                       "channel_type": "G" if is_private else "C", "team": self.team_id,
                       "event_ts": self._new_ts()}
        if inviter:
            event["inviter"] = inviter
        return event

    async def user_joins(self, channel: str, user: str, inviter: str | None = None, *,
                         sign: SignMode = "valid") -> Result:
        """Someone joins (or is added to) a channel: a member in the linked stand-in, then the
        ``member_joined_channel`` event is delivered."""
        if self.slack is not None:
            channel = self.slack.channel_id(channel)
            self.slack.add_member(channel, user)
        return await self.event(self.member_joined_event(channel, user, inviter), sign=sign)

    def envelope(self, event: JSON, event_id: str | None = None, event_time: int | None = None) -> JSON:
        """Wrap an event in the ``event_callback`` envelope Slack posts."""
        event.setdefault("event_ts", f"{time.time():.6f}")
        return {
            "token": self.verification_token, "team_id": self.team_id, "context_team_id": self.team_id,
            "context_enterprise_id": None, "api_app_id": self.api_app_id, "event": event,
            "type": "event_callback", "event_id": event_id or "Ev0" + secrets.token_hex(5).upper(),
            "event_time": event_time or int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": self.team_id, "user_id": BOT_USER_ID,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False, "event_context": "4-" + secrets.token_urlsafe(24),
        }

    async def event(self, event: JSON, event_id: str | None = None, retry_num: int | None = None,
                    retry_reason: str | None = None, *, sign: SignMode = "valid",
                    timestamp: int | None = None) -> Result:
        """Deliver an Events API callback; ``retry_num``/``retry_reason`` mark a redelivery."""
        body = self.envelope(event, event_id)
        self.last_event = body
        return await self._post_json(body, kind="event_callback", sign=sign, timestamp=timestamp,
                                     headers=self._retry_headers(retry_num, retry_reason))

    async def redeliver_last_event(self, retry_num: int = 1, retry_reason: str = "http_timeout", *,
                                   sign: SignMode = "valid") -> Result:
        """Resend the previous envelope unchanged (same ``event_id``), as Slack's retries do."""
        if self.last_event is None:
            raise RuntimeError("no event has been sent yet")
        return await self._post_json(self.last_event, kind="event_callback", sign=sign,
                                     headers=self._retry_headers(retry_num, retry_reason))

    @staticmethod
    def _retry_headers(retry_num: int | None, retry_reason: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        return headers

    async def user_says(self, channel: str, user: str, text: str, thread_ts: str | None = None, *,
                        sign: SignMode = "valid") -> Result:
        """A human posts a message: stored in the linked stand-in, then the event is delivered."""
        if self.slack is not None:
            channel = self.slack.channel_id(channel)
            stored = self.slack.add_user_message(channel, user, text, thread_ts=thread_ts)
            event = self.message_event(channel, user, text, ts=stored["ts"], thread_ts=thread_ts)
        else:
            event = self.message_event(channel, user, text, thread_ts=thread_ts)
        return await self.event(event, sign=sign)

    # People acting on messages (issue 19): the linked stand-in changes the message and says
    # which event Slack sends (bot/local/slack_standin/people.py builds them without one).

    def _people(self) -> SlackStandIn:
        if self.slack is None:
            raise RuntimeError("needs a linked stand-in (or send people.py's events with event())")
        return self.slack

    async def user_reacts(self, channel: str, user: str, ts: str, reaction: str = "pushpin",
                          *, remove: bool = False, sign: SignMode = "valid") -> Result:
        """``reaction_added`` (``reaction_removed`` with ``remove``) on the message ``ts``."""
        event = self._people().react_by_hand(channel, ts, user, reaction, added=not remove)
        return await self.event(event, sign=sign)

    async def user_pins(self, channel: str, user: str, ts: str, *, remove: bool = False,
                        sign: SignMode = "valid") -> Result:
        """``pin_added`` (``pin_removed`` with ``remove``), the pinned message inline."""
        event = self._people().pin_by_hand(channel, ts, user, added=not remove)
        return await self.event(event, sign=sign)

    async def user_edits(self, channel: str, ts: str, text: str, *,
                         sign: SignMode = "valid") -> Result:
        """A ``message_changed`` event: the stored message edited by its author."""
        return await self.event(self._people().edit_by_hand(channel, ts, text), sign=sign)

    async def user_deletes(self, channel: str, ts: str, *, sign: SignMode = "valid") -> Result:
        """A ``message_deleted`` event: the stored message deleted by its author."""
        return await self.event(self._people().delete_by_hand(channel, ts), sign=sign)

    async def url_verification(self, challenge: str | None = None, *, sign: SignMode = "valid") -> Result:
        """The handshake Slack sends when the Request URL is configured."""
        body = {"token": self.verification_token, "challenge": challenge or secrets.token_urlsafe(32),
                "type": "url_verification"}
        return await self._post_json(body, kind="url_verification", sign=sign)
