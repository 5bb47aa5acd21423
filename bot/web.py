"""The HTTP side of the bot: the aiohttp application (Bolt's dispatcher at /slack/events, the
webhook routes, /health, /ready, /metrics), the Socket Mode connection, and how a request that
is not taken on or not shaped like Slack's is answered."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text

from bot.intake import BUSY, AckedRequest, NotAdmitted, request_key
from domain.model import Severity
from storage import migrate
from storage.inbox_store import CURRENT_REQUEST
from storage.repositories import open_incident_counts

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("bot")


def web_app(container: Container) -> web.Application:
    """Our aiohttp application: Bolt's dispatcher mounted beside webhooks, health, metrics."""

    @web.middleware
    async def observe(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        trace_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(trace_id=trace_id)
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            endpoint = request.match_info.route.resource.canonical if (
                request.match_info.route.resource) else "unmatched"
            container.metrics.api_request_duration.labels(
                request.method, endpoint, str(status)).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("trace_id")

    # Socket Mode needs no signing secret (Slack's requests come over the socket); without
    # one, /slack/events refuses everything rather than the bot refusing to start
    secret = container.settings.slack_signing_secret
    verifier = SignatureVerifier(secret) if secret else None

    async def slack_events(request: web.Request) -> web.Response:
        container.ack_first.enter()
        try:
            return await answer_slack(request)
        finally:
            container.ack_first.leave()

    async def answer_slack(request: web.Request) -> web.Response:
        """Verify the signature before parsing, so garbage gets 401 or 400, never a 5xx."""
        raw = await request.read()
        if verifier is None:
            return web.json_response({"error": "HTTP mode is not enabled: set "
                                      "SLACK_SIGNING_SECRET"}, status=401)
        try:
            valid = verifier.is_valid_request(raw, dict(request.headers))
        except (ValueError, OverflowError):  # a timestamp that is not a number
            valid = False
        if not valid:
            return web.json_response({"error": "invalid or stale Slack signature"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, UnicodeDecodeError, TypeError, AttributeError, KeyError,
                IndexError) as exc:  # Bolt's context builder on a body that is no Slack object
            log.warning("slack.malformed_request", error=str(exc)[:200])
            return web.json_response({"error": f"malformed payload: {exc}"[:300]}, status=400)
        problem = payload_shape_problem(bolt_request.body)
        if problem:
            log.warning("slack.malformed_payload", error=problem)
            return web.json_response({"error": f"malformed payload: {problem}"}, status=400)
        intake = container.intake
        if intake.busy:
            log.warning("intake.busy", backlog=intake.backlog)
            return not_taken(bolt_request.body, NotAdmitted("busy", BUSY))
        acked = intake.begin(
            request_key(request.headers.get("X-Slack-Signature"),
                        request.headers.get("X-Slack-Request-Timestamp"), raw.hex()[:128]),
            raw.decode("utf-8", "replace"), request.headers.get("Content-Type", ""))
        return await answer_durably(acked, bolt_request)

    async def answer_durably(request: AckedRequest, bolt_request: AsyncBoltRequest
                             ) -> web.Response:
        """Dispatch to Bolt; if a listener handed work off, answer only once the request is on
        disk (the work waits for that too), else say plainly that nothing was recorded."""
        token = CURRENT_REQUEST.set(request)
        try:
            bolt_response = await container.bolt.async_dispatch(bolt_request)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # Bolt's matchers assume Slack-shaped payloads; a signed but malformed one lands here.
            log.warning("slack.malformed_payload", error=repr(exc)[:200])
            return web.json_response({"error": "malformed payload"}, status=400)
        finally:
            CURRENT_REQUEST.reset(token)
        try:
            if request.works:
                try:
                    await container.intake.admit(request)
                except NotAdmitted as refused:
                    if refused.kind == "duplicate":  # the same signed request, sent again
                        log.warning("slack.replayed_request_ignored")
                        return web.Response(status=200)
                    return not_taken(bolt_request.body, refused)
            return await to_aiohttp_response(bolt_response)
        finally:
            container.intake.dispatched(request)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        try:
            async with container.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            revision = await migrate.current_revision(container.engine)
        except Exception as exc:  # report, don't crash: the probe decides what to do
            # the reason goes to the log; the public answer names no host, port or user
            log.warning("ready.database_unavailable", error=str(exc)[:300])
            return web.json_response({"status": "unavailable",
                                      "error": f"database unreachable ({type(exc).__name__})"},
                                     status=503)
        head = migrate.head_revision()
        if revision != head:
            return web.json_response({"status": "migrating", "revision": revision,
                                      "head": head}, status=503)
        return web.json_response({"status": "ready", "revision": revision})

    async def metrics(_: web.Request) -> web.Response:
        """Always answers: with the database away, the last values it gave and
        incident_bot_database_up 0, so the outbox alerts are not blind exactly then."""
        try:
            async with asyncio.timeout(5):
                depth, age = await container.outbox_store.stats(container.clock.now())
                # from the database, not a counter: true across replicas and restarts
                open_by_severity = await open_incident_counts(container.engine)
        except Exception as exc:
            log.warning("metrics.database_unavailable", error=str(exc)[:200])
            container.metrics.database_up.set(0)
        else:
            container.metrics.database_up.set(1)
            container.metrics.outbox_depth.set(depth)
            container.metrics.outbox_oldest_age.set(age)
            for severity in Severity:
                container.metrics.incidents_open.labels(severity.value).set(
                    open_by_severity.get(severity.value, 0))
        body, content_type = container.metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application(middlewares=[observe], client_max_size=5 * 1024 * 1024)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    app.router.add_routes(container.routes)
    return app


async def connect_socket_mode(container: Container) -> Any:
    """Connect the Bolt app to Slack over Socket Mode (``SLACK_APP_TOKEN``, an ``xapp-`` token).

    The socket client opens its connection with ``apps.connections.open`` through the Bolt app's
    Web API client, so ``SLACK_API_URL`` points it at a stand-in as well. Envelopes are acked
    only once the work they started is in the inbox, as over HTTP. Returns the handler;
    ``await handler.close_async()`` disconnects.
    """
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_bolt.adapter.socket_mode.async_internals import (
        run_async_bolt_app,
        send_async_response,
    )
    from slack_bolt.response import BoltResponse

    intake = container.intake

    class DurableSocketModeHandler(AsyncSocketModeHandler):
        async def handle(self, client: Any, req: Any) -> None:
            started = time.time()
            payload = req.payload if isinstance(req.payload, dict) else {}
            if intake.busy:
                status, body = refusal(payload, NotAdmitted("busy", BUSY))
                await send_async_response(client, req, BoltResponse(
                    status=status, body=json.dumps(body)), started)
                return
            acked = intake.begin(request_key(None, None, f"socket:{req.envelope_id}"),
                                 json.dumps(payload), "application/json")
            token = CURRENT_REQUEST.set(acked)
            try:
                response = await run_async_bolt_app(self.app, req)
            finally:
                CURRENT_REQUEST.reset(token)
            try:
                if acked.works:
                    try:
                        await intake.admit(acked)
                    except NotAdmitted as refused:
                        status, body = (200, {}) if refused.kind == "duplicate" else refusal(
                            payload, refused)
                        response = BoltResponse(status=status, body=json.dumps(body) if body
                                                else "")
            finally:
                intake.dispatched(acked)
            await send_async_response(client, req, response, started)

    handler = DurableSocketModeHandler(container.bolt, container.settings.slack_app_token)
    await handler.connect_async()
    return handler


def refusal(body: dict[str, Any], refused: NotAdmitted) -> tuple[int, dict[str, Any]]:
    """How to tell Slack (and the user) that a request was not taken on, in the form each kind
    of request allows: an ephemeral text for a command, a form error for a modal, and 503 for
    clicks and events (Slack shows the click failed, and retries an event later)."""
    text = f":hourglass: {refused}"
    if body.get("command"):
        return 200, {"response_type": "ephemeral", "text": text}
    if body.get("type") == "view_submission":
        blocks = ((body.get("view") or {}).get("blocks")) or []
        inputs = [b.get("block_id") for b in blocks if isinstance(b, dict)
                  and b.get("type") == "input" and b.get("block_id")]
        if inputs:
            return 200, {"response_action": "errors", "errors": {inputs[0]: str(refused)[:150]}}
    return 503, {"error": str(refused)}


def not_taken(body: dict[str, Any], refused: NotAdmitted) -> web.Response:
    status, answer = refusal(body, refused)
    return web.json_response(answer, status=status,
                             headers={"Retry-After": "30"} if status == 503 else None)


def payload_shape_problem(body: Any) -> str | None:
    """What Bolt's context builder, its matchers or our listeners would trip on in a signed
    payload, as a 400 reason (else None). Slack sends objects where these expect objects, short
    strings for ids, and valid Unicode; anything else is refused here rather than half-handled."""
    if not isinstance(body, dict):
        return "a Slack payload is a JSON object"
    bad_text: list[str] = []

    def walk(value: Any, where: str, depth: int = 0) -> None:
        """Lone surrogates can be neither stored nor sent on (free text keeps its NULs: the
        domain's text boundary strips those)."""
        if bad_text or depth > 40:
            if depth > 40:
                bad_text.append(f"{where} is nested too deeply")
            return
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                bad_text.append(f"{where} is not valid text")
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, where, depth + 1)
                walk(item, f"{where}.{key}"[:80], depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{where}[]", depth + 1)

    def id_problem(value: Any, where: str) -> str | None:
        if value is not None and not (isinstance(value, str) and len(value) <= 255
                                      and "\x00" not in value):
            return f"{where} must be a short string"
        return None

    def object_problem(value: Any, where: str, *, may_be_id: bool = False) -> str | None:
        """An object (or, where Slack allows it, an id string) whose ids are strings."""
        if value is None:
            return None
        if isinstance(value, str) and may_be_id:
            return id_problem(value, where)
        if not isinstance(value, dict):
            return f"{where} must be an object"
        for key in ("id", "team_id", "enterprise_id", "user_id", "channel_id", "name", "username",
                    "type", "callback_id", "user", "channel", "team", "ts", "thread_ts", "subtype",
                    "bot_id", "tab", "app_installed_team_id", "message_ts", "execution_id"):
            problem = id_problem(value.get(key), f"{where}.{key}")
            if problem:
                return problem
        return None

    walk(body, "payload")
    if bad_text:
        return bad_text[0]
    for key in ("type", "team_id", "user_id", "channel_id", "enterprise_id", "api_app_id",
                "trigger_id", "thread_ts", "command", "callback_id", "function_execution_id",
                "bot_access_token", "event_id", "token", "challenge", "user_name", "channel_name",
                "team_domain"):
        problem = id_problem(body.get(key), key)
        if problem:
            return problem
    if "command" in body and not (isinstance(body.get("user_id"), str) and body["user_id"]):
        return "slash commands need a user_id"
    if not isinstance(body.get("text", ""), str):
        return "text must be a string"

    def url_problem(url: Any, where: str) -> str | None:
        """Bolt answers through it (even to refuse a workspace): it must be one it can call."""
        if url in (None, ""):
            return None
        if not (isinstance(url, str) and url.startswith(("https://", "http://"))
                and len(url) <= 2048 and not any(c.isspace() for c in url)):
            return f"{where} must be an http(s) URL"
        return None

    problem = url_problem(body.get("response_url"), "response_url")
    if problem:
        return problem
    for key in ("team", "user", "enterprise", "channel"):
        problem = object_problem(body.get(key), key, may_be_id=True)
        if problem:
            return problem
    if "event" in body and not isinstance(body["event"], dict):  # Bolt reads event.get(...)
        return "event must be an object"
    for key in ("container", "message", "previous_message", "item", "assistant_thread",
                "function_data", "view", "event"):
        problem = object_problem(body.get(key), key)
        if problem:
            return problem
    authorizations = body.get("authorizations")
    if authorizations is not None and not (isinstance(authorizations, list) and all(
            object_problem(a, "authorization") is None for a in authorizations)):
        return "authorizations must be a list of objects"
    urls = body.get("response_urls")
    if urls is not None and not (isinstance(urls, list) and all(
            isinstance(u, dict) and url_problem(u.get("response_url"), "") is None for u in urls)):
        return "response_urls must be a list of objects with http(s) URLs"
    kind = body.get("type")
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not isinstance(view.get("type"), str):
            return "view payloads need a view object with a type"
        state = view.get("state", {})
        values = state.get("values", {}) if isinstance(state, dict) else None
        if not isinstance(values, dict) or not all(
                isinstance(block, dict) and all(isinstance(e, dict) for e in block.values())
                for block in values.values()):
            return "view.state.values must map block ids to objects of action states"
        for block in values.values():
            for element in block.values():
                option = element.get("selected_option")
                if option is not None and not (isinstance(option, dict) and isinstance(
                        option.get("value", ""), str)):
                    return "a selected option must be an object with a string value"
                for key in ("value", "selected_date", "selected_time", "selected_user",
                            "selected_channel", "selected_conversation"):
                    if not isinstance(element.get(key) or "", str):
                        return f"an input's {key} must be a string"
                for key in ("selected_options", "selected_users", "selected_channels",
                            "selected_conversations"):
                    if not isinstance(element.get(key) or [], list):
                        return f"an input's {key} must be a list"
        if not isinstance(view.get("private_metadata", ""), str):
            return "view.private_metadata must be a string"
    if kind in ("block_actions", "view_submission", "view_closed", "shortcut",
                "message_action") and not isinstance(body.get("user"), dict):
        return f"{kind} payloads need a user object"
    if kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action"
                ) and not isinstance(body["user"].get("id"), str):
        return f"{kind} payloads need a user id"
    if kind == "block_actions":
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions and all(
                isinstance(a, dict) and isinstance(a.get("action_id"), str)
                and isinstance(a.get("block_id", ""), str) for a in actions)):
            return "block_actions payloads need a list of actions with action ids"
        if not isinstance(body.get("trigger_id"), str):
            return "block_actions payloads need a trigger_id"
        for action in actions:
            if not isinstance(action.get("value", ""), str) or not isinstance(
                    action.get("selected_option") or {}, dict):
                return "an action's value must be a string"
    if kind in ("shortcut", "message_action") and not isinstance(body.get("callback_id"), str):
        return f"{kind} payloads need a callback_id"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event_callback payloads need an event object with a type"
        if not isinstance(event.get("text") or "", str):
            return "an event's text must be a string"
    return None


async def serve_http(container: Container, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(web_app(container), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
