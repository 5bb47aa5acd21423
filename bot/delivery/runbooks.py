"""Delivers ``runbook_checklist`` outbox rows: posts the checklist in the incident channel once,
then edits that message in place as steps are done."""

from __future__ import annotations

from typing import Any

from bot.delivery.dispatcher import NO_CHANNEL, Permanent
from bot.slack_ui.runbooks import checklist_message
from domain.checklists import Checklists
from storage.outbox_store import OutboxRow


class ChecklistDelivery:
    def __init__(self, checklists: Checklists, client: Any) -> None:
        self.checklists = checklists
        self.client = client

    async def deliver(self, row: OutboxRow) -> None:
        assert row.incident_id is not None
        checklist = await self.checklists.checklist(row.incident_id)
        if checklist is None:
            raise Permanent("no runbook for this incident")
        if checklist.runbook is None:
            raise Permanent(f"runbook {checklist.followed.runbook} is no longer installed")
        if not checklist.channel_id:
            raise Permanent(NO_CHANNEL)
        text, blocks = checklist_message(checklist, checklist.runbook)
        followed = checklist.followed
        if followed.message_ts:
            await self.client.chat_update(channel=followed.message_channel, ts=followed.message_ts,
                                          text=text, blocks=blocks)
            return
        response = await self.client.chat_postMessage(channel=checklist.channel_id, text=text,
                                                      blocks=blocks, unfurl_links=False)
        await self.checklists.message_posted(row.incident_id, response["channel"], response["ts"])
