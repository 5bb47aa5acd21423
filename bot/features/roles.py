"""Incident roles beyond the commander and the update reminder's snooze (issue 19, items 1
and 6): composed here.

Rules and use cases: ``domain/roles.py`` (taking a role; the ``RoleAssignments`` port other
features read as ``uow.roles``) and ``domain/reminders.py`` (whom the reminder pings, the
snooze bounded by the SLA). Tables: ``storage/roles_tables.py``; repositories:
``storage/roles.py``. Listeners: ``handlers/roles.py``. Words: ``bot/slack_ui/roles.py`` and
``bot/slack_ui/timers.py``. The SLO tick (``scheduler/clocks.py``) reads the comms lead and the
snooze itself.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, cast

from bot.delivery.dispatcher import Permanent
from bot.slack_ui.roles import RoleTexts, roles_line
from bot.slack_ui.timers import SnoozeTexts
from domain.model import Incident
from domain.policy import COMMANDER_ROLE
from domain.reminders import EDIT_MESSAGE, ReminderSnoozes
from domain.roles import IncidentRoles, RolesUnitOfWork
from handlers import roles as role_listeners
from storage.clock_marks import SqlClockMarks
from storage.outbox_store import OutboxRow

if TYPE_CHECKING:
    from bot.app import Container


def install(container: Container) -> None:
    service, policy = container.service, container.policy
    roles = IncidentRoles(service, RoleTexts())
    snoozes = ReminderSnoozes(service, SqlClockMarks, SnoozeTexts())
    client = container.slack_client

    async def edit_message(row: OutboxRow) -> None:
        """chat.update of the message a snooze was clicked on (the reminder)."""
        payload = row.payload
        if not payload.get("channel") or not payload.get("ts"):
            raise Permanent("edit_message without channel or ts")
        await client.chat_update(channel=payload["channel"], ts=payload["ts"],
                                 text=payload.get("text", ""), blocks=payload.get("blocks"))

    async def others(incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, str]]:
        """The roles beyond the commander (whom the announcement and the Home tab show already)."""
        async with service.read_uow_factory() as uow:
            held = await cast(RolesUnitOfWork, uow).roles.for_incidents(incident_ids)
        return {i: {role: a.user_id for role, a in assigned.items() if role != COMMANDER_ROLE}
                for i, assigned in held.items()}

    async def announcement_line(incident: Incident) -> str | None:
        holders = (await others([incident.id])).get(incident.id, {})
        return roles_line(holders, policy, skip=(COMMANDER_ROLE,)) or None

    async def status_lines(incident: Incident) -> list[str]:
        holders = (await roles.holders([incident])).get(incident.id, {})
        return [roles_line(holders, policy)]

    async def home_lines(incident_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        return {i: [line] for i, held in (await others(incident_ids)).items()
                if held and (line := roles_line(held, policy, open_roles=False))}

    container.dispatcher.handlers[EDIT_MESSAGE] = edit_message
    container.features.announcement_extras.append(announcement_line)
    container.slack.status_notes.append(status_lines)
    container.slack.home_notes.append(home_lines)
    role_listeners.register(container.bolt, container.slack, roles, snoozes)
