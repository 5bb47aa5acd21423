"""What an outbox delivery reads of its incident, in one statement.

Each Slack delivery (the announcement, its refresh, a thread reply, a channel post) needs the
incident, its model, its Slack link and, for what goes to the incident channel, whether that
channel is archived. Read one by one that was four statements in two units of work per row,
each statement several round trips to aiosqlite's thread (benchmarks/ack_cost.py); joined, it
is one, in the delivery's unit of work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import Incident, MLModel
from domain.ports import SlackLink, UnitOfWork
from storage import tables as t
from storage.channel_tables import channel_archives


@dataclass
class DeliveryFacts:
    incident: Incident
    model: MLModel | None
    link: SlackLink | None
    # its channel archived (the channel lifecycle's record); None: not read (a unit of work
    # that is not SQL's, in tests), ask the lifecycle
    archived: bool | None


def _names(table: sa.Table, cls: type) -> list[tuple[int, str]]:
    wanted = {f.name for f in fields(cls)}
    return [(i, c.name) for i, c in enumerate(table.c) if c.name in wanted]


_INCIDENT = _names(t.incidents, Incident)
_MODEL = _names(t.models, MLModel)
_LINK = _names(t.slack_links, SlackLink)
_AT_MODEL = len(t.incidents.c)
_AT_LINK = _AT_MODEL + len(t.models.c)
_AT_ARCHIVED = _AT_LINK + len(t.slack_links.c)

_QUERY = (
    sa.select(*t.incidents.c, *t.models.c, *t.slack_links.c, channel_archives.c.archived_at)
    .select_from(
        t.incidents
        .outerjoin(t.models, t.models.c.id == t.incidents.c.model_id)
        .outerjoin(t.slack_links, t.slack_links.c.incident_id == t.incidents.c.id)
        .outerjoin(channel_archives, channel_archives.c.incident_id == t.incidents.c.id))
    .where(t.incidents.c.id == sa.bindparam("incident_id"))
)


def _build(cls: type, names: list[tuple[int, str]], row: Any, at: int) -> Any:
    return cls(**{name: row[at + i] for i, name in names})


async def delivery_facts(uow: UnitOfWork, incident_id: uuid.UUID) -> DeliveryFacts | None:
    """The incident ``incident_id`` with its model, link and archived channel, read in ``uow``;
    None when there is no such incident."""
    conn = getattr(uow, "conn", None)
    if not isinstance(conn, AsyncConnection):  # a fake unit of work: its repositories
        incident = await uow.incidents.get(incident_id)
        if incident is None:
            return None
        return DeliveryFacts(incident, await uow.models.get(incident.model_id),
                             await uow.slack_links.get(incident.id), None)
    row = (await conn.execute(_QUERY, {"incident_id": incident_id})).first()
    if row is None:
        return None
    model = _build(MLModel, _MODEL, row, _AT_MODEL) if row[_AT_MODEL] is not None else None
    link = _build(SlackLink, _LINK, row, _AT_LINK) if row[_AT_LINK] is not None else None
    return DeliveryFacts(_build(Incident, _INCIDENT, row, 0), model, link,
                         row[_AT_ARCHIVED] is not None)
