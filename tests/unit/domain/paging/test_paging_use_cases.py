"""PagerDuty and Alertmanager use cases (domain/paging/) as specifications, on the in-memory
unit of work: no database, no HTTP (the webhooks end to end:
tests/e2e/test_pagerduty_and_alertmanager.py)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from domain.events import IncidentDeclared, StatusChanged
from domain.model import Actor, Incident, Severity, Status, TriggerSource
from domain.paging.alertmanager import AlertGroupEvents, AlertNotification
from domain.paging.pagerduty import (
    PD_EVENT,
    PD_NOTE,
    PD_RESPONDERS,
    PD_STATUS,
    EventResult,
    PagerDutyConfig,
    PagerDutyEvents,
    UnmappedService,
    Verdict,
)
from domain.paging.ports import AlertGroup, AlertGroups, AlreadyLinked, PagerDutyLink, PagerDutyLinks
from domain.policy import default_policy
from domain.services import CHANNEL, DeclareIncident, IncidentRef, IncidentService
from tests.fakes import FakeClock, FakeDatabase, FakeUnitOfWork, database_with_models

ALICE = Actor("U0DECLARER", "alice")


Hook = Callable[[], Awaitable[None]]


async def _run_hooks(hooks: list[Hook]) -> None:
    """Run (once) what a test put before the next link: a concurrent delivery committing
    between this delivery's duplicate check and its link."""
    ready, hooks[:] = list(hooks), []
    for hook in ready:
        await hook()


class FakePagerDutyLinks:
    def __init__(self, rows: dict[uuid.UUID, PagerDutyLink], before_link: list[Hook]) -> None:
        self.rows = rows
        self.before_link = before_link

    async def by_pd_incident(self, pd_incident_id: str) -> PagerDutyLink | None:
        return next((r for r in self.rows.values() if r.pd_incident_id == pd_incident_id), None)

    async def for_incident(self, incident_id: uuid.UUID) -> PagerDutyLink | None:
        return self.rows.get(incident_id)

    async def by_page(self, dedup_key: str) -> PagerDutyLink | None:
        return next((r for r in self.rows.values() if r.page_dedup_key == dedup_key), None)

    async def opened(self, incident_id: uuid.UUID, pd_incident_id: str, pd_url: str | None,
                     occurred_at: datetime | None) -> bool:
        await _run_hooks(self.before_link)
        link = self.rows[incident_id]
        if link.pd_incident_id is not None:
            return False
        self.rows[incident_id] = PagerDutyLink(**{**link.__dict__, "pd_incident_id": pd_incident_id,
                                                  "pd_url": pd_url, "last_event_at": occurred_at})
        return True

    async def add(self, link: PagerDutyLink) -> None:
        await _run_hooks(self.before_link)
        if link.pd_incident_id and await self.by_pd_incident(link.pd_incident_id):
            raise AlreadyLinked(link.pd_incident_id)
        self.rows[link.incident_id] = link

    async def applied(self, incident_id: uuid.UUID, occurred_at: datetime) -> None:
        link = self.rows[incident_id]
        if link.last_event_at is None or link.last_event_at < occurred_at:
            self.rows[incident_id] = PagerDutyLink(**{**link.__dict__, "last_event_at": occurred_at})


class FakeAlertGroups:
    def __init__(self, rows: dict[str, AlertGroup], before_link: list[Hook]) -> None:
        self.rows = rows
        self.before_link = before_link

    async def get(self, group_key: str) -> AlertGroup | None:
        return self.rows.get(group_key)

    async def link(self, group_key: str, incident_id: uuid.UUID, now: datetime, replace: bool) -> None:
        await _run_hooks(self.before_link)
        if group_key in self.rows and not replace:
            raise AlreadyLinked(group_key)
        self.rows[group_key] = AlertGroup(group_key, incident_id, "firing")

    async def mark_resolved(self, group_key: str) -> None:
        self.rows[group_key] = AlertGroup(group_key, self.rows[group_key].incident_id, "resolved")


