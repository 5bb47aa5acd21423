"""Slack deliveries of the IaC drift outbox rows (``IAC_*`` kinds): the drift event's message
(posted once, then updated in place), the expiry note in its thread, the incomplete-report
warning."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.dispatcher import Permanent
from bot.slack_ui import iac as ui
from domain.iac.decisions import IAC_EXPIRED, IAC_INCOMPLETE, IAC_MESSAGE, IacDrift
from domain.iac.ports import IacUnitOfWork
from storage.outbox_store import OutboxRow

Handler = Callable[[OutboxRow], Any]


class IacDelivery:
    def __init__(self, iac: IacDrift, client: AsyncWebClient, channel: str,
                 uow_factory: Callable[[], IacUnitOfWork]) -> None:
        self.iac = iac
        self.client = client
        self.channel = channel  # the incidents channel, where drift messages go
        self.uow_factory = uow_factory

    def handlers(self) -> dict[str, Handler]:
        return {IAC_MESSAGE: self.deliver_message, IAC_EXPIRED: self.deliver_expiry,
                IAC_INCOMPLETE: self.deliver_incomplete}

    async def deliver_message(self, row: OutboxRow) -> None:
        stored = await self.iac.load(uuid.UUID(row.payload["event_id"]))
        if stored is None:
            raise Permanent("drift event vanished")
        text, blocks = ui.render(stored)
        if stored.slack_ts and stored.slack_channel:
            await self.client.chat_update(channel=stored.slack_channel, ts=stored.slack_ts,
                                          text=text, blocks=blocks)
            return
        response = await self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks,
                                                       unfurl_links=False)
        async with self.uow_factory() as uow:
            await uow.iac_drift.posted(stored.id, response["channel"], response["ts"])
            await uow.commit()

    async def deliver_expiry(self, row: OutboxRow) -> None:
        stored = await self.iac.load(uuid.UUID(row.payload["event_id"]))
        if stored is None or not stored.slack_ts:
            return  # never posted: the message itself (IAC_MESSAGE) says it is open
        await self.client.chat_postMessage(
            channel=stored.slack_channel or self.channel, thread_ts=stored.slack_ts, unfurl_links=False,
            text=ui.expiry_text(stored, row.payload["expired"], row.payload["reason"]))

    async def deliver_incomplete(self, row: OutboxRow) -> None:
        await self.client.chat_postMessage(
            channel=self.channel, unfurl_links=False,
            text=ui.incomplete_text(row.payload.get("source"), row.payload.get("format"),
                                    row.payload.get("notices") or []))
