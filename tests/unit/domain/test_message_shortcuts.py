"""The message shortcuts' rules (issue 19 item 2, domain/message_shortcuts.py) on the fake unit
of work: where a message's note goes, what it keeps, once per message, and the trigger note of
an incident declared from a message. Plus the manifest's shortcuts matching the listeners' ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import yaml

from bot.slack_ui.ids import CallbackId
from bot.slack_ui.shortcuts import (
    TITLE_MAX,
    ShortcutTexts,
    description_from,
    pick_incident_modal,
    plain,
    title_from,
)
from domain.message_shortcuts import (
    AlreadyOnTimeline,
    MessageNotes,
    NoActiveIncident,
    NoText,
    SlackMessage,
    message_ref,
)
from domain.model import Actor, Incident, ModelStage, Severity, Status, TimelineEventType
from domain.policy import default_policy
from domain.ports import SlackLink, UnitOfWork
from domain.services import CHANNEL, DeclareIncident, IncidentRef, IncidentService
from tests.fakes import FakeClock, FakeDatabase
from tests.paths import REPO_ROOT

ADDER, AUTHOR = Actor("U0ADDER", "ann"), "U0AUTHOR"
INCIDENT_CHANNEL, ANNOUNCEMENTS, TEAM = "C0INC1", "C0ANNOUNCE", "C0TEAM"
SENT = "1795000000.000100"
LINK = "https://acme.slack.com/archives/C0TEAM/p1795000000000100"


class Sources:
    """``NoteSources`` over the fake unit of work's timeline (what its transaction sees)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def incident_noting(self, source_ref: str) -> uuid.UUID | None:
        rows = self.uow.timeline._tx.tables.timeline  # type: ignore[attr-defined]
        return next((e.incident_id for e in rows if e.source_ref == source_ref), None)


class Texts:
    def added(self, incident: Incident, message: SlackMessage, actor: Actor) -> str:
        return f"added {message.ts} to {incident.key} by {actor.id}"

    def declared_from(self, incident: Incident, message: SlackMessage) -> str:
        return f"{incident.key} declared from {message.permalink}"

    def note(self, message: SlackMessage) -> str:  # what the timeline keeps: Slack's, as stored
        return ShortcutTexts().note(message)

    def no_active_incident(self) -> str:
        return ShortcutTexts().no_active_incident()


def msg(channel: str = TEAM, text: str = "p99 at 4s", thread_ts: str | None = None,
        ts: str = SENT) -> SlackMessage:
    return SlackMessage(channel, ts, AUTHOR, text, thread_ts, LINK)


@pytest.fixture
async def world() -> tuple[FakeDatabase, IncidentService, MessageNotes]:
    db, clock = FakeDatabase(), FakeClock()
    service = IncidentService(db.uow_factory(clock), clock, default_policy())
    await service.register_model("credit-risk-v3", "1", ModelStage.PRODUCTION, "ml", ADDER)
    return db, service, MessageNotes(service, Sources, Texts())


async def declare(service: IncidentService, title: str = "Null predictions") -> Incident:
    incident = await service.declare(DeclareIncident(title, Severity.P2, "credit-risk-v3"), ADDER)
    n = incident.number

    async def link(uow: UnitOfWork) -> None:
        await uow.slack_links.save(SlackLink(incident.id, ANNOUNCEMENTS, f"170000000{n}.000100",
                                             f"{INCIDENT_CHANNEL}{n}", f"inc-{n}"))

    await service.run(link)
    return incident


def test_a_message_is_noted_under_the_ref_captured_messages_use() -> None:
    assert msg().source_ref == message_ref(TEAM, SENT) == f"slack:{TEAM}:{SENT}"


def test_the_form_reads_slack_markup_as_a_person_would() -> None:
    assert plain("<@U1|ann> paged <!subteam^S1|@oncall> and <!here> in <#C1|ops>: "
                 "<https://g.example/d|the dashboard> &amp; <https://x.example> &lt;3") == (
        "@ann paged @oncall and @here in #ops: the dashboard & https://x.example <3")
    assert plain("<@U1> <#C2>") == "@U1 #C2"


def test_the_title_is_the_first_line_with_words_within_the_limit() -> None:
    first = title_from("\n  \n  Scores   all &lt;b&gt;zero&lt;/b&gt;  \nsecond line")
    assert first == "Scores all <b>zero</b>"
    assert title_from("<@U1|ann>: null predictions") == "@ann: null predictions"
    long = title_from("x" * (TITLE_MAX + 50))
    assert len(long) == TITLE_MAX and long.endswith("…")
    assert title_from("   \n ") == ""
    assert len(description_from("y" * 5000)) == 3000


def test_the_note_names_the_author_the_channel_and_links_the_message() -> None:
    assert ShortcutTexts().note(msg()) == f"<@{AUTHOR}> in <#{TEAM}>: p99 at 4s\n{LINK}"
    bot = SlackMessage(TEAM, SENT, "Grafana", "[FIRING] p99", permalink=None)
    assert ShortcutTexts().note(bot) == f"Grafana in <#{TEAM}>: [FIRING] p99"


async def test_where_a_message_goes(world: tuple[FakeDatabase, IncidentService, MessageNotes]) -> None:
    _db, service, notes = world
    with pytest.raises(NoActiveIncident):
        await notes.place(msg())
    first, second = await declare(service), await declare(service, "Drift")
    assert (await notes.place(msg(f"{INCIDENT_CHANNEL}1"))).incident == first  # its channel
    in_thread = msg(ANNOUNCEMENTS, thread_ts="1700000002.000100", ts="1700000002.000200")
    assert (await notes.place(in_thread)).incident == second  # its announcement's thread
    await service.change_status(IncidentRef(number=2), Status.RESOLVED, ADDER)
    await service.change_status(IncidentRef(number=2), Status.CLOSED, ADDER)
    placed = await notes.place(msg())  # elsewhere: the active incidents to pick from
    assert placed.incident is None and [i.number for i in placed.choices] == [1]
    with pytest.raises(NoText):
        await notes.place(msg(text="  \n"))