class PagingFakeUnitOfWork(FakeUnitOfWork):
    """The fake unit of work with the paging repositories (not transactional: what a use case
    links is kept even if it rolls back, which these tests do not rely on)."""

    pagerduty_links: PagerDutyLinks
    alert_groups: AlertGroups

    def __init__(self, db: FakeDatabase, clock: FakeClock, links: dict[uuid.UUID, PagerDutyLink],
                 groups: dict[str, AlertGroup], before_link: list[Hook] | None = None) -> None:
        super().__init__(db, clock)
        self.links, self.groups = links, groups
        self.before_link = [] if before_link is None else before_link

    async def __aenter__(self) -> PagingFakeUnitOfWork:
        await super().__aenter__()
        self.pagerduty_links = FakePagerDutyLinks(self.links, self.before_link)
        self.alert_groups = FakeAlertGroups(self.groups, self.before_link)
        return self


@dataclass
class PagingRows:
    """The paging rows of one test, shared by its units of work (the ``uow`` factory)."""

    db: FakeDatabase
    clock: FakeClock
    links: dict[uuid.UUID, PagerDutyLink] = field(default_factory=dict)
    groups: dict[str, AlertGroup] = field(default_factory=dict)
    before_link: list[Hook] = field(default_factory=list)

    def __call__(self) -> PagingFakeUnitOfWork:
        return PagingFakeUnitOfWork(self.db, self.clock, self.links, self.groups, self.before_link)


@pytest.fixture
def db(clock: FakeClock) -> FakeDatabase:
    return database_with_models(clock, ("credit-risk-v3", "1.0.0", "risk-ml"))


@pytest.fixture
def uow(db: FakeDatabase, clock: FakeClock) -> PagingRows:
    return PagingRows(db, clock)


@pytest.fixture
def service(uow: Any, clock: FakeClock) -> IncidentService:
    return IncidentService(uow, clock, default_policy())


@pytest.fixture
def pd(service: IncidentService) -> PagerDutyEvents:
    events = PagerDutyEvents(service, default_policy(), PagerDutyConfig(
        service_models={"PSVC": "credit-risk-v3"}, routing_keys={"risk-ml": "R-KEY"}))
    service.reactions.on(IncidentDeclared, events.on_declared)
    service.reactions.on(StatusChanged, events.on_status_changed)
    return events


def triggered(pd_id: str = "PD1", service_id: str = "PSVC") -> tuple[dict[str, Any], dict[str, Any]]:
    data = {"id": pd_id, "type": "incident", "title": "Scores all zero", "number": 7,
            "urgency": "high", "service": {"id": service_id, "summary": "risk"},
            "assignees": [{"id": "PUSER1", "summary": "Pat"}], "html_url": "https://pd/7"}
    return {"id": "ev1", "event_type": "incident.triggered", "occurred_at": "2026-11-30T10:00:00Z",
            "agent": {"summary": "Pat"}, "data": data}, data


def kinds(db: FakeDatabase) -> list[str]:
    return [m.kind for m in db.outbox]


async def test_a_page_declares_one_linked_incident_in_one_transaction(pd: PagerDutyEvents,
                                                                      db: FakeDatabase) -> None:
    event, data = triggered()
    result = await pd.handle(event, data)
    assert result.verdict is Verdict.CREATED and result.body == {"incident": "INC-1"}
    assert (db.transactions, db.commits) == (1, 1)  # check, declare, link, note, responders
    incident = db.incident(1)
    assert incident.trigger_source is TriggerSource.PAGERDUTY and incident.created_by == "pagerduty"
    assert PD_NOTE in kinds(db) and PD_RESPONDERS in kinds(db)
    assert PD_EVENT not in kinds(db)  # PagerDuty is not paged about its own incident
    written = (len(db.outbox), len(db.audit), len(db.timeline))
    again = await pd.handle(event, data)
    assert again.verdict is Verdict.DUPLICATE and db.transactions == 2  # one more, writing nothing
    assert (len(db.outbox), len(db.audit), len(db.timeline), len(db.incidents)) == (*written, 1)


