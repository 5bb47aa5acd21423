"""Declaring an incident over the REST API (seed 002): an ``Idempotency-Key`` makes a retried
POST return the incident the first one declared, so the key is remembered in the declaration's
own transaction: a crash between the two would otherwise declare the incident twice."""

from __future__ import annotations

from domain.api.ports import ApiQueries
from domain.model import Actor, Incident
from domain.ports import UnitOfWork
from domain.services import DeclareIncident, IncidentService


async def declare_remembered(service: IncidentService, queries: ApiQueries,
                             declaration: DeclareIncident, actor: Actor,
                             idempotency_key: str | None) -> Incident:
    """Declare, and remember the incident under the caller's key, in one transaction."""

    async def declare(uow: UnitOfWork) -> Incident:
        incident = await service.declare_in(uow, declaration, actor)
        if idempotency_key is not None:
            await queries.remember_resource(uow, actor.id, idempotency_key, str(incident.id))
        return incident

    return await service.run(declare)
