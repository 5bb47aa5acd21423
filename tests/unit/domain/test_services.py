"""The use cases of ``IncidentService`` as specifications, on the in-memory unit of work.

No database, no Slack: each test declares or moves an incident through the service and asserts
what was committed (state, timeline, audit, outbox rows) and what the user is told.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bot.slack_ui.messages import SlackMessages
from domain.model import (
    Actor,
    AuditEvent,
    DomainError,
    Incident,
    ModelStage,
    Severity,
    Status,
    TimelineEventType,
    TriggerSource,
)
from domain.policy import default_policy
from domain.ports import ConcurrentUpdate, OutboxMessage, SlackLink, UnitOfWork
from domain.services import (
    ANNOUNCE,
    CHANNEL,
    CREATE_CHANNEL,
    INVITE,
    REFRESH,
    THREAD,
    DeclareIncident,
    IncidentNotFound,
    IncidentRef,
    IncidentService,
    UnknownModel,
)
from domain.state_machine import AlreadyInState, IllegalTransition
from tests.fakes import FakeClock, FakeDatabase, FakeUnitOfWork, database_with_models

ALICE = Actor("U0DECLARER", "alice")
BOB = Actor("U0RESPOND", "bob")
DRIFT_JOB = Actor("drift-job", "drift job")
INC1 = IncidentRef(number=1)
SLACK = SlackMessages()  # the texts below are what the bot says in Slack


@pytest.fixture
def db(clock: FakeClock) -> FakeDatabase:
    return database_with_models(clock, ("credit-risk-v3", "1.0.0", "risk-ml"),
                                ("fraud-detector", "1.0.0", "fraud"))


@pytest.fixture
def service(db: FakeDatabase, clock: FakeClock) -> IncidentService:
    return IncidentService(db.uow_factory(clock), clock, default_policy(), messages=SLACK)


async def declare(service: IncidentService, severity: Severity = Severity.P1,
                  title: str = "Null predictions since 14:02", actor: Actor = ALICE,
                  **kwargs: Any) -> Incident:
    return await service.declare(DeclareIncident(title=title, severity=severity,
                                                 model_name="credit-risk-v3", **kwargs), actor)


async def incident_in(service: IncidentService, status: Status) -> Incident:
    """INC-1, declared and moved to ``status`` along the usual path."""
    incident = await declare(service)
    path = {Status.OPEN: [], Status.INVESTIGATING: ["ack"], Status.MITIGATED: ["ack", "mitigate"],
            Status.RESOLVED: ["ack", "resolve"], Status.CLOSED: ["ack", "resolve", "close"]}[status]
    for verb in path:
        incident = (await service.change_status(INC1, verb, BOB)).incident
    return incident


@dataclass
class Mark:
    """How much was committed at one moment, to look at what a use case added after it."""

    db: FakeDatabase
    outbox: int
    audit: int
    timeline: int

    @classmethod
    def of(cls, db: FakeDatabase) -> Mark:
        return cls(db, len(db.outbox), len(db.audit), len(db.timeline))

    def new_outbox(self) -> list[OutboxMessage]:
        return self.db.outbox[self.outbox:]

    def new_audit(self) -> list[AuditEvent]:
        return self.db.audit[self.audit:]

    def new_timeline_bodies(self) -> list[str]:
        return [e.body for e in self.db.timeline[self.timeline:]]

    def nothing_written(self) -> bool:
        return (len(self.db.outbox), len(self.db.audit), len(self.db.timeline)) == (
            self.outbox, self.audit, self.timeline)


def kinds(messages: list[OutboxMessage]) -> list[str]:
    return [m.kind for m in messages]


# -- declare ----------------------------------------------------------------------------------

async def test_incidents_are_numbered_one_after_another(service: IncidentService) -> None:
    numbers = [(await declare(service, title=f"incident {n}")).number for n in range(3)]
    assert numbers == [1, 2, 3]


async def test_a_declared_incident_is_open_on_its_model_and_names_its_declarer(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    incident = await declare(service, Severity.P2, description="nulls on 3% of requests")
    stored = db.incident(1)
    assert stored == incident
    assert (stored.status, stored.severity, stored.created_by) == (Status.OPEN, Severity.P2, ALICE.id)
    assert db.models[stored.model_id].name == "credit-risk-v3"
    assert stored.created_at == stored.updated_at == clock.now()
    assert stored.description == "nulls on 3% of requests"
    assert stored.trigger_source is TriggerSource.MANUAL


async def test_declaring_queues_the_announcement_then_the_channel_with_the_declarer_invited(
        service: IncidentService, db: FakeDatabase) -> None:
    incident = await declare(service, invite=["U0SRE", "", ALICE.id])
    assert kinds(db.outbox) == [ANNOUNCE, CREATE_CHANNEL]
    assert all(m.incident_id == incident.id for m in db.outbox)
    assert db.outbox[1].payload == {"invite": [ALICE.id, "U0SRE"]}  # sorted, once, no blanks


async def test_declaring_audits_the_creation_and_starts_the_timeline(
        service: IncidentService, db: FakeDatabase) -> None:
    incident = await declare(service, labels=["Revenue-Critical"])
    [audit] = db.audit
    assert (audit.action, audit.actor, audit.actor_name) == ("incident.created", ALICE.id, ALICE.name)
    assert (audit.resource_type, audit.resource_id) == ("incident", str(incident.id))
    assert audit.details == {"number": 1, "title": "Null predictions since 14:02", "severity": "p1",
                             "model": "credit-risk-v3", "trigger_source": "manual", "status": "open",
                             "labels": ["revenue-critical"]}
    [event] = db.timeline
    assert event.event_type is TimelineEventType.STATUS_CHANGE
    assert event.body == "Declared SEV-1 on `credit-risk-v3` by alice: Null predictions since 14:02"


async def test_declaring_links_the_incident_to_its_slack_declarer(
        service: IncidentService, db: FakeDatabase) -> None:
    incident = await declare(service)
    assert db.slack_links[incident.id] == SlackLink(incident_id=incident.id, declarer_id=ALICE.id)


async def test_an_automated_declarer_is_neither_linked_nor_invited(
        service: IncidentService, db: FakeDatabase) -> None:
    incident = await declare(service, actor=DRIFT_JOB, trigger_source=TriggerSource.AUTOMATED_DRIFT,
                             invite=["U0SRE"])
    assert db.slack_links[incident.id].declarer_id is None
    assert db.outbox[1].payload == {"invite": ["U0SRE"]}


async def test_declaring_finds_the_model_whatever_the_case_of_its_name(service: IncidentService) -> None:
    incident = await service.declare(DeclareIncident("t", Severity.P3, "Credit-Risk-V3"), ALICE)
    assert incident.number == 1


async def test_declaring_on_an_unknown_model_names_the_valid_ones_and_stores_nothing(
        service: IncidentService, db: FakeDatabase) -> None:
    with pytest.raises(UnknownModel, match="`credit-risk-v3`, `fraud-detector`"):
        await service.declare(DeclareIncident("t", Severity.P1, "no-such-model"), ALICE)
    assert (db.incidents, db.outbox, db.audit, db.commits) == ({}, [], [], 0)


async def test_declaring_with_no_model_registered_says_how_to_register_one(clock: FakeClock) -> None:
    service = IncidentService(FakeDatabase().uow_factory(), clock, default_policy())
    with pytest.raises(UnknownModel, match="none registered yet"):
        await declare(service)


async def test_declaring_scrubs_and_trims_the_title_and_description(service: IncidentService) -> None:
    incident = await declare(service, title="  nulls, ask ann@example.com\x00  ",
                             description="   ")
    assert incident.title == "nulls, ask [email]"
    assert incident.description is None


async def test_labels_are_lowercased_deduplicated_and_blank_ones_dropped(service: IncidentService) -> None:
    incident = await declare(service, labels=["PII", "pii", " ", "Revenue-Critical"])
    assert incident.labels == ["pii", "revenue-critical"]


async def test_what_follows_declare_in_runs_inside_the_declaration_and_its_failure_undoes_it(
        service: IncidentService, db: FakeDatabase) -> None:
    async def declare_and_link(uow: UnitOfWork) -> Incident:
        incident = await service.declare_in(uow, DeclareIncident(
            "Null predictions", Severity.P1, "credit-risk-v3"), ALICE)
        assert await uow.incidents.get(incident.id) is not None  # the incident exists by now
        raise DomainError("already linked to PagerDuty incident P123")

    with pytest.raises(DomainError, match="P123"):
        await service.run(declare_and_link)
    assert (db.incidents, db.timeline, db.outbox, db.audit, db.slack_links) == ({}, [], [], [], {})
    assert (await declare(service)).number == 1  # the number was not used up


async def test_what_follows_declare_in_commits_with_the_declaration(
        service: IncidentService, db: FakeDatabase) -> None:
    async def declare_and_remember(uow: UnitOfWork) -> Incident:
        incident = await service.declare_in(uow, DeclareIncident(
            "Null predictions", Severity.P1, "credit-risk-v3"), ALICE)
        assert await uow.processed.first_time("pagerduty", "PD-1")
        return incident

    await service.run(declare_and_remember)
    assert db.processed == {("pagerduty", "PD-1")} and db.commits == 1 and len(db.incidents) == 1


# -- change_status: by status -------------------------------------------------------------------

async def test_a_status_change_commits_state_timeline_audit_and_three_slack_messages(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    await declare(service)
    mark = Mark.of(db)
    clock.advance(minutes=7)
    outcome = await service.change_status(INC1, Status.MITIGATED, BOB, reason="rolled back to 3.0.9")

    stored = db.incident(1)
    assert (stored.status, stored.mitigated_at, stored.acknowledged_at) == (
        Status.MITIGATED, clock.now(), clock.now())  # a skipped acknowledgement counts now
    assert outcome.changed and outcome.incident == stored
    assert mark.new_timeline_bodies() == ["open → mitigated: rolled back to 3.0.9"]
    [audit] = mark.new_audit()
    assert (audit.action, audit.actor) == ("incident.status_updated", BOB.id)
    assert audit.details == {"number": 1, "from": "open", "to": "mitigated",
                             "reason": "rolled back to 3.0.9"}
    assert kinds(mark.new_outbox()) == [REFRESH, THREAD, CHANNEL]
    assert [m.payload.get("text") for m in mark.new_outbox()] == [None, outcome.message, outcome.message]


async def test_the_status_message_names_who_when_and_the_time_to_mitigate(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    await declare(service)
    clock.advance(minutes=7)
    outcome = await service.change_status(INC1, Status.MITIGATED, BOB, reason="rolled <b>ack")
    assert db.incident(1).time_to_mitigate() == 7 * 60
    # wording (figures, escaped reason): tests/unit/bot/slack_ui/test_messages.py
    assert outcome.message == SLACK.status_changed(db.incident(1), Status.OPEN, BOB, clock.now(),
                                                   "rolled <b>ack")


async def test_each_save_moves_the_incident_to_its_next_version(
        service: IncidentService, db: FakeDatabase) -> None:
    await incident_in(service, Status.RESOLVED)
    assert db.incident(1).version == 3


async def test_the_reason_is_scrubbed_before_it_is_stored_or_audited(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    await service.change_status(INC1, Status.RESOLVED, BOB, reason="fixed, thanks bob@corp.io")
    assert db.timeline[-1].body == "open → resolved: fixed, thanks [email]"
    assert db.audit[-1].details["reason"] == "fixed, thanks [email]"


async def test_a_second_resolve_changes_nothing_and_says_so(
        service: IncidentService, db: FakeDatabase) -> None:
    await incident_in(service, Status.RESOLVED)
    mark = Mark.of(db)
    outcome = await service.change_status(INC1, Status.RESOLVED, ALICE)
    assert not outcome.changed
    assert outcome.message == SLACK.already_in_state(AlreadyInState(db.incident(1)))
    assert outcome.incident.status is Status.RESOLVED
    assert mark.nothing_written()


async def test_an_illegal_move_is_refused_with_the_moves_allowed_now(
        service: IncidentService, db: FakeDatabase) -> None:
    await incident_in(service, Status.INVESTIGATING)
    mark = Mark.of(db)
    with pytest.raises(IllegalTransition, match="Allowed now: `mitigate`, `resolve`"):
        await service.change_status(INC1, Status.CLOSED, BOB)
    assert db.incident(1).status is Status.INVESTIGATING and mark.nothing_written()


@pytest.mark.parametrize("target", [Status.OPEN, Status.INVESTIGATING, Status.MITIGATED, Status.RESOLVED,
                                    "reopen", "mitigate", "resolve"])
async def test_closed_is_final(service: IncidentService, db: FakeDatabase, target: Status | str) -> None:
    await incident_in(service, Status.CLOSED)
    mark = Mark.of(db)
    with pytest.raises(IllegalTransition, match="Allowed now: none \\(closed is final\\)"):
        await service.change_status(INC1, target, BOB)
    assert db.incident(1).status is Status.CLOSED and mark.nothing_written()


async def test_a_stale_ack_on_a_closed_incident_changes_nothing(
        service: IncidentService, db: FakeDatabase) -> None:
    await incident_in(service, Status.CLOSED)
    mark = Mark.of(db)
    outcome = await service.change_status(INC1, "ack", BOB)
    assert not outcome.changed and "*closed*" in outcome.message
    assert mark.nothing_written()


async def test_closing_a_closed_incident_again_is_an_unchanged_outcome(service: IncidentService) -> None:
    await incident_in(service, Status.CLOSED)
    outcome = await service.change_status(INC1, "close", BOB)
    assert not outcome.changed
    assert outcome.message == SLACK.already_in_state(AlreadyInState(outcome.incident))


# -- change_status: by verb (verbs are intents) -------------------------------------------------

async def test_ack_takes_an_open_incident_to_investigating_with_its_time_to_acknowledge(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    await declare(service)
    clock.advance(minutes=4, seconds=30)
    outcome = await service.change_status(INC1, "ack", BOB)
    assert db.incident(1).status is Status.INVESTIGATING
    assert db.incident(1).acknowledged_at == clock.now()
    assert db.incident(1).time_to_acknowledge() == 4 * 60 + 30
    assert outcome.message == SLACK.status_changed(db.incident(1), Status.OPEN, BOB, clock.now(), None)


async def test_a_stale_ack_on_a_resolved_incident_changes_nothing_and_says_where_it_is(
        service: IncidentService, db: FakeDatabase) -> None:
    await incident_in(service, Status.RESOLVED)
    mark = Mark.of(db)
    outcome = await service.change_status(INC1, "ack", ALICE)
    assert not outcome.changed
    assert outcome.message == SLACK.already_in_state(AlreadyInState(db.incident(1), "ack"))
    assert AlreadyInState(db.incident(1), "ack").reopen_hint  # wording: slack_ui/test_messages.py
    assert db.incident(1).status is Status.RESOLVED and mark.nothing_written()


async def test_a_stale_ack_on_a_mitigated_incident_points_to_reopen(service: IncidentService) -> None:
    await incident_in(service, Status.MITIGATED)
    outcome = await service.change_status(INC1, "ack", ALICE)
    assert not outcome.changed and "*mitigated*" in outcome.message and "`reopen`" in outcome.message


async def test_a_second_ack_while_investigating_changes_nothing_without_a_reopen_hint(
        service: IncidentService, db: FakeDatabase) -> None:
    await incident_in(service, Status.INVESTIGATING)
    mark = Mark.of(db)
    outcome = await service.change_status(INC1, "ack", ALICE)
    assert not outcome.changed and "*investigating*" in outcome.message
    assert "reopen" not in outcome.message and mark.nothing_written()


async def test_reopen_brings_a_resolved_incident_back_and_restarts_its_clocks(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    acknowledged_at = (await incident_in(service, Status.RESOLVED)).acknowledged_at
    outcome = await service.change_status(INC1, "reopen", ALICE, reason="nulls are back")
    stored = db.incident(1)
    assert stored.status is Status.INVESTIGATING
    assert (stored.resolved_at, stored.mitigated_at) == (None, None)
    assert stored.acknowledged_at == acknowledged_at
    assert outcome.message == SLACK.status_changed(stored, Status.RESOLVED, ALICE, clock.now(),
                                                   "nulls are back")
    assert db.timeline[-1].body == "resolved → investigating: nulls are back"


async def test_reopen_of_a_mitigated_incident_means_it_regressed(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    await incident_in(service, Status.MITIGATED)
    outcome = await service.change_status(INC1, "reopen", ALICE)
    assert db.incident(1).status is Status.INVESTIGATING
    assert outcome.message == SLACK.status_changed(db.incident(1), Status.MITIGATED, ALICE,
                                                   clock.now(), None)


@pytest.mark.parametrize("status", [Status.OPEN, Status.INVESTIGATING])
async def test_reopen_of_an_active_incident_changes_nothing(
        service: IncidentService, db: FakeDatabase, status: Status) -> None:
    await incident_in(service, status)
    mark = Mark.of(db)
    outcome = await service.change_status(INC1, "reopen", ALICE)
    assert not outcome.changed
    assert outcome.message == SLACK.already_in_state(AlreadyInState(db.incident(1), "reopen"))
    assert mark.nothing_written()


async def test_reopen_of_a_closed_incident_is_refused(
        service: IncidentService, db: FakeDatabase) -> None:
    await incident_in(service, Status.CLOSED)
    with pytest.raises(IllegalTransition) as refused:
        await service.change_status(INC1, "reopen", ALICE)
    assert (refused.value.current, refused.value.target) == (Status.CLOSED, Status.INVESTIGATING)
    assert str(refused.value) == SLACK.illegal_transition(
        IllegalTransition(db.incident(1), Status.INVESTIGATING))


@pytest.mark.parametrize(("verb", "status"), [("mitigate", Status.MITIGATED), ("resolve", Status.RESOLVED)])
async def test_mitigate_and_resolve_verbs_lead_to_their_status(
        service: IncidentService, db: FakeDatabase, verb: str, status: Status) -> None:
    await declare(service)
    assert (await service.change_status(INC1, verb, BOB)).changed
    assert db.incident(1).status is status


async def test_resolving_an_open_incident_fills_every_clock_at_that_moment(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    await declare(service)
    clock.advance(hours=1)
    outcome = await service.change_status(INC1, "resolve", BOB)
    stored = db.incident(1)
    assert stored.acknowledged_at == stored.mitigated_at == stored.resolved_at == clock.now()
    assert stored.time_to_acknowledge() == stored.time_to_resolve() == 3600
    assert outcome.message == SLACK.status_changed(stored, Status.OPEN, BOB, clock.now(), None)


# -- finding the incident -----------------------------------------------------------------------

async def test_an_incident_is_found_from_its_channel(service: IncidentService, db: FakeDatabase) -> None:
    incident = await declare(service)
    db.slack_links[incident.id] = SlackLink(incident.id, channel_id="C0INC1")
    outcome = await service.change_status(IncidentRef(channel_id="C0INC1"), "ack", BOB)
    assert outcome.changed and db.incident(1).status is Status.INVESTIGATING


async def test_an_unknown_number_is_not_found_and_points_to_the_list(service: IncidentService) -> None:
    with pytest.raises(IncidentNotFound, match="No incident INC-42. `/incident list`"):
        await service.change_status(IncidentRef(number=42), "ack", BOB)


async def test_a_command_outside_an_incident_channel_says_how_to_name_the_incident(
        service: IncidentService) -> None:
    await declare(service)
    with pytest.raises(IncidentNotFound, match="not an incident channel"):
        await service.add_note(IncidentRef(channel_id="C0GENERAL"), BOB, "hello")


async def test_a_buttons_incident_id_wins_over_a_number_and_a_channel(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service, title="first")
    second = await declare(service, title="second")
    ref = IncidentRef(number=1, channel_id="C0ELSEWHERE", incident_id=second.id)
    await service.change_status(ref, "ack", BOB)
    assert (db.incident(1).status, db.incident(2).status) == (Status.OPEN, Status.INVESTIGATING)


async def test_an_unknown_incident_id_is_not_found(service: IncidentService) -> None:
    with pytest.raises(IncidentNotFound):
        await service.change_status(IncidentRef(incident_id=uuid.uuid4()), "ack", BOB)


# -- add_note ---------------------------------------------------------------------------------

async def test_a_note_lands_on_the_timeline_with_its_author_and_is_audited(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    await declare(service)
    said_at = clock.now() - timedelta(seconds=20)
    outcome = await service.add_note(INC1, BOB, "p99 back to 250ms", occurred_at=said_at,
                                     source_ref="slack:C1:1700000000.000100")
    assert outcome.changed and outcome.message == "Noted on INC-1."
    note = db.timeline[-1]
    assert (note.event_type, note.body, note.author, note.author_name) == (
        TimelineEventType.NOTE, "p99 back to 250ms", BOB.id, BOB.name)
    assert (note.occurred_at, note.created_at) == (said_at, clock.now())
    assert db.audit[-1].action == "incident.note_added"
    assert db.audit[-1].details == {"number": 1, "source_ref": "slack:C1:1700000000.000100", "length": 17}


async def test_a_note_without_a_time_happened_now(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    await declare(service)
    await service.add_note(INC1, BOB, "looking")
    assert db.timeline[-1].occurred_at == clock.now()


async def test_a_repeated_source_ref_adds_nothing_and_says_already_noted(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    await service.add_note(INC1, BOB, "retried event", source_ref="slack:C1:1.2")
    mark = Mark.of(db)
    outcome = await service.add_note(INC1, BOB, "retried event", source_ref="slack:C1:1.2", echo=True)
    assert not outcome.changed and outcome.message == "Already noted."
    assert mark.nothing_written()


async def test_notes_without_a_source_ref_are_never_taken_for_repeats(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    for _ in range(2):
        assert (await service.add_note(INC1, BOB, "same words")).changed
    assert [e.body for e in db.timeline].count("same words") == 2


async def test_an_echoed_note_is_repeated_in_the_incident_channel(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    mark = Mark.of(db)
    await service.add_note(INC1, BOB, "rollback <started>", echo=True)
    [echo] = mark.new_outbox()
    assert (echo.kind, echo.payload) == (
        CHANNEL, {"text": SLACK.note_echo(db.incident(1), BOB, "rollback <started>")})


async def test_a_note_is_not_echoed_unless_asked(service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    mark = Mark.of(db)
    await service.add_note(INC1, BOB, "quiet note")
    assert mark.new_outbox() == []


async def test_a_note_is_scrubbed_before_it_is_stored(service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    await service.add_note(INC1, BOB, "token xoxb-123-456-abcDEF leaked")
    assert db.timeline[-1].body == "token [token] leaked"


# -- assign -----------------------------------------------------------------------------------

async def test_assigning_a_commander_invites_them_and_announces_it(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    mark = Mark.of(db)
    outcome = await service.assign(INC1, ALICE, "U0COMMANDER")
    assert db.incident(1).assigned_to == "U0COMMANDER"
    assert outcome.message == SLACK.assigned(db.incident(1), ALICE, "U0COMMANDER")
    assert mark.new_timeline_bodies() == [SLACK.commander_note("U0COMMANDER")]
    [audit] = mark.new_audit()
    assert (audit.action, audit.details) == ("incident.assigned",
                                             {"number": 1, "from": None, "to": "U0COMMANDER"})
    assert kinds(mark.new_outbox()) == [INVITE, REFRESH, THREAD, CHANNEL]
    assert mark.new_outbox()[0].payload == {"users": ["U0COMMANDER"]}


async def test_handing_over_command_audits_the_previous_commander(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    await service.assign(INC1, ALICE, "U0FIRST")
    await service.assign(INC1, ALICE, "U0SECOND")
    assert db.audit[-1].details == {"number": 1, "from": "U0FIRST", "to": "U0SECOND"}


async def test_assigning_the_current_commander_changes_nothing(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    await service.assign(INC1, ALICE, "U0COMMANDER")
    mark = Mark.of(db)
    outcome = await service.assign(INC1, BOB, "U0COMMANDER")
    assert not outcome.changed
    assert outcome.message == SLACK.already_commands(db.incident(1), "U0COMMANDER")
    assert mark.nothing_written()


# -- change_severity --------------------------------------------------------------------------

async def test_changing_the_severity_records_before_and_after(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service, Severity.P3)
    mark = Mark.of(db)
    outcome = await service.change_severity(INC1, BOB, Severity.P1)
    assert db.incident(1).severity is Severity.P1
    assert outcome.message == SLACK.severity_changed(db.incident(1), Severity.P3, BOB)
    assert mark.new_timeline_bodies() == ["Severity SEV-3 → SEV-1"]
    [audit] = mark.new_audit()
    assert (audit.action, audit.details) == ("incident.severity_changed",
                                             {"number": 1, "from": "p3", "to": "p1"})
    assert kinds(mark.new_outbox()) == [REFRESH, THREAD, CHANNEL]


async def test_the_same_severity_again_changes_nothing(service: IncidentService, db: FakeDatabase) -> None:
    await declare(service, Severity.P2)
    mark = Mark.of(db)
    outcome = await service.change_severity(INC1, BOB, Severity.P2)
    assert not outcome.changed and outcome.message == "INC-1 is already SEV-2."
    assert mark.nothing_written()


async def test_a_closed_incident_keeps_its_severity(service: IncidentService, db: FakeDatabase) -> None:
    await incident_in(service, Status.CLOSED)
    mark = Mark.of(db)
    with pytest.raises(DomainError, match="INC-1 is closed; its severity is final."):
        await service.change_severity(INC1, BOB, Severity.P4)
    assert db.incident(1).severity is Severity.P1 and mark.nothing_written()


async def test_a_resolved_incident_may_still_be_reclassified(
        service: IncidentService, db: FakeDatabase) -> None:
    await incident_in(service, Status.RESOLVED)
    assert (await service.change_severity(INC1, BOB, Severity.P3)).changed


# -- view and list ----------------------------------------------------------------------------

async def test_view_shows_the_incident_with_its_model_and_slack_link(
        service: IncidentService, db: FakeDatabase) -> None:
    incident = await declare(service)
    view = await service.view(INC1)
    assert view.incident == incident
    assert view.model is not None and view.model.name == "credit-risk-v3"
    assert view.link is not None and view.link.declarer_id == ALICE.id
    assert view.timeline == []


async def test_view_with_timeline_lists_events_in_the_order_they_happened(
        service: IncidentService, clock: FakeClock) -> None:
    await declare(service)
    clock.advance(minutes=5)
    await service.add_note(INC1, BOB, "said first, delivered late",
                           occurred_at=clock.now() - timedelta(minutes=4))
    await service.change_status(INC1, "ack", BOB)
    view = await service.view(INC1, with_timeline=True)
    assert [e.body for e in view.timeline] == [
        "Declared SEV-1 on `credit-risk-v3` by alice: Null predictions since 14:02",
        "said first, delivered late", "open → investigating"]


async def test_view_of_an_unknown_incident_is_not_found(service: IncidentService) -> None:
    with pytest.raises(IncidentNotFound):
        await service.view(IncidentRef(number=7))


async def test_list_shows_the_active_incidents_newest_first(service: IncidentService) -> None:
    for title in ("first", "second", "third"):
        await declare(service, title=title)
    await service.change_status(IncidentRef(number=2), "resolve", BOB)
    views = await service.list_incidents()
    assert [v.incident.number for v in views] == [3, 1]
    assert all(v.model is not None and v.model.name == "credit-risk-v3" for v in views)
    assert all(v.link is None for v in views)


async def test_list_of_all_incidents_includes_resolved_ones_up_to_the_limit(service: IncidentService) -> None:
    for title in ("first", "second", "third"):
        await declare(service, title=title)
    await service.change_status(IncidentRef(number=3), "resolve", BOB)
    assert [v.incident.number for v in await service.list_incidents(active_only=False, limit=2)] == [3, 2]


async def test_list_with_links_gives_each_incident_its_slack_link(service: IncidentService) -> None:
    incident = await declare(service)
    [view] = await service.list_incidents(with_links=True)
    assert view.link is not None and view.link.incident_id == incident.id


async def test_queries_read_through_the_read_unit_of_work_and_commit_nothing(
        db: FakeDatabase, clock: FakeClock) -> None:
    opened: list[FakeUnitOfWork] = []

    def read_uow() -> FakeUnitOfWork:
        opened.append(FakeUnitOfWork(db, clock))
        return opened[-1]

    service = IncidentService(db.uow_factory(clock), clock, default_policy(), read_uow_factory=read_uow,
                              messages=SLACK)
    await declare(service)
    commits = db.commits
    await service.view(INC1, with_timeline=True)
    await service.list_incidents(active_only=False, with_links=True)
    await service.list_models()
    assert len(opened) == 3 and db.commits == commits


# -- models -----------------------------------------------------------------------------------

async def test_registering_a_new_production_model_records_when_it_was_promoted(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    model, created = await service.register_model("churn-v1", "1.0.0", ModelStage.PRODUCTION, "growth",
                                                  ALICE, labels=["tier-1"])
    assert created
    stored = db.models[model.id]
    assert (stored.name, stored.version, stored.team, stored.labels) == (
        "churn-v1", "1.0.0", "growth", ["tier-1"])
    assert stored.registered_at == stored.promoted_at == clock.now()
    [audit] = db.audit
    assert (audit.action, audit.resource_type, audit.resource_id) == (
        "model.registered", "model", str(model.id))
    assert audit.details == {"name": "churn-v1", "version": "1.0.0", "stage": "production", "team": "growth",
                             "labels": ["tier-1"]}


async def test_a_staging_model_is_not_promoted(service: IncidentService) -> None:
    model, _ = await service.register_model("churn-v1", "0.9.0", ModelStage.STAGING, "growth", ALICE)
    assert model.promoted_at is None


async def test_registering_a_known_model_again_updates_it_in_place(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    first, _ = await service.register_model("churn-v1", "0.9.0", ModelStage.STAGING, "growth", ALICE,
                                            labels=["tier-1"], feature_store_ref="fs://churn")
    clock.advance(days=1)
    model, created = await service.register_model("CHURN-V1", "1.0.0", ModelStage.PRODUCTION, "retention",
                                                  BOB)
    assert not created and model.id == first.id
    stored = db.models[model.id]
    assert (stored.name, stored.version, stored.stage, stored.team) == (
        "churn-v1", "1.0.0", ModelStage.PRODUCTION, "retention")
    assert stored.promoted_at == clock.now()
    assert (stored.labels, stored.feature_store_ref) == (["tier-1"], "fs://churn")  # kept when not given
    assert [a.action for a in db.audit] == ["model.registered", "model.updated"]


async def test_a_model_already_in_production_keeps_its_promotion_date(
        service: IncidentService, clock: FakeClock) -> None:
    first, _ = await service.register_model("churn-v1", "1.0.0", ModelStage.PRODUCTION, "growth", ALICE)
    clock.advance(days=3)
    model, _ = await service.register_model("churn-v1", "1.1.0", ModelStage.PRODUCTION, "growth", ALICE,
                                            labels=[])
    assert model.promoted_at == first.promoted_at and model.labels == []


async def test_models_are_listed_by_name(service: IncidentService) -> None:
    await service.register_model("aardvark", "1", ModelStage.STAGING, "zoo", ALICE)
    assert [m.name for m in await service.list_models()] == ["aardvark", "credit-risk-v3", "fraud-detector"]


# -- run: one transaction, retried when a concurrent writer won -----------------------------

async def test_a_resolve_that_loses_a_race_is_retried_on_what_the_winner_committed(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)

    async def concurrent_ack(_: Incident) -> None:
        await service.change_status(INC1, "ack", ALICE)

    db.before_next_save(concurrent_ack)
    outcome = await service.change_status(INC1, "resolve", BOB)
    assert outcome.changed and db.incident(1).status is Status.RESOLVED
    assert [(a.actor, a.details.get("from"), a.details.get("to")) for a in db.audit[1:]] == [
        (ALICE.id, "open", "investigating"), (BOB.id, "investigating", "resolved")]
    assert [e.body for e in db.timeline[1:]] == ["open → investigating", "investigating → resolved"]


async def test_a_stale_ack_that_loses_a_race_to_a_resolve_changes_nothing(
        service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)

    async def concurrent_resolve(_: Incident) -> None:
        await service.change_status(INC1, "resolve", ALICE)

    db.before_next_save(concurrent_resolve)
    outcome = await service.change_status(INC1, "ack", BOB)
    assert not outcome.changed and "*resolved*" in outcome.message
    assert db.incident(1).status is Status.RESOLVED
    assert [a.actor for a in db.audit] == [ALICE.id, ALICE.id]  # the declaration and the resolve


async def test_what_a_losing_attempt_wrote_vanishes_before_the_retry(service: IncidentService,
                                                                     db: FakeDatabase) -> None:
    attempts = 0

    async def work(uow: UnitOfWork) -> int:
        nonlocal attempts
        attempts += 1
        await uow.outbox.add(OutboxMessage(CHANNEL, None, {"attempt": attempts}))
        if attempts < 3:
            raise ConcurrentUpdate("lost")
        return attempts

    assert await service.run(work) == 3
    assert [m.payload for m in db.outbox] == [{"attempt": 3}]


async def test_run_gives_up_after_its_last_attempt(service: IncidentService, db: FakeDatabase) -> None:
    attempts = 0

    async def always_loses(uow: UnitOfWork) -> None:
        nonlocal attempts
        attempts += 1
        raise ConcurrentUpdate("lost again")

    with pytest.raises(ConcurrentUpdate):
        await service.run(always_loses, attempts=3)
    assert attempts == 3 and db.commits == 0


async def test_after_commit_sees_the_committed_unit_of_work_once(db: FakeDatabase, clock: FakeClock) -> None:
    committed: list[Any] = []
    service = IncidentService(db.uow_factory(clock), clock, default_policy(), after_commit=committed.append)
    await declare(service)
    [uow] = committed
    assert uow.committed and [a.action for a in uow.audit_added] == ["incident.created"]


async def test_a_refused_use_case_commits_nothing_and_skips_after_commit(
        db: FakeDatabase, clock: FakeClock) -> None:
    committed: list[Any] = []
    service = IncidentService(db.uow_factory(clock), clock, default_policy(), after_commit=committed.append)
    with pytest.raises(UnknownModel):
        await service.declare(DeclareIncident("t", Severity.P1, "nope"), ALICE)
    assert committed == [] and db.commits == 0


# -- what a change says: the renderer the service is given ----------------------------------------

class Echo:
    """A renderer that says which of its methods was asked, with what."""

    def status_changed(self, incident: Incident, previous: Status, actor: Actor, at: Any,
                       reason: str | None) -> str:
        return f"status {incident.key} {previous.value}->{incident.status.value} {actor.id} {reason}"

    def note_echo(self, incident: Incident, actor: Actor, text: str) -> str:
        return f"note {incident.key} {actor.id} {text}"

    def assigned(self, incident: Incident, actor: Actor, commander_id: str) -> str:
        return f"assigned {incident.key} {commander_id}"

    def severity_changed(self, incident: Incident, previous: Severity, actor: Actor) -> str:
        return f"severity {incident.key} {previous.value}->{incident.severity.value}"

    def commander_note(self, commander_id: str) -> str:
        return f"commander note {commander_id}"

    def already_commands(self, incident: Incident, commander_id: str) -> str:
        return f"already commands {incident.key} {commander_id}"

    def illegal_transition(self, refusal: IllegalTransition) -> str:
        return f"illegal {refusal.key} {refusal.current.value}->{refusal.target.value} {refusal.allowed}"

    def already_in_state(self, refusal: AlreadyInState) -> str:
        return f"already {refusal.key} {refusal.current.value} {refusal.verb}"


async def test_what_a_change_says_comes_from_the_renderer_the_service_is_given(
        db: FakeDatabase, clock: FakeClock) -> None:
    service = IncidentService(db.uow_factory(clock), clock, default_policy(), messages=Echo())
    await declare(service, Severity.P3)
    said = [(await service.change_status(INC1, "ack", BOB, reason="on it")).message,
            (await service.change_severity(INC1, BOB, Severity.P2)).message,
            (await service.assign(INC1, BOB, "U0IC")).message]
    await service.add_note(INC1, BOB, "rolled back", echo=True)
    assert said == ["status INC-1 open->investigating U0RESPOND on it", "severity INC-1 p3->p2",
                    "assigned INC-1 U0IC"]
    assert [m.payload["text"] for m in db.outbox if m.kind == THREAD] == said
    assert db.outbox[-1].payload == {"text": "note INC-1 U0RESPOND rolled back"}
    assert "commander note U0IC" in [e.body for e in db.timeline]  # what the timeline keeps
    # the refusals too: the renderer says them, from the facts the state machine gives
    assert (await service.change_status(INC1, "ack", BOB)).message == "already INC-1 investigating ack"
    assert (await service.assign(INC1, BOB, "U0IC")).message == "already commands INC-1 U0IC"
    refused = r"^illegal INC-1 investigating->closed \['mitigate', 'resolve'\]$"
    with pytest.raises(IllegalTransition, match=refused):
        await service.change_status(INC1, "close", BOB)


async def test_without_a_renderer_a_change_is_said_in_plain_words(db: FakeDatabase,
                                                                  clock: FakeClock) -> None:
    service = IncidentService(db.uow_factory(clock), clock, default_policy())
    await declare(service, Severity.P3)
    outcome = await service.change_status(INC1, "ack", BOB, reason="<!channel> on it")
    assert outcome.message == "INC-1 open -> investigating by bob at 14:00:00 UTC: <!channel> on it"
    assert (await service.change_severity(INC1, BOB, Severity.P2)).message == (
        "INC-1 severity changed SEV-3 -> SEV-2 by bob")
