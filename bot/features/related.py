"""Related incidents and the catch-up on join (issue 19, items 9 and 5), composed here.

The rules and use cases are in ``domain/related.py`` and ``domain/catchup.py``, the table in
``storage/related.py``, the verbs, button and join event in ``handlers/related.py``, the words in
``bot/slack_ui/related.py`` and ``bot/slack_ui/catchup.py``. The read-in is posted through the
outbox (``catchup_ephemeral``) and rendered when delivered, so it shows the state of that moment.

The catch-up reads what other features own through the unit of work: the roles (``uow.roles``,
issue 19 item 1), the key notes (``uow.note_changes``, item 3; the latest notes when none is
marked), the open action items from the postmortem tables, the related incidents from this
feature. The duplicate's role holders are among the responders invited to the survivor.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, cast

import structlog
from slack_sdk.errors import SlackApiError

from bot.slack_ui import catchup as catchup_ui
from bot.slack_ui import related as related_ui
from domain.catchup import CATCHUP_KIND, CatchUps
from domain.governance.postmortem import ActionItemRow
from domain.model import Incident
from domain.note_changes import note_changes_of
from domain.policy import COMMANDER_ROLE, Policy
from domain.ports import UnitOfWork
from domain.related import RelatedIncident, RelatedIncidents
from domain.reminders import SnoozeUnitOfWork
from domain.roles import RoleAssignments, RolesUnitOfWork
from domain.roles import role_holders as held_roles
from domain.services import IncidentRef
from domain.timers import IncidentClocks
from handlers import related as related_handlers
from storage.outbox_store import OutboxRow
from storage.postmortems import SqlPostmortemRepository
from storage.related import SqlRelationRepository

if TYPE_CHECKING:
    from bot.app import Container

log = structlog.get_logger("related")

# Slack refusals after which a read-in can never be shown: the joiner left, the channel is gone
GONE = {"user_not_in_channel", "channel_not_found", "not_in_channel", "is_archived",
        "user_not_found"}


def _assignments(uow: UnitOfWork) -> RoleAssignments:
    return cast(RolesUnitOfWork, uow).roles


async def role_holders(uow: UnitOfWork, incident: Incident) -> list[str]:
    """Users holding a role on ``incident`` besides the commander (issue 19 item 1)."""
    assignments = await _assignments(uow).for_incident(incident.id)
    return [user for role, user in held_roles(incident, assignments).items()
            if role != COMMANDER_ROLE]


class CatchUpSources:
    """What the other features contribute to the read-in (``domain.catchup.CatchUpSources``)."""

    def __init__(self, related: RelatedIncidents, policy: Policy) -> None:
        self.related_incidents = related
        self.policy = policy

    async def roles(self, uow: UnitOfWork, incident: Incident) -> list[tuple[str, str]]:
        """(label, user) of each held role but the commander (shown on its own), in the
        policy's order."""
        held = held_roles(incident, await _assignments(uow).for_incident(incident.id))
        specs = self.policy.roles
        order = [role for role in specs if role in held] + sorted(set(held) - set(specs))
        return [(specs[role].label if role in specs else role, held[role]) for role in order
                if role != COMMANDER_ROLE]

    async def key_notes(self, uow: UnitOfWork, incident: Incident) -> frozenset[uuid.UUID]:
        return await note_changes_of(uow).key_note_ids(incident.id)

    async def clocks(self, uow: UnitOfWork, incident: Incident) -> IncidentClocks:
        """The SLO tick's view: the episode (after a reopen), last update and snooze (item 6)."""
        return await cast(SnoozeUnitOfWork, uow).snoozes.clocks(incident)

    async def action_items(self, uow: UnitOfWork, incident: Incident) -> list[ActionItemRow]:
        return await SqlPostmortemRepository(uow).action_items(incident.id)

    async def related(self, uow: UnitOfWork, incident: Incident) -> list[RelatedIncident]:
        return await self.related_incidents.related_in(uow, incident.id)


class CatchUpDelivery:
    """Posts a queued read-in to the joiner, ephemerally (``chat.postEphemeral``)."""

    def __init__(self, container: Container, catchups: CatchUps) -> None:
        self.client = container.slack_client
        self.catchups = catchups

    async def deliver(self, row: OutboxRow) -> None:
        if row.incident_id is None:
            return
        read_in = await self.catchups.read_in(IncidentRef(incident_id=row.incident_id))
        try:
            await self.client.chat_postEphemeral(
                channel=row.payload["channel"], user=row.payload["user"],
                text=catchup_ui.text(read_in), blocks=catchup_ui.blocks(read_in))
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error not in GONE:
                raise
            log.info("catchup.undeliverable", error=error, incident=read_in.incident.key)


def install(container: Container) -> None:
    related = RelatedIncidents(container.service, SqlRelationRepository,
                               related_ui.RelatedTexts(), role_holders)
    catchups = CatchUps(container.service, CatchUpSources(related, container.policy))

    async def related_line(incident: Incident) -> str | None:
        return related_ui.related_summary(await related.related(incident.id))

    container.features.announcement_extras.append(related_line)
    container.features.announcement_offers.append(related.offer)
    container.dispatcher.handlers[CATCHUP_KIND] = CatchUpDelivery(container, catchups).deliver
    container.features.related = related
    container.features.catchups = catchups
    related_handlers.register(container.bolt, container.slack, related, catchups)
