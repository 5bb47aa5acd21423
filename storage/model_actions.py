"""Repository of the model actions (issue 18): registry snapshots and alias history, rollback
requests, accepted drift, snoozes, pipeline runs, and the facts "what changed?" is made of.

Works on the unit of work's connection (``sql_connection(uow)``), so everything commits with
the use case that wrote it.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.model_actions.drift_controls import DriftAcceptance, DriftSnooze
from domain.model_actions.facts import (
    AssessmentFact,
    EarlierIncidentFact,
    IacDriftFact,
    PipelineRun,
)
from domain.model_actions.registry import (
    AliasMove,
    NewVersion,
    RegistryModel,
    RegistryVersion,
    StoredModel,
)
from domain.model_actions.rollback import Rollback, RollbackStatus
from storage import tables as t
from storage.drift_tables import drift_assessments
from storage.governance_gaps_tables import postmortem_analyses
from storage.iac_tables import drift_events
from storage.locks import KeyedLock, xact_lock
from storage.registry_tables import (
    alias_history,
    drift_acceptances,
    drift_snoozes,
    pipeline_runs,
    registry_aliases,
    registry_models,
    registry_versions,
    rollback_requests,
)
from storage.uow import sql_connection

ROLLBACK_COLUMNS = {"model": "model_name"}


class SqlModelActions:
    """The ``ModelActionsRepository`` port on one open transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # -- registry ------------------------------------------------------------------------

    async def lock_model(self, name: str) -> None:
        """Serialise syncs of one model across replicas until the transaction ends (PostgreSQL;
        SQLite has one writer at a time anyway), so a move is recorded once."""
        await xact_lock(self.conn, KeyedLock.REGISTRY_MODEL.key(name))

    async def stored_model(self, name: str) -> StoredModel | None:
        known = (await self.conn.execute(
            sa.select(registry_models.c.name).where(registry_models.c.name == name))).first()
        if known is None:
            return None
        aliases = (await self.conn.execute(
            sa.select(registry_aliases.c.alias, registry_aliases.c.version)
            .where(registry_aliases.c.model_name == name))).all()
        versions = (await self.conn.execute(
            sa.select(registry_versions.c.version).where(registry_versions.c.model_name == name))).all()
        return StoredModel(dict(aliases), frozenset(v for (v,) in versions))

    async def record_snapshot(self, model: RegistryModel, source: str, moves: list[AliasMove],
                              new_versions: list[NewVersion], observed_at: datetime,
                              moved_by: str) -> None:
        """Store the registry's state of ``model`` and the changes seen since the last sync."""
        conn = self.conn
        values = {"source": source, "tags": dict(model.tags), "synced_at": observed_at}
        updated = await conn.execute(registry_models.update()
                                     .where(registry_models.c.name == model.name).values(**values))
        if updated.rowcount == 0:
            await conn.execute(registry_models.insert().values(name=model.name, **values))
        by_version = {v.version: v for v in model.versions}
        for new in new_versions:
            v = by_version[new.version]
            await conn.execute(registry_versions.insert().values(
                model_name=model.name, version=v.version, created_at=v.created_at,
                source=(v.source or None), run_id=v.run_id, status=v.status))
        for move in moves:
            await self.record_alias_move(move, moved_by)

    async def record_alias_move(self, move: AliasMove, moved_by: str) -> None:
        """Where the alias points now, and a history row for the move."""
        where = (registry_aliases.c.model_name == move.model) & (registry_aliases.c.alias == move.alias)
        await self.conn.execute(registry_aliases.delete().where(where))
        if move.version is not None:
            await self.conn.execute(registry_aliases.insert().values(
                model_name=move.model, alias=move.alias, version=move.version, since=move.moved_at))
        if move.previous is None and moved_by.endswith("(first sync)"):
            return  # where the alias pointed before the bot knew the model: no move to date
        await self.conn.execute(alias_history.insert().values(
            id=uuid.uuid4(), model_name=move.model, alias=move.alias, version=move.version,
            previous_version=move.previous, moved_at=move.moved_at, moved_by=moved_by))

    async def aliases(self, name: str) -> dict[str, str]:
        rows = (await self.conn.execute(
            sa.select(registry_aliases.c.alias, registry_aliases.c.version)
            .where(registry_aliases.c.model_name == name))).all()
        return dict(rows)

    async def versions(self, name: str) -> list[RegistryVersion]:
        rows = (await self.conn.execute(
            sa.select(registry_versions).where(registry_versions.c.model_name == name)
            .order_by(registry_versions.c.created_at))).mappings().all()
        return [RegistryVersion(r["version"], r["created_at"], r["source"], r["run_id"], r["status"])
                for r in rows]

    async def alias_moves(self, name: str, since: datetime | None = None) -> list[AliasMove]:
        query = sa.select(alias_history).where(alias_history.c.model_name == name)
        if since is not None:
            query = query.where(alias_history.c.moved_at >= since)
        rows = (await self.conn.execute(query.order_by(alias_history.c.moved_at))).mappings().all()
        return [AliasMove(r["model_name"], r["alias"], r["version"], r["previous_version"],
                          r["moved_at"], r["moved_by"]) for r in rows]

    async def registry_source(self, name: str) -> str | None:
        return (await self.conn.execute(sa.select(registry_models.c.source)
                                        .where(registry_models.c.name == name))).scalar()

    # -- what changed: the facts -----------------------------------------------------------

    async def iac_drift(self, since: datetime, until: datetime) -> list[IacDriftFact]:
        rows = (await self.conn.execute(
            sa.select(drift_events.c.detected_at, drift_events.c.resource_address,
                      drift_events.c.drift_type, drift_events.c.severity, drift_events.c.environment)
            .where(drift_events.c.detected_at >= since, drift_events.c.detected_at <= until)
            .order_by(drift_events.c.detected_at.desc()).limit(20))).all()
        return [IacDriftFact(*r) for r in rows]

    async def earlier_incidents(self, model_id: uuid.UUID, before: datetime,
                                exclude: uuid.UUID) -> list[EarlierIncidentFact]:
        i = t.incidents
        rows = (await self.conn.execute(
            sa.select(i.c.number, i.c.title, i.c.severity, i.c.status, i.c.created_at,
                      postmortem_analyses.c.contributing_factors)
            .select_from(i.outerjoin(postmortem_analyses, postmortem_analyses.c.incident_id == i.c.id))
            .where(i.c.model_id == model_id, i.c.created_at < before, i.c.id != exclude)
            .order_by(i.c.created_at.desc()).limit(5))).all()
        return [EarlierIncidentFact(r[0], r[1], str(getattr(r[2], "value", r[2])),
                                    str(getattr(r[3], "value", r[3])), r[4], r[5]) for r in rows]

    async def assessments(self, model_id: uuid.UUID, since: datetime,
                          until: datetime) -> list[AssessmentFact]:
        a = drift_assessments
        rows = (await self.conn.execute(
            sa.select(a.c.assessed_at, a.c.psi_composite, a.c.drift_detected,
                      a.c.evaluation_window_start, a.c.evaluation_window_end)
            .where(a.c.model_id == model_id, a.c.assessed_at >= since, a.c.assessed_at <= until)
            .order_by(a.c.assessed_at.desc()).limit(10))).all()
        return [AssessmentFact(*r) for r in rows]

    async def latest_assessment(self, model_id: uuid.UUID) -> AssessmentFact | None:
        a = drift_assessments
        row = (await self.conn.execute(
            sa.select(a.c.assessed_at, a.c.psi_composite, a.c.drift_detected,
                      a.c.evaluation_window_start, a.c.evaluation_window_end)
            .where(a.c.model_id == model_id).order_by(a.c.assessed_at.desc()).limit(1))).first()
        return AssessmentFact(*row) if row else None

    # -- rollbacks ---------------------------------------------------------------------------

    async def add_rollback(self, rollback: Rollback) -> None:
        await self.conn.execute(rollback_requests.insert().values(**_rollback_values(rollback)))

    async def get_rollback(self, rollback_id: uuid.UUID) -> Rollback | None:
        row = (await self.conn.execute(
            sa.select(rollback_requests).where(rollback_requests.c.id == rollback_id))).mappings().first()
        return _rollback(row) if row else None

    async def open_rollback(self, incident_id: uuid.UUID) -> Rollback | None:
        row = (await self.conn.execute(
            sa.select(rollback_requests).where(
                rollback_requests.c.incident_id == incident_id,
                rollback_requests.c.status == RollbackStatus.REQUESTED.value)
            .order_by(rollback_requests.c.requested_at.desc()).limit(1))).mappings().first()
        return _rollback(row) if row else None

    async def save_rollback(self, rollback: Rollback, expected: RollbackStatus) -> bool:
        """Write the request if it is still in ``expected`` status; False when someone else
        changed it first (a double click, another replica)."""
        values = _rollback_values(rollback)
        values.pop("id")
        result = await self.conn.execute(
            rollback_requests.update().where(rollback_requests.c.id == rollback.id,
                                             rollback_requests.c.status == expected.value)
            .values(**values))
        return bool(result.rowcount)

    # -- drift acceptances and snoozes -------------------------------------------------------

    async def add_acceptance(self, acceptance: DriftAcceptance) -> None:
        values = {f.name: getattr(acceptance, f.name) for f in fields(DriftAcceptance)}
        values["model_name"] = values.pop("model")
        await self.conn.execute(drift_acceptances.insert().values(**values))

    async def active_acceptance(self, model: str, now: datetime) -> DriftAcceptance | None:
        row = (await self.conn.execute(
            sa.select(drift_acceptances).where(
                drift_acceptances.c.model_name == model, drift_acceptances.c.accepted_at <= now,
                drift_acceptances.c.expires_at > now)
            .order_by(drift_acceptances.c.accepted_at.desc()).limit(1))).mappings().first()
        return _acceptance(row) if row else None

    async def add_snooze(self, snooze: DriftSnooze) -> None:
        values = {f.name: getattr(snooze, f.name) for f in fields(DriftSnooze)}
        values["model_name"] = values.pop("model")
        await self.conn.execute(drift_snoozes.insert().values(**values))

    async def active_snooze(self, model: str, now: datetime) -> DriftSnooze | None:
        row = (await self.conn.execute(
            sa.select(drift_snoozes).where(
                drift_snoozes.c.model_name == model, drift_snoozes.c.snoozed_at <= now,
                drift_snoozes.c.until > now)
            .order_by(drift_snoozes.c.until.desc()).limit(1))).mappings().first()
        return _snooze(row) if row else None

    async def active_controls(self, now: datetime) -> tuple[list[DriftAcceptance], list[DriftSnooze]]:
        acc = (await self.conn.execute(
            sa.select(drift_acceptances).where(drift_acceptances.c.accepted_at <= now,
                                               drift_acceptances.c.expires_at > now))).mappings().all()
        snz = (await self.conn.execute(
            sa.select(drift_snoozes).where(drift_snoozes.c.snoozed_at <= now,
                                           drift_snoozes.c.until > now))).mappings().all()
        return [_acceptance(r) for r in acc], [_snooze(r) for r in snz]

    # -- pipeline runs -------------------------------------------------------------------------

    async def add_run(self, run: PipelineRun) -> None:
        values = {f.name: getattr(run, f.name) for f in fields(PipelineRun)}
        values["model_name"] = values.pop("model")
        await self.conn.execute(pipeline_runs.insert().values(**values))

    async def get_run(self, run_ref: str) -> PipelineRun | None:
        """By the bot's id or the pipeline's own run id."""
        conditions = [pipeline_runs.c.run_id == run_ref]
        with contextlib.suppress(ValueError):
            conditions.append(pipeline_runs.c.id == uuid.UUID(run_ref))
        row = (await self.conn.execute(
            sa.select(pipeline_runs).where(sa.or_(*conditions)).limit(1))).mappings().first()
        if row is None:
            return None
        data = dict(row)
        data["model"] = data.pop("model_name")
        return PipelineRun(**data)

    async def save_run(self, run: PipelineRun) -> None:
        values = {f.name: getattr(run, f.name) for f in fields(PipelineRun)}
        values["model_name"] = values.pop("model")
        await self.conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run.id).values(**values))


