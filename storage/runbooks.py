"""Which runbook each incident follows and the steps done, behind
``domain.checklists.ChecklistRecords``, in the caller's unit of work."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa

from domain.checklists import Followed, StepDone
from domain.model import Actor
from domain.ports import UnitOfWork
from domain.runbooks import Runbook
from storage.repositories import _insert
from storage.runbook_tables import incident_runbooks, runbook_steps_done
from storage.uow import sql_connection

# read on every announcement refresh (the progress line): built once (see storage/repositories.py)
_FOLLOWED = sa.select(incident_runbooks).where(
    incident_runbooks.c.incident_id == sa.bindparam("b_id"))
_STEPS_DONE = sa.select(runbook_steps_done).where(
    (runbook_steps_done.c.incident_id == sa.bindparam("b_id"))
    & (runbook_steps_done.c.runbook == sa.bindparam("b_runbook"))
    & (runbook_steps_done.c.version == sa.bindparam("b_version")))


class SqlChecklistRecords:
    def __init__(self, uow: UnitOfWork) -> None:
        self.conn = sql_connection(uow)

    async def follow(self, incident_id: uuid.UUID, runbook: Runbook, by: str, at: datetime) -> None:
        values = {"runbook": runbook.name, "version": runbook.version, "selected_at": at,
                  "selected_by": by}
        await self.conn.execute(_insert(self.conn, incident_runbooks).values(
            incident_id=incident_id, **values).on_conflict_do_update(
            index_elements=[incident_runbooks.c.incident_id], set_=values))

    async def followed(self, incident_id: uuid.UUID) -> Followed | None:
        row = (await self.conn.execute(_FOLLOWED, {"b_id": incident_id})).mappings().first()
        if row is None:
            return None
        done = {r["step_id"]: StepDone(r["done_by"], r["done_at"])
                for r in (await self.conn.execute(_STEPS_DONE, {
                    "b_id": incident_id, "b_runbook": row["runbook"],
                    "b_version": row["version"]})).mappings()}
        return Followed(row["runbook"], row["version"], row["message_channel"], row["message_ts"], done)

    async def mark_done(self, incident_id: uuid.UUID, followed: Followed, step_id: str, actor: Actor,
                        at: datetime) -> bool:
        """True when this call recorded the step (False: someone else did, concurrently)."""
        inserted = await self.conn.execute(_insert(self.conn, runbook_steps_done).values(
            incident_id=incident_id, runbook=followed.runbook, version=followed.version,
            step_id=step_id, done_by=actor.id, done_by_name=actor.name, done_at=at
        ).on_conflict_do_nothing())
        return bool(inserted.rowcount)

    async def message_posted(self, incident_id: uuid.UUID, channel: str, ts: str) -> None:
        await self.conn.execute(incident_runbooks.update().where(
            incident_runbooks.c.incident_id == incident_id).values(message_channel=channel,
                                                                   message_ts=ts))
