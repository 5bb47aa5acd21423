"""What Slack listeners need, handed in by the composition root (no globals)."""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from domain.model import Actor, Incident
from domain.policy import Policy
from domain.ports import Clock
from domain.services import IncidentService, IncidentView
from handlers.verbs import VerbTable

log = structlog.get_logger("handlers")

Work = Coroutine[Any, Any, object]  # what a listener does after its ack; the result is unused


@dataclass
class SlackContext:
    service: IncidentService
    policy: Policy
    clock: Clock
    client: AsyncWebClient
    incident_channel: str
    # Every /incident verb, core and feature (features add theirs in install: handlers/verbs.py)
    verbs: VerbTable = field(default_factory=VerbTable)
    # Lines features add under `/incident models` (accepted drift, snoozes: issue 18)
    model_notes: list[Callable[[], Awaitable[list[str]]]] = field(default_factory=list)
    # Lines features add to `/incident status` of one incident (related incidents: issue 19),
    # given the incident as the command read it (not read again by each feature)
    status_notes: list[Callable[[Incident], Awaitable[list[str]]]] = field(default_factory=list)
    # Lines features add under each incident of the App Home tab (its roles: issue 19)
    home_notes: list[Callable[[list[uuid.UUID]], Awaitable[dict[uuid.UUID, list[str]]]]] = field(
        default_factory=list)
    # Runs a listener's work after its ack (bot.ack.AckFirst.spawn); a plain task when unset
    run_after_ack: Callable[[Work, str | None], None] | None = None
    # Private incidents (issue 19 item 8): the label that makes one private, and how views are
    # shown to a user (private ones redacted for non-members); unset: shown as they are
    private_label: str = "private"
    visible_to: Callable[[list[IncidentView], str], Awaitable[list[IncidentView]]] | None = None
    _names: OrderedDict[str, str] = field(default_factory=OrderedDict)
    _tasks: set[asyncio.Task[object]] = field(default_factory=set)

    async def shown_to(self, views: list[IncidentView], user_id: str) -> list[IncidentView]:
        """``views`` as ``user_id`` may see them (a private incident's title only for members)."""
        return views if self.visible_to is None else await self.visible_to(views, user_id)

    def after_ack(self, work: Work, key: str | None = None) -> None:
        """Call right after ``ack()`` and return: the listener ends, so Bolt answers Slack at
        once, and ``work`` (the database, the Slack calls) goes on in a task of its own.

        Works with the same ``key`` (the incident they act on, as the request names it) run
        one after another in the order Slack delivered them, not side by side."""
        if self.run_after_ack is not None:
            self.run_after_ack(work, key)
            return
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def actor(self, user_id: str, name: str | None = None) -> Actor:
        """The Slack actor with a display name; looked up once and remembered (bounded)."""
        if name:
            self._remember(user_id, name)
            return Actor(user_id, name)
        if user_id in self._names:
            return Actor(user_id, self._names[user_id])
        try:
            # bounded: a slow Slack must not hold a work slot for the client's 30 s timeout
            response = await asyncio.wait_for(self.client.users_info(user=user_id), 3.0)
            user = response["user"]
            name = user.get("name") or user.get("real_name") or user_id
        except Exception:  # a name is nice to have; the id is what the audit needs
            name = user_id
        self._remember(user_id, name)
        return Actor(user_id, name)

    def _remember(self, user_id: str, name: str) -> None:
        self._names[user_id] = name
        self._names.move_to_end(user_id)
        while len(self._names) > 5000:
            self._names.popitem(last=False)

    async def open_modal(self, body: dict[str, Any], respond: Any, trigger_id: Any,
                         view: dict[str, Any]) -> None:
        """``views.open``; a trigger Slack refuses (missing, expired, used, or a view it will
        not take) is the user's to retry, told so: a warning, not a listener failure."""
        if not isinstance(trigger_id, str) or not trigger_id:
            log.warning("slack.views_open_refused", error="no trigger_id")
            await self.reply(body, respond, ":warning: Slack sent no way to open the form; try again.")
            return
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            log.warning("slack.views_open_refused", error=str(error or exc)[:200])
            await self.reply(body, respond,
                             f":warning: Slack would not open the form ({error}); try again.")

    async def _respond(self, respond: Any, text: str) -> None:
        """Bolt's ``respond`` (an ephemeral reply to the ``response_url``), on the client's
        kept session when it has one: ``respond`` opens a session and a connection for each
        reply. The same message, the same webhook client, its retries and timeout."""
        kept = getattr(self.client, "webhook_session", None)
        if not (kept is not None and isinstance(respond, AsyncRespond) and respond.response_url):
            await respond(response_type="ephemeral", replace_original=False, text=text)
            return
        await AsyncWebhookClient(url=respond.response_url, proxy=respond.proxy, ssl=respond.ssl,
                                 session=kept()).send(
            text=text, response_type="ephemeral", replace_original=False)

    async def reply(self, body: dict[str, Any], respond: Any, text: str) -> None:
        """An ephemeral reply to whoever acted: via response_url, else chat.postEphemeral.

        Never raises: a reply that cannot be delivered is logged, the action itself stands.
        """
        try:
            if body.get("response_url") or (body.get("response_urls") or []):
                await self._respond(respond, text)
                return
            channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
            user = body.get("user_id") or (body.get("user") or {}).get("id")
            if channel and user:
                await self.client.chat_postEphemeral(channel=channel, user=user, text=text)
            else:
                log.warning("reply.undeliverable", reason="no response_url, channel or user")
        except Exception as exc:  # the reply is a courtesy; never turn it into a failure
            log.warning("reply.failed", error=str(exc))
