"""The HTTP side of the bot: the aiohttp applications (the public one: Bolt's dispatcher at
/slack/events, the webhook routes, /health, /ready and, without ADMIN_PORT, /metrics; the
admin one on ADMIN_PORT: /metrics, /ready, /health), the Socket Mode connection, and how a
request that is not taken on or not shaped like Slack's is answered.

Every response carries ``X-Trace-Id``: the trace id of the request's span (OpenTelemetry), or
with tracing off the caller's ``traceparent`` trace id or a fresh one; log lines written while
the request is handled carry the same id."""

from __future__ import annotations

import asyncio
import binascii
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from opentelemetry.trace import SpanKind, Status, StatusCode
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.intake import BUSY, AckedRequest, NotAdmitted, request_key
from bot.slack_payload import payload_shape_problem
from bot.tracing import W3C, incoming_trace_id, new_trace_id, trace_id_of
from domain.model import Severity
from storage.health import code_revision, database_revision
from storage.inbox_store import CURRENT_REQUEST
from storage.repositories import open_incident_counts

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("bot")

# the request's trace id, for the header: a RequestKey where aiohttp has them (3.13+, which
# warns about str keys), a str key on the older ones pyproject still allows
TRACE_ID: Any = getattr(web, "RequestKey", lambda name, _type: name)("incident_bot.trace_id", str)
TRACE_HEADER = "X-Trace-Id"
PROBES = frozenset({"/health", "/ready", "/metrics"})  # answered, never traced (scrape noise)
MAX_BODY = 5 * 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["admin_app", "connect_socket_mode", "payload_shape_problem", "serve_admin",
           "serve_http", "web_app"]


def web_app(container: Container) -> web.Application:
    """The public listener: Slack, the webhooks, /health (load balancers), /ready; /metrics
    too unless ADMIN_PORT moves it to the admin listener."""
    probes = Probes(container)
    app = _application(container)
    app.router.add_post("/slack/events", SlackEndpoint(container).handle)
    app.router.add_get("/health", probes.health)
    app.router.add_get("/ready", probes.ready)
    if container.settings.admin_port is None:
        app.router.add_get("/metrics", probes.metrics)
    app.router.add_routes(container.routes)
    return app


def admin_app(container: Container) -> web.Application:
    """The ADMIN_PORT listener, for the cluster only: Prometheus and the kubelet's probes."""
    probes = Probes(container)
    app = _application(container)
    app.router.add_get("/health", probes.health)
    app.router.add_get("/ready", probes.ready)
    app.router.add_get("/metrics", probes.metrics)
    return app


def _application(container: Container) -> web.Application:
    app = web.Application(middlewares=[observer(container)], client_max_size=MAX_BODY)
    app.on_response_prepare.append(_trace_header)
    return app


