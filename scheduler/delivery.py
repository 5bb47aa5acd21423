"""Delivery of escalations: who ``@ml-platform-lead`` is, mentioned and invited, exactly once.

The tick cannot call Slack, so it commits an ``escalate`` outbox row. Delivering it resolves
the policy's targets (Slack user ids as they are; user-group handles through
``usergroups.list``) and commits the channel post, the thread reply and the invitation as
ordinary outbox rows with stable dedup keys, so a retried delivery repeats nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.dispatcher import Permanent
from bot.slack_ui import timers as say
from domain.model import Incident, Severity
from domain.ports import OutboxMessage
from domain.reminders import ReminderRecipient
from domain.services import CHANNEL, INVITE, THREAD
from domain.timers import TimerAction
from storage.outbox_store import OutboxRow
from storage.uow import SqlUnitOfWork

log = structlog.get_logger("scheduler.delivery")

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
REMIND = "remind_update"  # outbox kind: an update reminder whose user-group handles need looking up


def mention(target: str) -> str | None:
    """A Slack user id or user-group id as a mention; None for a handle (``@sre-lead``)."""
    if _USER_ID.match(target):
        return f"<@{target}>"
    if _GROUP_ID.match(target):
        return f"<!subteam^{target}>"
    return None


def update_reminder(incident: Incident, action: TimerAction, recipient: ReminderRecipient,
                    dedup_key: str) -> OutboxMessage:
    """The update reminder as an outbox row: straight into the incident channel when every
    target is an id, else through :data:`REMIND`, which looks the handles up first (issue 19)."""
    mentions = [mention(target) for target in recipient.targets]
    cadence = action.target.total_seconds()
    if all(m is not None for m in mentions):
        text = say.update_due_text(incident, action.severity, cadence,
                                   say.reminder_who([m for m in mentions if m], recipient.why))
        return OutboxMessage(CHANNEL, incident.id, {
            "text": text, "blocks": say.update_due_blocks(incident, text)}, dedup_key=dedup_key)
    return OutboxMessage(REMIND, incident.id, {
        "notify": list(recipient.targets), "why": recipient.why, "severity": action.severity.value,
        "cadence_seconds": cadence, "key": dedup_key}, dedup_key=f"{dedup_key}:remind")


@dataclass
class Targets:
    mentions: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


class EscalationDelivery:
    def __init__(self, client: AsyncWebClient, uow_factory: Callable[[], SqlUnitOfWork]) -> None:
        self.client = client
        self.uow_factory = uow_factory

    async def resolve(self, notify: list[str]) -> Targets:
        targets = Targets()
        handles = [n for n in notify if not _USER_ID.match(n.lstrip("@"))]
        groups: dict[str, dict[str, Any]] = {}
        if handles:
            response = await self.client.usergroups_list(include_users=True)
            listed: list[dict[str, Any]] = response.get("usergroups", [])
            groups = {str(g.get("handle", "")).lower(): g for g in listed}
        for entry in notify:
            name = entry.lstrip("@")
            if _USER_ID.match(name):
                targets.mentions.append(f"<@{name}>")
                targets.users.append(name)
            elif (group := groups.get(name.lower())) is not None:
                targets.mentions.append(f"<!subteam^{group['id']}>")
                targets.users += [str(u) for u in group.get("users", []) or []]
            else:
                targets.mentions.append(say.unknown_group_mention(name))
                targets.unknown.append(name)
        targets.users = sorted(set(targets.users))
        return targets

    async def escalate(self, row: OutboxRow) -> None:
        if row.incident_id is None:
            raise Permanent("escalation without an incident")
        payload = row.payload
        targets = await self.resolve(list(payload.get("notify", [])))
        if targets.unknown:
            log.warning("escalation.unknown_targets", targets=targets.unknown, incident=str(row.incident_id))
        async with self.uow_factory() as uow:
            incident = await uow.incidents.get(row.incident_id)
            if incident is None:
                raise Permanent("incident vanished")
            text = say.escalation_text(incident, Severity(payload["severity"]),
                                       str(payload.get("reason", "not mitigated")),
                                       float(payload["target_seconds"]), targets.mentions)
            base = f"{incident.id}:{payload['key']}"
            if targets.users:
                await uow.outbox.add(OutboxMessage(INVITE, incident.id, {"users": targets.users},
                                                   dedup_key=f"{base}:invite"))
            await uow.outbox.add(OutboxMessage(CHANNEL, incident.id, {"text": text},
                                               dedup_key=f"{base}:channel"))
            await uow.outbox.add(OutboxMessage(THREAD, incident.id, {"text": text},
                                               dedup_key=f"{base}:thread"))
            await uow.commit()

    async def remind(self, row: OutboxRow) -> None:
        """An update reminder naming user-group handles: mention them as Slack knows them."""
        if row.incident_id is None:
            raise Permanent("update reminder without an incident")
        payload = row.payload
        targets = await self.resolve(list(payload.get("notify", [])))
        async with self.uow_factory() as uow:
            incident = await uow.incidents.get(row.incident_id)
            if incident is None:
                raise Permanent("incident vanished")
            text = say.update_due_text(incident, Severity(payload["severity"]),
                                       float(payload["cadence_seconds"]),
                                       say.reminder_who(targets.mentions, str(payload.get("why", ""))))
            await uow.outbox.add(OutboxMessage(CHANNEL, incident.id, {
                "text": text, "blocks": say.update_due_blocks(incident, text)},
                dedup_key=str(payload["key"])))
            await uow.commit()