async def test_a_note_keeps_the_words_author_time_and_link_and_is_audited_as_the_adder(
        world: tuple[FakeDatabase, IncidentService, MessageNotes]) -> None:
    db, service, notes = world
    incident = await declare(service)
    outcome = await notes.add(IncidentRef(incident_id=incident.id), msg(), ADDER)
    assert outcome.message == "Added to INC-1's timeline."
    [note] = [e for e in db.timeline if e.event_type is TimelineEventType.NOTE]
    assert note.body == f"<@{AUTHOR}> in <#{TEAM}>: p99 at 4s\n{LINK}"
    assert note.occurred_at == datetime.fromtimestamp(float(SENT), UTC)
    assert note.source_ref == f"slack:{TEAM}:{SENT}" and note.author == ADDER.id
    [audit] = [a for a in db.audit if a.action == "incident.note_added"]
    assert audit.actor == ADDER.id and audit.details["source_ref"] == note.source_ref
    assert [m.payload for m in db.outbox if m.kind == CHANNEL][-1] == {
        "text": f"added {SENT} to INC-1 by {ADDER.id}"}  # echoed in the incident channel

    posted = len(db.outbox)
    await notes.add(IncidentRef(incident_id=incident.id), msg(f"{INCIDENT_CHANNEL}1",
                                                              ts="1795000001.000100"), ADDER)
    assert all(m.kind != CHANNEL for m in db.outbox[posted:])  # no echo where it already is


async def test_the_same_message_twice_writes_nothing_and_names_the_incident(
        world: tuple[FakeDatabase, IncidentService, MessageNotes]) -> None:
    db, service, notes = world
    first, second = await declare(service), await declare(service, "Drift")
    await notes.add(IncidentRef(incident_id=first.id), msg(), ADDER)
    before = (len(db.timeline), len(db.audit), len(db.outbox))
    with pytest.raises(AlreadyOnTimeline, match="already on INC-1's timeline"):
        await notes.place(msg())
    with pytest.raises(AlreadyOnTimeline, match="already on INC-1's timeline"):
        await notes.add(IncidentRef(incident_id=second.id), msg(), ADDER)  # any incident
    assert (len(db.timeline), len(db.audit), len(db.outbox)) == before
    with pytest.raises(NoText):
        await notes.add(IncidentRef(incident_id=first.id), msg(text=""), ADDER)


async def test_a_declaration_from_a_message_links_it_as_the_first_note(
        world: tuple[FakeDatabase, IncidentService, MessageNotes]) -> None:
    db, service, notes = world
    before = (db.transactions, db.commits)
    incident = await notes.declare_from(DeclareIncident(
        "p99 at 4s", Severity.P2, "credit-risk-v3"), msg(), ADDER)
    # the incident, its trigger note and the channel post: one transaction
    assert (db.transactions, db.commits) == (before[0] + 1, before[1] + 1)
    [trigger] = [e for e in db.timeline if e.source_ref == msg().source_ref]
    assert trigger.incident_id == incident.id and trigger.body.startswith(
        f"Declared from the message of <@{AUTHOR}> in <#{TEAM}>: p99 at 4s")
    assert trigger.occurred_at == datetime.fromtimestamp(float(SENT), UTC)
    assert [e.source_ref for e in sorted(
        [e for e in db.timeline if e.incident_id == incident.id],
        key=lambda e: e.occurred_at)][0] == msg().source_ref  # before the declaration
    assert {"text": f"INC-1 declared from {LINK}"} in [m.payload for m in db.outbox]

    again = await notes.declare_from(DeclareIncident(  # the same message, already on INC-1's
        "p99 again", Severity.P2, "credit-risk-v3"), msg(), ADDER)
    linked = [e for e in db.timeline if e.incident_id == again.id and "Declared from" in e.body]
    assert len(linked) == 1 and linked[0].source_ref is None


async def test_the_picker_lists_a_private_incident_without_its_title(
        world: tuple[FakeDatabase, IncidentService, MessageNotes]) -> None:
    _db, service, notes = world
    await declare(service)
    await service.declare(DeclareIncident("Fraud ring at ACME", Severity.P2, "credit-risk-v3",
                                          labels=["Private"]), ADDER)
    choices = (await notes.place(msg())).choices
    [select] = [b["element"] for b in pick_incident_modal(choices, msg(), None, "private")["blocks"]
                if b["type"] == "input"]
    assert [o["text"]["text"] for o in select["options"]] == [
        "INC-2 [SEV-2] (private incident)", "INC-1 [SEV-2] Null predictions"]
    assert [o["value"] for o in select["options"]] == [str(i.id) for i in choices]


def test_the_manifest_declares_both_message_shortcuts_with_the_listeners_ids() -> None:
    manifest = yaml.safe_load((REPO_ROOT / "manifest.yml").read_text())
    shortcuts = {s["callback_id"]: s for s in manifest["features"]["shortcuts"]}
    assert set(shortcuts) == {CallbackId.ADD_TO_TIMELINE, CallbackId.DECLARE_FROM_MESSAGE}
    for shortcut in shortcuts.values():
        assert shortcut["type"] == "message" and len(shortcut["name"]) <= 24
        assert 0 < len(shortcut["description"]) <= 150
