"""What the paging use cases need from storage: the links between our incidents and the
outside ones (a PagerDuty incident, an Alertmanager alert group), on the unit of work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.ports import UnitOfWork


class AlreadyLinked(Exception):
    """Another writer linked the same outside incident or alert group first (a concurrent
    redelivery): this attempt's transaction is rolled back, the first one stands."""


@dataclass(frozen=True)
class PagerDutyLink:
    incident_id: uuid.UUID
    pd_incident_id: str | None = None  # set when PagerDuty paged us
    pd_url: str | None = None
    last_event_at: datetime | None = None  # the newest webhook applied: older ones are stale
    page_dedup_key: str | None = None  # set when we paged PagerDuty
    page_routing_key: str | None = None


@dataclass(frozen=True)
class AlertGroup:
    group_key: str
    incident_id: uuid.UUID
    status: str  # firing | resolved


class PagerDutyLinks(Protocol):
    async def by_pd_incident(self, pd_incident_id: str) -> PagerDutyLink | None: ...
    async def for_incident(self, incident_id: uuid.UUID) -> PagerDutyLink | None: ...

    async def by_page(self, dedup_key: str) -> PagerDutyLink | None:
        """The link our own page wrote (its Events API v2 ``dedup_key``), if the key is ours."""

    async def opened(self, incident_id: uuid.UUID, pd_incident_id: str, pd_url: str | None,
                     occurred_at: datetime | None) -> bool:
        """Our page opened ``pd_incident_id``: record it on the page's link; False when the link
        names a PagerDuty incident already (a concurrent redelivery recorded it first)."""

    async def add(self, link: PagerDutyLink) -> None:
        """Raises :class:`AlreadyLinked` when the PagerDuty incident or page is linked already."""

    async def applied(self, incident_id: uuid.UUID, occurred_at: datetime) -> None:
        """Remember ``occurred_at`` as the newest event applied (never moves backwards)."""


class AlertGroups(Protocol):
    async def get(self, group_key: str) -> AlertGroup | None: ...

    async def link(self, group_key: str, incident_id: uuid.UUID, now: datetime,
                   replace: bool) -> None:
        """Point the group at the incident (``replace``: a group whose incident ended fires
        again); raises :class:`AlreadyLinked` when a new group was linked meanwhile."""

    async def mark_resolved(self, group_key: str) -> None: ...


class PagingUnitOfWork(UnitOfWork, Protocol):
    pagerduty_links: PagerDutyLinks
    alert_groups: AlertGroups

    async def __aenter__(self) -> PagingUnitOfWork: ...
