"""Outbox handlers that speak to Slack: the Slack side of the notifier port.

Each handler reads the incident's current state, calls Slack, and writes back what Slack
returned (announcement ts, channel id). Steps are idempotent so a retry resumes, it does not
repeat: a created channel is not created again, an invite already done is not an error.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.dispatcher import NO_ANNOUNCEMENT, NO_CHANNEL, Handler, Permanent
from bot.slack_ui import incident as rendering
from domain import services as svc
from domain.model import Incident, MLModel
from domain.policy import Policy
from domain.ports import Clock, SlackLink, UnitOfWork
from storage.delivery_reads import delivery_facts
from storage.outbox_store import OutboxRow

log = structlog.get_logger("slack")

class ChannelHooks(Protocol):
    """The channel lifecycle's part in delivery (issue 19 item 8; bot/delivery/channel_lifecycle.py):
    the channel name template, private incidents, archived channels, recorded members."""

    def name(self, incident: Incident, model: MLModel | None, suffix: int) -> str: ...
    def is_private(self, incident: Incident) -> bool: ...
    def announcement(self, incident: Incident, link: SlackLink,
                     now: datetime) -> tuple[str, list[dict[str, Any]]]: ...
    async def is_archived(self, incident_id: uuid.UUID) -> bool: ...
    async def archived_by_slack(self, incident_id: uuid.UUID) -> None: ...
    async def joined(self, incident_id: uuid.UUID, users: list[str]) -> None: ...


@dataclass
class RowFacts:
    """What a delivery read of its row's incident (see ``SlackDelivery._facts``)."""

    incident: Incident
    model: MLModel | None
    link: SlackLink
    archived: bool | None  # its channel archived; None: not known, ask the lifecycle


BENIGN_INVITE_ERRORS = {"already_in_channel", "cant_invite_self", "user_not_found",
                        "user_is_restricted", "user_is_bot", "cant_invite"}


