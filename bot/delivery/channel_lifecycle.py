"""Delivery's side of the channel lifecycle (issue 19 item 8): channel names from the template,
private channels and announcements, archived channels left alone, the members the bot invited
recorded, and the ``archive_channel`` outbox row (a last message, then conversations.archive).

Every step is idempotent, so a retry resumes: a last message an interrupted attempt posted is
found and not posted again; ``already_archived`` is success.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.dispatcher import Permanent
from bot.delivery.slack import SlackDelivery
from bot.slack_ui import channel_lifecycle as ui
from bot.slack_ui.incident import title_words
from bot.slack_ui.postmortems import draft_file
from domain.channel_lifecycle import ARCHIVER, ChannelLifecycle, Repositories
from domain.channel_names import ChannelNameTemplate, NameFacts
from domain.model import Incident, MLModel
from domain.policy import Policy
from domain.ports import Clock, SlackLink, UnitOfWork
from storage.outbox_store import OutboxRow

log = structlog.get_logger("slack.channels")

LOOKUP_SECONDS = 3.0  # a slow Slack must not hold up a `/incident list`
SLACK_ARCHIVER = "slack"  # archived_by when Slack said is_archived before its event came


class ChannelKeeper:
    """The :class:`bot.delivery.slack.ChannelHooks` of the running bot, and the archive row."""

    def __init__(self, delivery: SlackDelivery, lifecycle: ChannelLifecycle,
                 template: ChannelNameTemplate, repositories: Repositories,
                 uow_factory: Callable[[], UnitOfWork], clock: Clock, policy: Policy) -> None:
        self.delivery = delivery
        self.client: AsyncWebClient = delivery.client
        self.lifecycle = lifecycle
        self.template = template
        self.repositories = repositories
        self.uow_factory = uow_factory
        self.clock = clock
        self.policy = policy

    # -- ChannelHooks ----------------------------------------------------------------------

    def name(self, incident: Incident, model: MLModel | None, suffix: int) -> str:
        return self.template.render(NameFacts(
            number=incident.number, title_words=title_words(incident.title),
            model=model.name if model else "", severity=incident.severity.label,
            declared_at=incident.created_at), suffix)

    def is_private(self, incident: Incident) -> bool:
        return self.lifecycle.is_private(incident)

    def announcement(self, incident: Incident, link: SlackLink,
                     now: datetime) -> tuple[str, list[dict[str, Any]]]:
        return ui.private_announcement(incident, link, self.policy, now)

    async def is_archived(self, incident_id: uuid.UUID) -> bool:
        async with self.uow_factory() as uow:
            return (await self.repositories(uow).state(incident_id)).archived_at is not None

    async def archived_by_slack(self, incident_id: uuid.UUID) -> None:
        await self._set_archived(incident_id, SLACK_ARCHIVER)

    async def joined(self, incident_id: uuid.UUID, users: list[str]) -> None:
        if not users:
            return
        async with self.uow_factory() as uow:
            await self.repositories(uow).add_members(incident_id, users, self.clock.now())
            await uow.commit()

    async def _set_archived(self, incident_id: uuid.UUID, by: str) -> None:
        async with self.uow_factory() as uow:
            repo = self.repositories(uow)
            if (await repo.state(incident_id)).archived_at is None:
                await repo.set_archived(incident_id, self.clock.now(), by)
                await uow.commit()

    async def members(self, channel_id: str) -> set[str]:
        """Who is in the channel, as Slack says (conversations.members, paged, bounded)."""
        found: set[str] = set()
        cursor: str | None = None
        for _page in range(10):
            answer = await asyncio.wait_for(self.client.conversations_members(
                channel=channel_id, limit=1000, cursor=cursor), LOOKUP_SECONDS)
            found.update(answer.get("members") or [])
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return found

    # -- the archive_channel row -----------------------------------------------------------

    async def archive(self, row: OutboxRow) -> None:
        """The last message (with the postmortem's link), then conversations.archive."""
        facts = await self.delivery._facts(row)
        incident, link = facts.incident, facts.link
        if not link.channel_id:
            raise Permanent("no incident channel to archive")
        if await self.delivery.is_archived(facts):
            log.info("slack.archive_skipped", incident=incident.key, reason="already archived")
            return
        channel = link.channel_id
        try:
            if not (row.maybe_delivered and await self._last_message_posted(channel, incident)):
                text = str(row.payload.get("text") or ui.last_words(incident, 0))
                text += ui.postmortem_line(await self._postmortem_link(channel, incident))
                await self.client.chat_postMessage(channel=channel, text=text,
                                                   unfurl_links=False)
            await self.client.conversations_archive(channel=channel)
        except SlackApiError as exc:
            if exc.response.get("error") not in ("is_archived", "already_archived"):
                raise
            log.info("slack.archive_found_archived", incident=incident.key)
            await self._set_archived(incident.id, SLACK_ARCHIVER)
            return
        await self._set_archived(incident.id, ARCHIVER.id)
        log.info("slack.channel_archived", incident=incident.key, channel=channel)

    async def _last_message_posted(self, channel: str, incident: Incident) -> bool:
        head = ui.last_message_heading(incident)
        return await self.delivery._find_own_message(
            channel, 20, lambda m: str(m.get("text", "")).startswith(head)) is not None

    async def _postmortem_link(self, channel: str, incident: Incident) -> str | None:
        """The permalink of the postmortem draft posted in the channel, if one was."""
        filename, _title = draft_file(incident.key)
        history = await self.client.conversations_history(channel=channel, limit=200)
        for message in history.get("messages") or []:
            for file in message.get("files") or []:
                if file.get("name") == filename and file.get("permalink"):
                    return str(file["permalink"])
        return None
