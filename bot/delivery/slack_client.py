"""The Slack Web API client the bot uses: timed and counted per method for /metrics, with no
retries of its own, and posts made by outbox deliveries effectively once.

slack_sdk retries a POST whose connection dropped by itself; a post that reached Slack before
the drop then appears twice, unseen by the outbox. Here the outbox owns every retry. Each
``chat.postMessage`` made while delivering an outbox row carries the row's id in its message
``metadata``; when that row is delivered again after a delivery that may have reached Slack (a
lost answer, a crash, a shutdown, an expired claim), the post first looks for its own tagged
message in the channel or thread and, if it is there, answers with it instead of posting again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog
from opentelemetry.trace import NoOpTracer, SpanKind, Status, StatusCode, Tracer
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.delivery.dispatcher import CURRENT_DELIVERY
from bot.metrics import Metrics

log = structlog.get_logger("slack")

OUTBOX_EVENT_TYPE = "incident_bot_outbox"  # the metadata event_type of the bot's tagged posts
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,}")
TIMEOUT_SECONDS = 15  # a call Slack has not answered by then is retried by the outbox
WEBHOOK_TIMEOUT_SECONDS = 30  # a response_url post: slack_sdk's AsyncWebhookClient default


class MeteredWebClient(AsyncWebClient):
    """Every Web API method goes through ``api_call``: time it, and count what Slack refused
    (``error`` is Slack's error code, or the HTTP status, or the connection failure's type)."""

    def __init__(self, *args: Any, metrics: Metrics, tracer: Tracer | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("retry_handlers", [])  # the outbox retries, with what it knows
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        super().__init__(*args, **kwargs)
        self._metrics = metrics
        self._tracer = tracer or NoOpTracer()  # a client span per Web API call
        # channel name -> id, for the look-up (conversations.history wants an id); the
        # composition root may add a resolver for names this process has not posted to yet
        self.channel_ids: dict[str, str] = {}
        self.resolve_channel: Callable[[str], Awaitable[str | None]] | None = None
        # one HTTP session kept for the event loop that calls (see _session_for_loop), unless
        # the caller gave its own
        self._keeps_session = self.session is None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        # the same for the replies to response_url (see webhook_session)
        self._webhook_session: aiohttp.ClientSession | None = None
        self._webhook_loop: asyncio.AbstractEventLoop | None = None

    def webhook_session(self) -> aiohttp.ClientSession:
        """A session kept for the running loop for posts to a ``response_url`` (the replies to
        commands and clicks), with the webhook client's own 30 s timeout: Bolt's ``respond``
        opened a session and a connection for every reply."""
        loop = asyncio.get_running_loop()
        session = self._webhook_session
        if session is None or session.closed or self._webhook_loop is not loop:
            session = self._webhook_session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_SECONDS))
            self._webhook_loop = loop
        return session

    def _session_for_loop(self) -> None:
        """Keep one aiohttp session (its connections kept alive) for the running loop. Without
        one, slack_sdk opened a session and a TCP connection for every call and closed them
        after: a third of a delivery's CPU (benchmarks/ack_cost.py). A post on a kept
        connection Slack closed fails like any dropped connection: the outbox retries it,
        looking first for what may have been posted."""
        if not self._keeps_session:
            return
        loop = asyncio.get_running_loop()
        if self.session is not None and not self.session.closed and self._session_loop is loop:
            return
        # a session of a loop that is gone (a test's) cannot be closed from here
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout),
                                             trust_env=self.trust_env_in_session)
        self._session_loop = loop

    async def close(self) -> None:
        """Close the kept sessions (the container's stop)."""
        loop = asyncio.get_running_loop()
        webhook, self._webhook_session = self._webhook_session, None
        if webhook is not None and not webhook.closed and self._webhook_loop is loop:
            await webhook.close()
        session = self.session if self._keeps_session else None
        if session is None or session.closed:
            return
        self.session = None
        if self._session_loop is loop:
            await session.close()

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        delivery = CURRENT_DELIVERY.get()
        if api_method == "chat.postMessage" and delivery is not None and isinstance(
                kwargs.get("json"), dict) and "metadata" not in kwargs["json"]:
            delivery.posts += 1
            tag = {"outbox_id": delivery.row.id, "part": delivery.posts}
            kwargs["json"]["metadata"] = {"event_type": OUTBOX_EVENT_TYPE, "event_payload": tag}
            if delivery.row.maybe_delivered:
                found = await self._already_posted(kwargs["json"], tag)
                if found is not None:
                    return found
        response = await self._metered(api_method, **kwargs)
        if api_method == "chat.postMessage" and isinstance(kwargs.get("json"), dict):
            name = str(kwargs["json"].get("channel", ""))
            if name and not CHANNEL_ID.fullmatch(name) and response.get("channel"):
                self.channel_ids[name.lstrip("#")] = str(response["channel"])
        return response

    async def _metered(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        self._session_for_loop()
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
                f"slack {api_method}", kind=SpanKind.CLIENT, record_exception=False,
                set_status_on_exception=False,  # set below: Slack's error code, not its answer
                attributes={"rpc.system": "slack", "rpc.method": api_method}) as span:
            try:
                return await super().api_call(api_method, **kwargs)
            except SlackApiError as exc:
                response = exc.response
                error = (response.get("error") if isinstance(response.data, dict) else None) or (
                    f"http_{response.status_code}")
                self._metrics.slack_api_errors.labels(api_method, str(error)).inc()
                span.set_status(Status(StatusCode.ERROR, str(error)))
                raise
            except Exception as exc:  # connection refused, timeout...: Slack did not answer
                self._metrics.slack_api_errors.labels(api_method, type(exc).__name__).inc()
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                self._metrics.slack_api_duration.labels(api_method).observe(
                    time.perf_counter() - started)

    async def _already_posted(self, message: dict[str, Any],
                              tag: dict[str, Any]) -> AsyncSlackResponse | None:
        """The message an earlier delivery of this outbox row already posted, as Slack's answer
        to the post would have been; None when it is not there (or cannot be looked for)."""
        channel = await self._channel_id(str(message.get("channel", "")))
        if channel is None:
            return None
        thread_ts = message.get("thread_ts")
        try:
            if thread_ts:
                found = await self._metered("conversations.replies", http_verb="GET", params={
                    "channel": channel, "ts": thread_ts, "limit": 200,
                    "include_all_metadata": "true"})
            else:
                found = await self._metered("conversations.history", http_verb="GET", params={
                    "channel": channel, "limit": 100, "include_all_metadata": "true"})
        except Exception as exc:  # cannot look: post (a duplicate is better than a loss)
            log.warning("slack.posted_lookup_failed", channel=channel, error=str(exc)[:200])
            return None
        for posted in found.get("messages") or []:
            meta = posted.get("metadata") or {}
            if meta.get("event_type") == OUTBOX_EVENT_TYPE and meta.get("event_payload") == tag:
                log.info("slack.already_posted", outbox_id=tag["outbox_id"], ts=posted.get("ts"))
                return AsyncSlackResponse(
                    client=self, http_verb="POST", api_url="chat.postMessage", req_args={},
                    data={"ok": True, "channel": channel, "ts": posted["ts"], "message": posted},
                    headers={}, status_code=200)
        return None

    async def _channel_id(self, channel: str) -> str | None:
        if CHANNEL_ID.fullmatch(channel):
            return channel
        name = channel.lstrip("#")
        if name in self.channel_ids:
            return self.channel_ids[name]
        if self.resolve_channel is not None:
            return await self.resolve_channel(name)
        return None
