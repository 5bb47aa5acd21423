"""Which incident events leave as API webhooks, under which public names, to which subscribers,
and how a delivery is signed (domain/api/webhooks.py, issue 17), as specifications.

The names are checked on the events ``IncidentService`` really emits (a reaction on the fake unit
of work records them), so a change to an event's ``action`` or ``details`` that would silence a
webhook fails here. The delivery itself (one outbox row per subscriber, ``ApiFeature.publish``)
is bot/features/api.py's, tested end to end in tests/e2e/test_api_e2e.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from domain.api.webhooks import EVENT_NAMES, event_name, parse_patterns, signature, verify, wants
from domain.events import IncidentEvent
from domain.model import Actor, DomainError, Severity
from domain.policy import default_policy
from domain.ports import UnitOfWork
from domain.services import DeclareIncident, IncidentRef, IncidentService
from tests.fakes import FakeClock, FakeDatabase

ALICE, BOB = Actor("U0ALICE", "alice"), Actor("U0BOB", "bob")
INC1 = IncidentRef(number=1)
SECRET = "whsec-test"  # pragma: allowlist secret
T = 1_800_000_000
BODY = b'{"type":"incident.resolved","incident":{"number":1}}'


class Published:
    """A reaction to every incident event: the public name each would be sent under."""

    def __init__(self) -> None:
        self.names: list[str | None] = []

    async def __call__(self, uow: UnitOfWork, event: IncidentEvent) -> None:
        self.names.append(event_name(event.action, event.details()))


@pytest.fixture
def published(db: FakeDatabase, clock: FakeClock) -> tuple[IncidentService, Published]:
    service = IncidentService(db.uow_factory(clock), clock, default_policy())
    seen = Published()
    service.reactions.on(IncidentEvent, seen)
    return service, seen


async def declared(service: IncidentService) -> None:
    await service.declare(DeclareIncident("Null predictions", Severity.P3, "credit-risk-v3"), ALICE)


# -- public names of the service's events --------------------------------------------------------

async def test_an_incidents_life_is_published_under_one_name_per_change(
        published: tuple[IncidentService, Published]) -> None:
    service, seen = published
    await declared(service)
    for verb in ("ack", "mitigate", "reopen", "resolve", "reopen", "resolve", "close"):
        await service.change_status(INC1, verb, BOB)

    assert seen.names == ["incident.created", "incident.acknowledged", "incident.mitigated",
                          "incident.reopened", "incident.resolved", "incident.reopened",
                          "incident.resolved", "incident.closed"]


async def test_severity_commander_and_notes_are_published(
        published: tuple[IncidentService, Published]) -> None:
    service, seen = published
    await declared(service)
    await service.change_severity(INC1, BOB, Severity.P4)
    await service.assign(INC1, BOB, "U0CAROL")
    await service.add_note(INC1, BOB, "looking at the feature store")

    assert seen.names[1:] == ["incident.severity_changed", "incident.assigned", "incident.note_added"]


async def test_every_event_the_service_emits_has_a_name_subscribers_can_ask_for(
        published: tuple[IncidentService, Published]) -> None:
    service, seen = published
    await declared(service)
    await service.change_severity(INC1, BOB, Severity.P4)
    await service.assign(INC1, BOB, "U0CAROL")
    await service.add_note(INC1, BOB, "postmortem scheduled")
    for verb in ("ack", "mitigate", "reopen", "resolve", "reopen", "resolve", "close"):
        await service.change_status(INC1, verb, BOB)

    assert set(seen.names) == set(EVENT_NAMES)  # each published name is listed, each listed one used


async def test_resolving_straight_from_open_is_published_as_resolved(
        published: tuple[IncidentService, Published]) -> None:
    service, seen = published
    await declared(service)
    await service.change_status(INC1, "resolve", BOB)
    assert seen.names == ["incident.created", "incident.resolved"]


@pytest.mark.parametrize(("action", "details"), [
    ("model.registered", {}),
    ("model.rollback_approved", {"to": "1"}),
    ("incident.status_updated", {"from": "investigating", "to": "open"}),
    ("incident.status_updated", {"from": "open"}),
    ("incident.role_assigned", {}),
    ("incident.acknowledged", {}),  # a public name is not an audited action
])
def test_actions_that_are_not_incident_changes_are_not_published(
        action: str, details: dict[str, str]) -> None:
    assert event_name(action, details) is None


def test_a_move_to_investigating_is_an_acknowledgement_only_from_open() -> None:
    assert event_name("incident.status_updated", {"from": "open", "to": "investigating"}) == \
        "incident.acknowledged"
    for was in ("mitigated", "resolved"):
        assert event_name("incident.status_updated", {"from": was, "to": "investigating"}) == \
            "incident.reopened"


# -- which subscribers want it -------------------------------------------------------------------

def test_patterns_are_names_or_globs_trimmed_and_blank_ones_dropped() -> None:
    assert parse_patterns([" incident.* ", "", "incident.resolved"]) == ["incident.*", "incident.resolved"]
    assert parse_patterns(["incident.?esolved"]) == ["incident.?esolved"]


@pytest.mark.parametrize("patterns", [[], [""], ["  ", "\t"]])
def test_a_subscription_must_say_which_events(patterns: list[str]) -> None:
    with pytest.raises(DomainError, match=re.escape("Say which events: e.g. --events 'incident.*'")):
        parse_patterns(patterns)


@pytest.mark.parametrize("typo", ["incident.deleted", "incidents.*", "Incident.created", "model.*"])
def test_a_pattern_that_matches_no_event_is_refused_as_a_typo_listing_the_events(typo: str) -> None:
    refusal = re.escape(f"`{typo}` matches no event; events are: incident.created, ")
    with pytest.raises(DomainError, match=refusal) as err:
        parse_patterns(["incident.created", typo])
    assert all(name in str(err.value) for name in EVENT_NAMES)


def test_a_subscriber_gets_the_names_its_patterns_match_and_only_those() -> None:
    assert wants(["incident.*"], "incident.closed")
    assert wants(["incident.created", "incident.resolved"], "incident.resolved")
    assert not wants(["incident.created"], "incident.closed")
    assert not wants(["incident.Created"], "incident.created")  # case matters
    assert not wants([], "incident.created")
    assert [n for n in EVENT_NAMES if wants(["incident.re*"], n)] == ["incident.resolved",
                                                                     "incident.reopened"]


# -- signing -------------------------------------------------------------------------------------

def test_the_signature_is_the_hmac_of_timestamp_dot_body_with_the_timestamp_in_clear() -> None:
    mac = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, T, BODY) == f"t={T},v1={mac}"


def test_a_subscriber_accepts_a_fresh_delivery_within_five_minutes_either_way() -> None:
    header = signature(SECRET, T, BODY)
    for now in (T, T + 300, T - 300):
        assert verify(SECRET, header, BODY, now)
    for now in (T + 301, T - 301):
        assert not verify(SECRET, header, BODY, now)  # a captured delivery replayed later
    assert verify(SECRET, header, BODY, T + 600, tolerance=600)


def test_a_subscriber_refuses_a_changed_body_another_secret_or_a_moved_timestamp() -> None:
    header = signature(SECRET, T, BODY)
    assert not verify(SECRET, header, BODY + b" ", T)
    assert not verify("another-secret", header, BODY, T)  # pragma: allowlist secret
    moved = header.replace(f"t={T}", f"t={T + 10}")
    assert not verify(SECRET, moved, BODY, T + 10)  # the timestamp is signed too


@pytest.mark.parametrize("header", ["", "garbage", f"v1={'0' * 64}", "t=soon,v1=00", f"t={T}"])
def test_a_malformed_signature_header_is_refused_not_an_error(header: str) -> None:
    assert verify(SECRET, header, BODY, T) is False