async def _trace_header(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, the 404s, 405s and 500s aiohttp writes itself included."""
    trace_id = request.get(TRACE_ID)
    if trace_id:
        response.headers[TRACE_HEADER] = trace_id


def observer(container: Container) -> Any:
    """The middleware that times each request (/metrics), gives it a server span (except the
    probes) and a trace id, and binds that id to the log lines written meanwhile."""
    tracer = container.tracing.tracer
    tracing = container.tracing.enabled

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        resource = request.match_info.route.resource
        endpoint = resource.canonical if resource else "unmatched"
        if endpoint in PROBES or not (tracing or "traceparent" in request.headers):
            # a probe, or tracing off and no caller's trace to carry on (Slack sends none):
            # the no-op span would be invalid, so it is not made (every ack paid for it)
            request[TRACE_ID] = incoming_trace_id(request.headers) or new_trace_id()
            return await _observed(container, request, handler, endpoint, started, None)
        with tracer.start_as_current_span(
                f"{request.method} {endpoint}", context=W3C.extract(request.headers),
                kind=SpanKind.SERVER, record_exception=False, set_status_on_exception=False,
                attributes={"http.request.method": request.method, "http.route": endpoint,
                            "url.path": request.path}) as span:
            request[TRACE_ID] = (trace_id_of(span) or incoming_trace_id(request.headers)
                                 or new_trace_id())
            return await _observed(container, request, handler, endpoint, started, span)

    return observe


async def _observed(container: Container, request: web.Request, handler: Handler,
                    endpoint: str, started: float, span: Any) -> web.StreamResponse:
    structlog.contextvars.bind_contextvars(trace_id=request[TRACE_ID])
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except Exception as exc:
        if span is not None:
            span.record_exception(exc)
        raise
    finally:
        container.metrics.api_request_duration.labels(
            request.method, endpoint, str(status)).observe(time.perf_counter() - started)
        if span is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        structlog.contextvars.unbind_contextvars("trace_id")


class SlackEndpoint:
    """POST /slack/events: verify, check the shape, take the request on durably, answer."""

    def __init__(self, container: Container) -> None:
        self.container = container
        # Socket Mode needs no signing secret (Slack's requests come over the socket); without
        # one, /slack/events refuses everything rather than the bot refusing to start
        secret = container.settings.slack_signing_secret
        self.verifier = SignatureVerifier(secret) if secret else None

    async def handle(self, request: web.Request) -> web.Response:
        self.container.ack_first.enter()
        try:
            return await self.answer(request)
        finally:
            self.container.ack_first.leave()

    async def answer(self, request: web.Request) -> web.Response:
        """Verify the signature before parsing, so garbage gets 401 or 400, never a 5xx."""
        raw = await request.read()
        if self.verifier is None:
            return web.json_response({"error": "HTTP mode is not enabled: set "
                                      "SLACK_SIGNING_SECRET"}, status=401)
        try:
            valid = self.verifier.is_valid_request(raw, dict(request.headers))
        except (ValueError, OverflowError):  # a timestamp that is not a number
            valid = False
        if not valid:
            return web.json_response({"error": "invalid or stale Slack signature"}, status=401)
        try:
            bolt_request = await bolt_request_of(request)
        except (ValueError, UnicodeDecodeError, TypeError, AttributeError, KeyError,
                IndexError) as exc:  # Bolt's context builder on a body that is no Slack object
            log.warning("slack.malformed_request", error=str(exc)[:200])
            return web.json_response({"error": f"malformed payload: {exc}"[:300]}, status=400)
        problem = payload_shape_problem(bolt_request.body)
        if problem:
            log.warning("slack.malformed_payload", error=problem)
            return web.json_response({"error": f"malformed payload: {problem}"}, status=400)
        intake = self.container.intake
        if intake.busy:
            log.warning("intake.busy", backlog=intake.backlog)
            return not_taken(bolt_request.body, NotAdmitted("busy", BUSY))
        acked = intake.begin(
            request_key(request.headers.get("X-Slack-Signature"),
                        request.headers.get("X-Slack-Request-Timestamp"), raw.hex()[:128]),
            raw.decode("utf-8", "replace"), request.headers.get("Content-Type", ""))
        return await self.answer_durably(acked, bolt_request)

    async def answer_durably(self, request: AckedRequest, bolt_request: AsyncBoltRequest
                             ) -> web.Response:
        """Dispatch to Bolt; if a listener handed work off, answer only once the request is on
        disk (the work waits for that too), else say plainly that nothing was recorded."""
        container = self.container
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


async def bolt_request_of(request: web.Request) -> AsyncBoltRequest:
    """Bolt's request, as its aiohttp adapter makes it, but an interactive request's form
    ``payload=<JSON>`` is decoded here (``form_payload``) and given to Bolt as the JSON it
    holds: urllib's decoder, which Bolt uses, takes a Python step per ``%XX``, and a click
    carries its whole message, hundreds of them (most of the ack's CPU, benchmarks/ack_cost.py)."""
    text = await request.text()
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    decoded = form_payload(text) if content_type == "application/x-www-form-urlencoded" else None
    return AsyncBoltRequest(body=text if decoded is None else decoded,
                            query=request.query_string,
                            headers=request.headers)  # type: ignore[arg-type]


def form_payload(body: str) -> str | None:
    """The JSON of a form body made of one ``payload`` field, decoded as urllib's
    ``parse_qsl`` decodes it, in C (``binascii.a2b_qp`` reads ``=XX`` as ``%XX`` is read);
    None when the body is another shape or holds anything the two could read differently
    (raw ``=``, line breaks, ``%%``, a ``%`` at the end, an escape that is not one, non-ASCII):
    Bolt then parses the body itself, as before."""
    head, _, value = body.partition("=")
    if (head != "payload" or "&" in value or not value.isascii() or "=" in value
            or "\n" in value or "\r" in value or "%%" in value or "%" in value[-2:]):
        return None
    decoded = binascii.a2b_qp(value.replace("+", " ").replace("%", "="))
    # each "=" must come from a %3D: any other is an escape a2b_qp did not decode
    if decoded.count(b"=") != value.count("%3D") + value.count("%3d"):
        return None
    text = decoded.decode("utf-8", "replace")
    return text if text.startswith("{") else None


class Probes:
    """/health (the process answers), /ready (its database is there and migrated), /metrics."""

    def __init__(self, container: Container) -> None:
        self.container = container

    async def health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(self, _: web.Request) -> web.Response:
        try:
            revision = await database_revision(self.container.engine)
        except Exception as exc:  # report, don't crash: the probe decides what to do
            # the reason goes to the log; the public answer names no host, port or user
            log.warning("ready.database_unavailable", error=str(exc)[:300])
            return web.json_response({"status": "unavailable",
                                      "error": f"database unreachable ({type(exc).__name__})"},
                                     status=503)
        head = code_revision()
        if revision != head:
            return web.json_response({"status": "migrating", "revision": revision,
                                      "head": head}, status=503)
        return web.json_response({"status": "ready", "revision": revision})

    async def metrics(self, _: web.Request) -> web.Response:
        """Always answers: with the database away, the last values it gave and
        incident_bot_database_up 0, so the outbox alerts are not blind exactly then."""
        container = self.container
        gauges = container.metrics
        try:
            async with asyncio.timeout(5):
                depth, age = await container.outbox_store.stats(container.clock.now())
                # from the database, not a counter: true across replicas and restarts
                open_by_severity = await open_incident_counts(container.engine)
        except Exception as exc:
            log.warning("metrics.database_unavailable", error=str(exc)[:200])
            gauges.database_up.set(0)
        else:
            gauges.database_up.set(1)
            gauges.outbox_depth.set(depth)
            gauges.outbox_oldest_age.set(age)
            for severity in Severity:
                gauges.incidents_open.labels(severity.value).set(
                    open_by_severity.get(severity.value, 0))
        body, content_type = gauges.render()
        return web.Response(body=body, headers={"Content-Type": content_type})


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
    tracer = container.tracing.tracer

    class DurableSocketModeHandler(AsyncSocketModeHandler):
        async def handle(self, client: Any, req: Any) -> None:
            with tracer.start_as_current_span(f"slack socket_mode {req.type}",
                                              kind=SpanKind.SERVER):
                await self.answer(client, req)

        async def answer(self, client: Any, req: Any) -> None:
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


async def serve_http(container: Container, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(web_app(container), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


async def serve_admin(container: Container, host: str, port: int) -> web.AppRunner:
    """The ADMIN_PORT listener (``port`` 0: any free port, for tests)."""
    runner = web.AppRunner(admin_app(container), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