class SlackDelivery:
    def __init__(self, client: AsyncWebClient, uow_factory: Callable[[], UnitOfWork],
                 clock: Clock, policy: Policy, incident_channel: str) -> None:
        # Lines features add to the announcement (e.g. runbook progress), read at each render.
        self.extras: list[Callable[[Incident], Awaitable[str | None]]] = []
        # The older incident on the same model the announcement offers as "This is the same"
        # (the related-incidents feature adds its lookup; issue 19 item 9).
        self.offers: list[Callable[[Incident], Awaitable[Incident | None]]] = []
        # Channel names, private incidents, archived channels (issue 19 item 8); None: every
        # channel public and named inc-<number>-<slug>, as before
        self.channels: ChannelHooks | None = None
        self.client = client
        self.uow_factory = uow_factory
        self.clock = clock
        self.policy = policy
        self.incident_channel = incident_channel
        self._bot_user: str | None = None
        self._listed_channel_id: str | None = None

    def handlers(self) -> dict[str, Handler]:
        return {
            svc.ANNOUNCE: self.announce,
            svc.CREATE_CHANNEL: self.create_channel,
            svc.REFRESH: self.refresh,
            svc.THREAD: self.post_thread,
            svc.CHANNEL: self.post_channel,
            svc.INVITE: self.invite,
        }

    async def _facts(self, row: OutboxRow) -> RowFacts:
        """The row's incident, its model, its link (a new one if none yet) and whether its
        channel is archived, in one statement (storage/delivery_reads.py) and passed along:
        four statements in two units of work per row before (the archived channel was read
        again just before posting there)."""
        async with self.uow_factory() as uow:
            assert row.incident_id is not None
            facts = await delivery_facts(uow, row.incident_id)
        if facts is None:
            raise Permanent(f"incident {row.incident_id} not found")
        return RowFacts(facts.incident, facts.model,
                        facts.link or SlackLink(incident_id=facts.incident.id), facts.archived)

    async def _save_link(self, link: SlackLink) -> None:
        async with self.uow_factory() as uow:
            await uow.slack_links.save(link)
            await uow.commit()

    async def announce(self, row: OutboxRow) -> None:
        facts = await self._facts(row)
        incident, model, link = facts.incident, facts.model, facts.link
        if link.announcement_ts:
            return  # already posted by an earlier attempt that failed to settle the row
        if row.maybe_delivered:  # an earlier attempt may have posted it and lost Slack's answer
            found = await self._posted_announcement(incident)
            if found is not None:
                link.announcement_channel, link.announcement_ts = found
                await self._save_link(link)
                return
        text, blocks = rendering.announcement(incident, model, link, self.policy, self.clock.now(),
                                              await self._extras(incident),
                                              await self._same_as(incident))
        if self.channels is not None and self.channels.is_private(incident):
            text, blocks = self.channels.announcement(incident, link, self.clock.now())
        response = await self.client.chat_postMessage(channel=self.incident_channel, text=text,
                                                      blocks=blocks, unfurl_links=False)
        link.announcement_channel = response["channel"]
        link.announcement_ts = response["ts"]
        await self._save_link(link)

    async def _posted_announcement(self, incident: Incident) -> tuple[str, str] | None:
        """(channel, ts) of this incident's announcement if it is already in the channel: its
        buttons carry the incident's id."""
        channel = await self._incident_channel_id()
        if channel is None:
            return None  # never announced anything yet: nothing to find
        marker = f"incident:{incident.id}"
        ts = await self._find_own_message(channel, 100, lambda m: any(
            b.get("block_id") == marker for b in m.get("blocks") or []))
        return (channel, ts) if ts is not None else None

    async def _find_own_message(self, channel: str, limit: int,
                                matches: Callable[[dict[str, Any]], bool]) -> str | None:
        """The ts of the newest of the bot's recent messages in ``channel`` that ``matches``:
        how a retry finds what an interrupted attempt already posted."""
        history = await self.client.conversations_history(channel=channel, limit=limit)
        messages: list[dict[str, Any]] = history.get("messages", [])
        for message in messages:
            if message.get("bot_id") and matches(message):
                return str(message["ts"])
        return None

    async def channel_id_for(self, name: str) -> str | None:
        """The id of a channel the bot posts to by name (the incidents channel), or None."""
        return await self._incident_channel_id() if name == self.incident_channel.lstrip(
            "#") else None

    async def _incident_channel_id(self) -> str | None:
        """conversations.history wants an id; INCIDENT_CHANNEL is usually a name. From an
        announcement already recorded, else (a first announcement whose answer a crash lost)
        from Slack's channel list, once per process."""
        if re.fullmatch(r"[CG][A-Z0-9]{6,}", self.incident_channel):
            return self.incident_channel
        async with self.uow_factory() as uow:
            recorded = await uow.slack_links.latest_announcement_channel()
        if recorded is not None:
            return recorded
        if self._listed_channel_id is None:
            self._listed_channel_id = await self._channel_named(self.incident_channel.lstrip("#"))
        return self._listed_channel_id

    async def _channel_named(self, name: str) -> str | None:
        found = await self._find_channel(name)
        return str(found["id"]) if found else None

    async def _find_channel(self, name: str, private: bool = False) -> dict[str, Any] | None:
        """The public (or private) channel called ``name`` (conversations.list, paged), or None."""
        cursor: str | None = None
        for _page in range(50):
            listed = await self.client.conversations_list(
                types="private_channel" if private else "public_channel", exclude_archived=True,
                limit=1000, cursor=cursor)
            for channel in listed.get("channels") or []:
                if channel.get("name") == name:
                    return dict(channel)
            cursor = (listed.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    async def create_channel(self, row: OutboxRow) -> None:
        facts = await self._facts(row)
        incident, model, link = facts.incident, facts.model, facts.link
        if not link.channel_id:
            link.channel_id, link.channel_name = await self._create_unique(incident, model)
            await self._save_link(link)
        await self.client.conversations_setTopic(channel=link.channel_id,
                                                 topic=rendering.topic(incident, model))
        await self._invite(link.channel_id, row.payload.get("invite", []), incident.id)
        summary_ts = (await self._posted_summary(link.channel_id, incident)
                      if row.maybe_delivered else None)
        if summary_ts is None:
            posted = await self.client.chat_postMessage(
                channel=link.channel_id, text=rendering.summary(incident, model, link))
            summary_ts = posted["ts"]
        try:
            await self.client.pins_add(channel=link.channel_id, timestamp=summary_ts)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_pinned":
                raise
        await self._update_announcement(incident, model, link)

    async def _posted_summary(self, channel_id: str, incident: Incident) -> str | None:
        """The summary an earlier, interrupted attempt already posted (its ts), if any: a retry
        pins that one instead of posting a second."""
        head = rendering.summary_heading(incident)
        return await self._find_own_message(
            channel_id, 50, lambda m: str(m.get("text", "")).startswith(head))

    def _channel_name(self, incident: Incident, model: MLModel | None,
                      suffix: int) -> tuple[str, bool]:
        """The name to try (CHANNEL_NAME_TEMPLATE) and whether the channel is private."""
        if self.channels is None:
            return rendering.channel_name(incident.number, incident.title, suffix), False
        return (self.channels.name(incident, model, suffix),
                self.channels.is_private(incident))

    async def _create_unique(self, incident: Incident, model: MLModel | None) -> tuple[str, str]:
        for suffix in range(0, 50):
            name, private = self._channel_name(incident, model, suffix)
            try:
                response = await self.client.conversations_create(name=name, is_private=private)
            except SlackApiError as exc:
                if exc.response.get("error") == "name_taken":
                    mine = await self._own_channel(name, private)
                    if mine is not None:  # an earlier attempt created it; its answer was lost
                        log.info("slack.channel_adopted", incident=incident.key, name=name)
                        return mine
                    continue  # somebody else's channel: try the next suffix
                raise
            return response["channel"]["id"], response["channel"]["name"]
        raise Permanent(f"no free channel name for {incident.key}")

    async def _own_channel(self, name: str, private: bool = False) -> tuple[str, str] | None:
        """The channel called ``name`` if the bot created it. Names carry the incident number,
        so a channel of that name created by the bot is this incident's, made by an attempt
        whose answer Slack lost (a 500 after creating, a timeout, a dropped connection)."""
        bot_user = await self._bot_user_id()
        channel = await self._find_channel(name, private)
        if channel is not None and bot_user and channel.get("creator") == bot_user:
            return str(channel["id"]), name
        return None

    async def _bot_user_id(self) -> str | None:
        if self._bot_user is None:
            self._bot_user = str((await self.client.auth_test()).get("user_id") or "")
        return self._bot_user or None

    async def refresh(self, row: OutboxRow) -> None:
        facts = await self._facts(row)
        incident, model, link = facts.incident, facts.model, facts.link
        await self._update_announcement(incident, model, link)
        if link.channel_id:
            channel_id = link.channel_id
            await self._in_channel(facts, lambda: self.client.conversations_setTopic(
                channel=channel_id, topic=rendering.topic(incident, model)))

    async def _update_announcement(self, incident: Incident, model: MLModel | None,
                                   link: SlackLink) -> None:
        if not (link.announcement_channel and link.announcement_ts):
            # Rows of an incident are delivered in order, so the announcement was tried first and
            # Slack refused it for good (e.g. not_in_channel). Waiting would stall every later
            # message of the incident; when it is sent again (`incident-bot outbox retry`) it
            # shows the state of that moment anyway.
            log.warning("announcement.missing", incident=incident.key)
            return
        text, blocks = rendering.announcement(incident, model, link, self.policy, self.clock.now(),
                                              await self._extras(incident),
                                              await self._same_as(incident))
        if self.channels is not None and self.channels.is_private(incident):
            text, blocks = self.channels.announcement(incident, link, self.clock.now())
        await self.client.chat_update(channel=link.announcement_channel, ts=link.announcement_ts,
                                      text=text, blocks=blocks)

    async def _extras(self, incident: Incident) -> list[str]:
        lines = []
        for extra in self.extras:
            try:
                line = await extra(incident)
            except Exception:  # a feature's line must never keep the announcement from Slack
                log.exception("announcement.extra_failed")
                continue
            if line:
                lines.append(line)
        return lines

    async def _same_as(self, incident: Incident) -> Incident | None:
        for offer in self.offers:
            try:
                other = await offer(incident)
            except Exception:  # an offer is a courtesy: never keep the announcement from Slack
                log.exception("announcement.same_as_failed")
                continue
            if other is not None:
                return other
        return None

    async def post_thread(self, row: OutboxRow) -> None:
        facts = await self._facts(row)
        incident, link = facts.incident, facts.link
        if not (link.announcement_channel and link.announcement_ts):
            raise Permanent(NO_ANNOUNCEMENT)
        if self.channels is not None and self.channels.is_private(incident):
            # a private incident says nothing in the incidents channel beyond its announcement;
            # what is posted only there (a stakeholder update) goes to its own channel instead
            if row.payload.get("private_to_channel") and link.channel_id:
                channel_id = link.channel_id
                await self._in_channel(facts, lambda: self.client.chat_postMessage(
                    channel=channel_id, text=row.payload["text"], unfurl_links=False))
                return
            log.info("slack.private_thread_skipped", incident=incident.key)
            return
        await self.client.chat_postMessage(channel=link.announcement_channel,
                                           thread_ts=link.announcement_ts,
                                           text=row.payload["text"], unfurl_links=False)

    async def post_channel(self, row: OutboxRow) -> None:
        facts = await self._facts(row)
        link = facts.link
        if not link.channel_id:
            raise Permanent(NO_CHANNEL)
        kwargs: dict[str, Any] = {"channel": link.channel_id, "text": row.payload["text"],
                                  "unfurl_links": False}
        if row.payload.get("blocks"):
            kwargs["blocks"] = row.payload["blocks"]
        await self._in_channel(facts, lambda: self.client.chat_postMessage(**kwargs))

    async def invite(self, row: OutboxRow) -> None:
        facts = await self._facts(row)
        incident, link = facts.incident, facts.link
        if not link.channel_id:
            raise Permanent(NO_CHANNEL)
        channel_id = link.channel_id
        await self._in_channel(facts, lambda: self._invite(
            channel_id, row.payload.get("users", []), incident.id))

    async def is_archived(self, facts: RowFacts) -> bool:
        """Whether the row's incident channel is archived: as read with its incident, else (a
        unit of work that is not SQL's) asked of the channel lifecycle; without the lifecycle
        feature no channel is ever archived."""
        if self.channels is None:
            return False
        if facts.archived is not None:
            return facts.archived
        return await self.channels.is_archived(facts.incident.id)

    async def _in_channel(self, facts: RowFacts, send: Callable[[], Awaitable[Any]]) -> None:
        """Do ``send`` in the incident channel unless it is archived (issue 19 item 8): an
        archived channel takes nothing, so what was meant for it ends here, neither failed nor
        retried; Slack's ``is_archived`` (archived before its event reached us) is recorded."""
        incident = facts.incident
        if await self.is_archived(facts):
            log.info("slack.channel_archived_skipped", incident=incident.key)
            return
        try:
            await send()
        except SlackApiError as exc:
            if exc.response.get("error") != "is_archived":
                raise
            log.info("slack.channel_is_archived", incident=incident.key)
            if self.channels is not None:
                await self.channels.archived_by_slack(incident.id)

    async def _invite(self, channel_id: str, users: list[str],
                      incident_id: uuid.UUID | None = None) -> None:
        users = [u for u in users if u]
        if not users:
            return
        try:
            response = await self.client.conversations_invite(channel=channel_id,
                                                              users=",".join(users))
            refused = {e.get("user") for e in response.get("errors") or []
                       if e.get("error") != "already_in_channel"}
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error not in BENIGN_INVITE_ERRORS:
                raise
            log.info("slack.invite_skipped", channel=channel_id, error=error)
            errors = exc.response.get("errors") or [{"user": u, "error": error} for u in users]
            refused = {e.get("user") for e in errors if e.get("error") != "already_in_channel"}
        if self.channels is not None and incident_id is not None:
            # who is in the channel: the members who may see a private incident
            await self.channels.joined(incident_id, [u for u in users if u not in refused])