async def test_a_redelivery_racing_the_first_page_declares_nothing(
        pd: PagerDutyEvents, db: FakeDatabase, uow: PagingRows) -> None:
    event, data = triggered()
    second: list[EventResult] = []

    async def redelivered() -> None:  # checked after the first's check, linked before its link
        second.append(await pd.handle(event, data))

    uow.before_link.append(redelivered)
    first = await pd.handle(event, data)
    assert (second[0].verdict, first.verdict) == (Verdict.CREATED, Verdict.DUPLICATE)
    assert len(db.incidents) == 1 and db.commits == 1  # the loser's declaration rolled back
    assert [m.kind for m in db.outbox].count(PD_NOTE) == 1


async def test_a_service_without_a_model_is_refused(pd: PagerDutyEvents) -> None:
    with pytest.raises(UnmappedService, match="PAGERDUTY_SERVICE_MODELS"):
        await pd.handle(*triggered(service_id="POTHER"))


async def test_an_acknowledgement_applies_once_and_older_events_are_stale(pd: PagerDutyEvents,
                                                                          db: FakeDatabase) -> None:
    await pd.handle(*triggered())
    data: dict[str, Any] = {"id": "PD1", "type": "incident"}
    ack: dict[str, Any] = {"id": "ev2", "event_type": "incident.acknowledged",
                           "occurred_at": "2026-11-30T10:05:00Z", "data": data}
    before = db.commits
    assert (await pd.handle(ack, data)).verdict is Verdict.APPLIED
    assert db.commits == before + 1  # the change and the newest event applied, together
    assert db.incident(1).status is Status.INVESTIGATING
    assert PD_STATUS not in kinds(db)  # not echoed back to PagerDuty
    older = {**ack, "id": "ev0", "occurred_at": "2026-11-30T10:01:00Z"}
    assert (await pd.handle(older, data)).body == {"ignored": "older than the last event applied"}
    assert (await pd.handle(ack, {"id": "PNOPE", "type": "incident"})).verdict is Verdict.IGNORED


async def test_a_sev1_declared_here_pages_and_its_resolve_resolves_the_page(
        pd: PagerDutyEvents, service: IncidentService, db: FakeDatabase) -> None:
    incident = await service.declare(DeclareIncident("Null predictions", Severity.P1, "credit-risk-v3"),
                                     ALICE)
    [page] = [m for m in db.outbox if m.kind == PD_EVENT]
    assert page.payload["action"] == "trigger" and page.payload["routing_key"] == "R-KEY"
    await service.change_status(IncidentRef(incident_id=incident.id), Status.RESOLVED, ALICE)
    resolve = [m.payload for m in db.outbox if m.kind == PD_EVENT][-1]
    assert resolve["action"] == "resolve" and resolve["dedup_key"] == page.payload["dedup_key"]


def note(status: str, alerts: int = 1) -> AlertNotification:
    return AlertNotification(
        group_key="{}:{alertname=\"ScoresZero\"}", status=status,
        alerts=[{"labels": {"alertname": "ScoresZero"}, "annotations": {"description": f"alert {i}"},
                 "fingerprint": f"f{i}", "startsAt": "2026-11-30T10:00:00Z"} for i in range(alerts)],
        common_labels={"model": "credit-risk-v3", "severity": "critical"},
        common_annotations={"summary": "Scores are all zero"}, receiver="ml")


def prompt(incident: Incident) -> dict[str, Any]:
    return {"text": f"resolve {incident.key}?"}


async def test_an_alert_group_opens_notes_and_offers_to_resolve(service: IncidentService, uow: Any,
                                                                db: FakeDatabase) -> None:
    alerts = AlertGroupEvents(service, uow, prompt)
    opened = await alerts.handle(note("firing"))
    assert opened.verdict is Verdict.CREATED and db.incident(1).severity is Severity.P2
    before = db.commits
    updated = await alerts.handle(note("firing", alerts=2))
    assert updated.body == {"incident": "INC-1", "updated": True}
    assert db.commits == before + 1  # both alerts noted in one transaction
    assert sum("Alert firing: alert 1" in e.body for e in db.timeline) == 1
    before = db.commits
    resolved = await alerts.handle(note("resolved"))
    assert resolved.body == {"incident": "INC-1", "resolved_alerts": True}
    assert db.commits == before + 1  # the note, the group and the prompt together
    assert [m.payload for m in db.outbox if m.kind == CHANNEL][-1] == {"text": "resolve INC-1?"}
    async with uow() as fresh:
        assert (await fresh.alert_groups.get(note("x").group_key)).status == "resolved"