def model_actions_repo(uow: Any) -> SqlModelActions:
    """The repository on a SQL unit of work's transaction."""
    return SqlModelActions(sql_connection(uow))


def _rollback_values(rollback: Rollback) -> dict[str, Any]:
    values = {f.name: getattr(rollback, f.name) for f in fields(Rollback)}
    values["model_name"] = values.pop("model")
    values["status"] = rollback.status.value
    return values


def _rollback(row: Any) -> Rollback:
    data = {k: v for k, v in dict(row).items() if k not in ("slack_channel", "slack_ts")}
    data["model"] = data.pop("model_name")
    data["status"] = RollbackStatus(data["status"])
    data["break_glass"] = bool(data["break_glass"])
    return Rollback(**data)


def _acceptance(row: Any) -> DriftAcceptance:
    data = dict(row)
    data["model"] = data.pop("model_name")
    return DriftAcceptance(**data)


def _snooze(row: Any) -> DriftSnooze:
    data = dict(row)
    data["model"] = data.pop("model_name")
    return DriftSnooze(**data)


async def manual_snapshot(engine: AsyncEngine) -> list[dict[str, Any]]:
    """The manual registry's models: the ``models`` table, with the versions and aliases the
    bot has recorded for them (bot/registry/manual.py)."""
    async with engine.connect() as conn:
        models = (await conn.execute(sa.select(t.models).order_by(t.models.c.name))).mappings().all()
        repo = SqlModelActions(conn)
        out = []
        for m in models:
            out.append({"name": m["name"], "version": m["version"], "team": m["team"],
                        "labels": list(m["labels"] or []), "registered_at": m["registered_at"],
                        "versions": await repo.versions(m["name"]),
                        "aliases": await repo.aliases(m["name"])})
        return out


async def manual_alias_differs(engine: AsyncEngine, name: str, alias: str, version: str) -> bool:
    """For the manual registry's ``set_alias``: True when ``alias`` does not point at
    ``version`` yet (the move itself is recorded by the rollback's result)."""
    async with engine.connect() as conn:
        if alias == "champion":
            current = (await conn.execute(sa.select(t.models.c.version)
                                          .where(t.models.c.name == name))).scalar()
        else:
            current = (await SqlModelActions(conn).aliases(name)).get(alias)
    return current != version


async def rollback_message(engine: AsyncEngine, rollback_id: uuid.UUID) -> tuple[str, str] | None:
    """Where the rollback request was posted in Slack (channel, ts), once it was."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(rollback_requests.c.slack_channel, rollback_requests.c.slack_ts)
                                  .where(rollback_requests.c.id == rollback_id))).first()
    return (str(row[0]), str(row[1])) if row and row[0] and row[1] else None


async def save_rollback_message(engine: AsyncEngine, rollback_id: uuid.UUID, channel: str, ts: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(rollback_requests.update().where(rollback_requests.c.id == rollback_id)
                           .values(slack_channel=channel, slack_ts=ts))
