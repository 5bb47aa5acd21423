"""The stand-in's HTTP face: routes, token checks, Socket Mode, and the one Web API dispatcher
that records every call, applies faults, and runs the method's handler."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import secrets
import time
import uuid
from collections.abc import Callable

from aiohttp import web

from bot.local.slack_standin.chat import ChatMethods
from bot.local.slack_standin.conversations import ConversationMethods
from bot.local.slack_standin.files import FileMethods
from bot.local.slack_standin.model import (
    _TOKEN,
    APP_ID,
    DEFAULT_INCIDENT_CHANNEL,
    DEFAULT_INCIDENT_CHANNEL_ID,
    JSON,
    Call,
    Handler,
    SlackError,
)
from bot.local.slack_standin.people import PeopleActions
from bot.local.slack_standin.responses import ResponseUrls
from bot.local.slack_standin.users_views import UserAndViewMethods


class SlackStandIn(FileMethods, ResponseUrls, ChatMethods, ConversationMethods, UserAndViewMethods,
                   PeopleActions):
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
        super().__init__(incident_channel=incident_channel, incident_channel_id=incident_channel_id,
                         bot_token=bot_token, seed_users=seed_users, chat_write_public=chat_write_public,
                         trigger_ttl=trigger_ttl, strict_trigger_ids=strict_trigger_ids, clock=clock)
        self._methods = self._method_table()

    def _method_table(self) -> dict[str, Handler]:
        """Web API method name -> handler; a method not listed answers ``unknown_method``."""
        return {
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

    @staticmethod
    def _recorded(params: JSON) -> JSON:
        """A copy of the arguments for :attr:`calls`: no token, JSON-in-form fields decoded."""
        out = copy.deepcopy({k: v for k, v in params.items() if k != "token"})
        for key in ("blocks", "attachments", "view", "files", "metadata"):
            if isinstance(out.get(key), str):
                with contextlib.suppress(json.JSONDecodeError):
                    out[key] = json.loads(out[key])
        return out