async def test_a_new_alert_group_is_checked_declared_and_linked_in_one_transaction(
        service: IncidentService, uow: PagingRows, db: FakeDatabase) -> None:
    alerts = AlertGroupEvents(service, uow, prompt)
    assert (await alerts.handle(note("firing"))).verdict is Verdict.CREATED
    assert (db.transactions, db.commits) == (1, 1)
    assert uow.groups[note("x").group_key].incident_id == db.incident(1).id


async def test_two_deliveries_of_the_same_new_alert_group_declare_one_incident(
        service: IncidentService, uow: PagingRows, db: FakeDatabase) -> None:
    """Alertmanager in HA sends each notification from every peer: the second delivery, which
    found no group either, loses at the link, and its declaration is rolled back."""
    alerts = AlertGroupEvents(service, uow, prompt)
    peer: list[EventResult] = []

    async def peer_delivers() -> None:
        peer.append(await alerts.handle(note("firing")))

    uow.before_link.append(peer_delivers)
    mine = await alerts.handle(note("firing"))
    assert peer[0].verdict is Verdict.CREATED
    assert (mine.verdict, mine.body) == (Verdict.DUPLICATE, {"incident": "INC-1", "duplicate": True})
    assert len(db.incidents) == 1 and db.commits == 1
    assert [m.kind for m in db.outbox].count("announce") == 1


async def test_the_webhook_for_our_own_page_links_the_paging_incident_in_one_transaction(
        pd: PagerDutyEvents, service: IncidentService, db: FakeDatabase, uow: PagingRows) -> None:
    incident = await service.declare(DeclareIncident("Null predictions", Severity.P1, "credit-risk-v3"),
                                     ALICE)
    [page] = [m for m in db.outbox if m.kind == PD_EVENT]
    event, data = triggered()
    data["incident_key"] = page.payload["dedup_key"]  # PagerDuty's incident_key: our dedup key
    before = db.commits
    result = await pd.handle(event, data)
    assert result == EventResult(Verdict.APPLIED, {"page_linked": "PD1", "incident": "INC-1"})
    assert db.commits == before + 1 and len(db.incidents) == 1  # nothing declared
    link = uow.links[incident.id]
    assert (link.pd_incident_id, link.page_dedup_key) == ("PD1", page.payload["dedup_key"])
    assert kinds(db).count(PD_NOTE) == 1 and PD_RESPONDERS in kinds(db)
    assert (await pd.handle(event, data)).verdict is Verdict.DUPLICATE  # a redelivery
    assert kinds(db).count(PD_NOTE) == 1
    # our resolve reaches the page once (Events API), not a second time by REST
    await service.change_status(IncidentRef(incident_id=incident.id), Status.RESOLVED, ALICE)
    assert [m.payload["action"] for m in db.outbox if m.kind == PD_EVENT] == ["trigger", "resolve"]
    assert PD_STATUS not in kinds(db)


async def test_a_redelivery_racing_the_link_of_our_own_page_writes_nothing(
        pd: PagerDutyEvents, service: IncidentService, db: FakeDatabase, uow: PagingRows) -> None:
    await service.declare(DeclareIncident("Null predictions", Severity.P1, "credit-risk-v3"), ALICE)
    [page] = [m for m in db.outbox if m.kind == PD_EVENT]
    event, data = triggered()
    data["incident_key"] = page.payload["dedup_key"]
    second: list[EventResult] = []

    async def redelivered() -> None:  # checked after the first's check, recorded before it
        second.append(await pd.handle(event, data))

    uow.before_link.append(redelivered)
    first = await pd.handle(event, data)
    assert (second[0].verdict, first.verdict) == (Verdict.APPLIED, Verdict.DUPLICATE)
    assert len(db.incidents) == 1 and kinds(db).count(PD_NOTE) == 1
