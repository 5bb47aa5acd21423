"""Key notes, edits and deletions of captured notes (issue 19, items 3 and 4): the rules of
domain/note_changes.py, its use cases on the fake unit of work, the "Key moments" of the
postmortem draft, and the per-channel order of acked work that the rules rely on."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.ack import AckFirst
from bot.intake import AckedRequest
from bot.slack_ui.postmortem_template import postmortem_markdown
from domain.governance.postmortem import IncidentFacts, TimelineEntry
from domain.model import Actor, MLModel, ModelStage, Severity
from domain.note_changes import (
    DELETED,
    EDITED,
    KEY_MARKED,
    KEY_UNMARKED,
    PIN,
    CapturedNote,
    CapturedNotes,
    KeyMark,
    KeyNote,
    MarkOutcome,
    MarkRequest,
    SeenMessage,
    decide_edit,
    decide_mark,
    normalise_reaction,
    reaction_mark,
    version_key,
)
from domain.policy import default_policy
from domain.ports import SlackLink
from domain.services import DeclareIncident, IncidentRef, IncidentService
from storage.inbox_store import CURRENT_REQUEST
from tests.fakes import FakeClock, FakeDatabase, FakeUnitOfWork

ALICE, BOB, CAROL = Actor("U0DECLARER", "alice"), Actor("U0RESPOND", "bob"), Actor("U0ONCALL", "carol")
CHANNEL, ELSEWHERE, INCIDENTS = "C0INC1", "C0GENERAL", "C0INCIDENTS"
T = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def note(**changes: object) -> CapturedNote:
    base = CapturedNote(uuid.uuid4(), uuid.uuid4(), "slack:C1:1.000001", "rollback started",
                        "U0RESPOND", T)
    return replace(base, **changes)  # type: ignore[arg-type]


# == rules ====================================================================================

def test_slack_stamps_order_exactly_and_unreadable_ones_come_first() -> None:
    assert version_key("1700000000.000100") < version_key("1700000000.0002") < version_key("1700000001")
    assert version_key("") < version_key("0.000001") and version_key("junk") == (-1, 0)


def test_a_mark_is_applied_only_when_newer_than_its_last_change() -> None:
    marked = note(marks={"pin": KeyMark(True, "5.000000", "U1")})
    assert decide_mark(marked, "pin", False, "5.000000", "U1") is None  # the same event again
    assert decide_mark(marked, "pin", False, "4.999999", "U1") is None  # a late, older event
    assert decide_mark(marked, "pin", False, "5.000001", "U1") == KeyMark(False, "5.000001", "U1")
    assert decide_mark(note(), "pin", False, "1.0", "U1") == KeyMark(False, "1.0", "U1")


def test_a_note_is_key_while_any_mark_is_active() -> None:
    assert not note().is_key
    both = note(marks={"reaction:U1": KeyMark(False, "2.0", "U1"), "reaction:U2": KeyMark(True, "1.0", "U2")})
    assert both.is_key
    assert reaction_mark("U1") != reaction_mark("U2") != PIN


def test_an_edit_is_refused_when_deleted_unchanged_empty_or_older() -> None:
    assert decide_edit(note(), "rollback started at 14:10", "2.0") == "rollback started at 14:10"
    assert decide_edit(note(), "rollback started", "2.0") is None
    assert decide_edit(note(), "  ", "2.0") is None
    assert decide_edit(note(deleted_at=T), "new", "2.0") is None
    assert decide_edit(note(edited_version="3.0"), "new", "2.5") is None
    assert decide_edit(note(edited_version="3.0"), "new", "3.000001") == "new"


@pytest.mark.parametrize(("given", "name"), [("pushpin", "pushpin"), (":pushpin:", "pushpin"),
                                             ("+1::skin-tone-2", "+1"), ("PushPin", "pushpin")])
def test_reaction_names_compare_without_colons_or_skin_tones(given: str, name: str) -> None:
    assert normalise_reaction(given) == name


# == the use cases on the fake unit of work ===================================================

class FakeNoteChanges:
    """``storage.note_changes.SqlNoteChanges`` over the fake's timeline: state kept per test."""

    def __init__(self, uow: FakeUnitOfWork, state: dict[uuid.UUID, CapturedNote]) -> None:
        self.uow = uow
        self.state = state

    async def find(self, source_ref: str) -> CapturedNote | None:
        assert self.uow._tx is not None
        event = next((e for e in self.uow._tx.tables.timeline if e.source_ref == source_ref), None)
        if event is None:
            return None
        known = self.state.get(event.id)
        if known is None:
            return CapturedNote(event.id, event.incident_id, source_ref, event.body, event.author,
                                event.occurred_at)
        return replace(known, marks=dict(known.marks))

    def _row(self, note: CapturedNote) -> CapturedNote:
        return self.state.setdefault(note.event_id, replace(note, marks=dict(note.marks)))

    async def save_mark(self, note: CapturedNote, mark: str, state: KeyMark, at: datetime) -> None:
        self._row(note).marks[mark] = state

    async def save_text(self, note: CapturedNote, text: str, version: str, at: datetime) -> None:
        row = self._row(note)
        row.text, row.edited_version = text, version

    async def mark_deleted(self, note: CapturedNote, at: datetime, by: str) -> None:
        self._row(note).deleted_at = at

    async def key_notes(self, incident_id: uuid.UUID) -> list[KeyNote]:
        return [KeyNote(n.event_id, n.incident_id, n.occurred_at, n.text, n.author, None,
                        n.source_ref, T) for n in self.state.values()
                if n.incident_id == incident_id and n.is_key and not n.deleted]

    async def key_note_ids(self, incident_id: uuid.UUID) -> frozenset[uuid.UUID]:
        return frozenset(n.event_id for n in await self.key_notes(incident_id))


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(T)
        self.db = FakeDatabase()
        self.state: dict[uuid.UUID, CapturedNote] = {}
        model = MLModel(name="credit-risk-v3", version="1", stage=ModelStage.PRODUCTION,
                        team="risk", registered_at=T)
        self.db.models[model.id] = model

        def make() -> FakeUnitOfWork:
            uow = FakeUnitOfWork(self.db, self.clock)
            begin = uow._begin

            def begin_with_notes() -> None:
                begin()
                uow.note_changes = FakeNoteChanges(uow, self.state)  # type: ignore[attr-defined]
            uow._begin = begin_with_notes  # type: ignore[method-assign]
            return uow

        self.service = IncidentService(make, self.clock, default_policy())
        self.notes = CapturedNotes(self.service)

    async def declare(self) -> uuid.UUID:
        incident = await self.service.declare(DeclareIncident("Null scores", Severity.P1,
                                                              "credit-risk-v3"), ALICE)
        self.db.slack_links[incident.id] = SlackLink(incident.id, announcement_channel=INCIDENTS,
                                                     announcement_ts="100.000001",
                                                     channel_id=CHANNEL)
        return incident.id

    async def say(self, text: str, ts: str) -> str:
        ref = f"slack:{CHANNEL}:{ts}"
        await self.service.add_note(IncidentRef(channel_id=CHANNEL), BOB, text, source_ref=ref)
        return ref

    def audit(self, *actions: str) -> list[tuple[str, str]]:
        return [(a.action, a.actor) for a in self.db.audit if a.action in actions]


def mark(ref: str, actor: Actor, on: bool, version: str, how: str = "reaction",
         channel: str = CHANNEL, event_id: str | None = None) -> MarkRequest:
    what = reaction_mark(actor.id) if how == "reaction" else PIN
    return MarkRequest(ref, channel, what, on, version, actor, event_id)


async def test_key_while_one_reactor_remains_each_change_audited_with_its_actor() -> None:
    w = World()
    incident = await w.declare()
    ref = await w.say("rollback started", "200.000001")
    assert await w.notes.mark(mark(ref, ALICE, True, "201.0")) is MarkOutcome.CHANGED
    assert await w.notes.mark(mark(ref, ALICE, True, "201.0")) is MarkOutcome.UNCHANGED  # replay
    assert await w.notes.mark(mark(ref, CAROL, True, "202.0")) is MarkOutcome.CHANGED
    assert await w.notes.mark(mark(ref, ALICE, False, "203.0")) is MarkOutcome.CHANGED
    assert [n.text for n in await w.notes.key_notes(incident)] == ["rollback started"]
    assert await w.notes.mark(mark(ref, CAROL, False, "204.0")) is MarkOutcome.CHANGED
    assert await w.notes.key_notes(incident) == []
    assert w.audit(KEY_MARKED, KEY_UNMARKED) == [
        (KEY_MARKED, ALICE.id), (KEY_MARKED, CAROL.id), (KEY_UNMARKED, ALICE.id),
        (KEY_UNMARKED, CAROL.id)]
    last = [a for a in w.db.audit if a.action == KEY_UNMARKED][-1]
    assert last.details["key"] is False and last.details["source_ref"] == ref


async def test_a_removal_delivered_before_its_addition_leaves_the_note_unmarked() -> None:
    w = World()
    incident = await w.declare()
    ref = await w.say("rollback started", "200.000001")
    assert await w.notes.mark(mark(ref, ALICE, False, "205.0", "pin")) is MarkOutcome.UNCHANGED
    assert await w.notes.mark(mark(ref, ALICE, True, "204.0", "pin")) is MarkOutcome.UNCHANGED
    assert await w.notes.key_note_ids(incident) == frozenset()
    assert w.audit(KEY_MARKED, KEY_UNMARKED) == []


async def test_the_same_event_id_is_applied_once() -> None:
    w = World()
    await w.declare()
    ref = await w.say("rollback started", "200.000001")
    assert await w.notes.mark(mark(ref, ALICE, True, "201.0", event_id="Ev1")) is MarkOutcome.CHANGED
    assert await w.notes.edit(ref, "rollback done", "202.0", BOB, "Ev1") is False  # seen
    assert await w.notes.edit(ref, "rollback done", "202.0", BOB, "Ev2") is True


async def test_an_uncaptured_message_is_fetched_only_where_notes_live_and_then_captured() -> None:
    w = World()
    incident = await w.declare()
    seen = SeenMessage("paged data eng", CAROL, T + timedelta(minutes=3))
    early = mark(f"slack:{CHANNEL}:150.000001", ALICE, True, "300.0")
    assert await w.notes.mark(early) is MarkOutcome.NEEDS_MESSAGE
    assert await w.notes.mark(mark(f"slack:{ELSEWHERE}:1.0", ALICE, True, "300.0",
                                   channel=ELSEWHERE)) is MarkOutcome.IGNORED
    assert await w.notes.mark(replace(early, on=False)) is MarkOutcome.IGNORED
    assert await w.notes.mark(early, seen) is MarkOutcome.CHANGED
    [key] = await w.notes.key_notes(incident)
    assert (key.text, key.author) == ("paged data eng", CAROL.id)
    # the announcement's thread holds notes; the incidents channel's other messages do not
    in_thread = mark(f"slack:{INCIDENTS}:160.0", ALICE, True, "301.0", channel=INCIDENTS)
    assert await w.notes.mark(in_thread) is MarkOutcome.NEEDS_MESSAGE
    assert await w.notes.mark(in_thread, replace(seen, text="scores ok",
                                                 thread_root="100.000001")) is MarkOutcome.CHANGED
    chatter = mark(f"slack:{INCIDENTS}:170.0", ALICE, True, "302.0", channel=INCIDENTS)
    assert await w.notes.mark(chatter, replace(seen, text="lunch?")) is MarkOutcome.IGNORED
    assert len(await w.notes.key_notes(incident)) == 2


async def test_an_edit_is_scrubbed_audited_with_old_and_new_and_never_undone_by_an_older_one() -> None:
    w = World()
    await w.declare()
    ref = await w.say("rollback startd", "200.000001")
    assert await w.notes.edit(ref, "rollback started, mail bob@example.com", "210.0", BOB)
    assert not await w.notes.edit(ref, "rollback startd!", "209.0", BOB)  # late, older
    assert not await w.notes.edit("slack:C9:1.0", "never captured", "210.0", BOB)
    [edit] = [a for a in w.db.audit if a.action == EDITED]
    assert (edit.actor, edit.details["old"], edit.details["new"]) == (
        BOB.id, "rollback startd", "rollback started, mail [email]")


async def test_a_deletion_hides_the_note_once_and_freezes_it() -> None:
    w = World()
    incident = await w.declare()
    ref = await w.say("wrong channel", "200.000001")
    await w.notes.mark(mark(ref, ALICE, True, "201.0"))
    assert await w.notes.delete(ref, BOB)
    assert not await w.notes.delete(ref, BOB)
    assert not await w.notes.edit(ref, "edited after", "300.0", BOB)
    assert await w.notes.mark(mark(ref, CAROL, True, "301.0")) is MarkOutcome.IGNORED
    assert await w.notes.key_notes(incident) == []
    [deleted] = [a for a in w.db.audit if a.action == DELETED]
    assert deleted.details["old"] == "wrong channel"


# == the postmortem draft =====================================================================

def test_key_moments_open_the_draft_oldest_first_and_are_absent_without_key_notes() -> None:
    facts = IncidentFacts(1, "Null", "SEV-1", "m", None, T, None, None, None)
    timeline = [TimelineEntry(T + timedelta(minutes=9), "note", "fixed", True),
                TimelineEntry(T + timedelta(minutes=1), "note", "chatter"),
                TimelineEntry(T + timedelta(minutes=5), "note", "cause found", True)]
    draft = postmortem_markdown(facts, timeline)
    moments = draft[draft.index("## Key moments"):draft.index("## Summary")]
    assert moments.index("cause found") < moments.index("fixed") and "chatter" not in moments
    assert "## Key moments" not in postmortem_markdown(facts, timeline[1:2])


# == order of one channel's acked work ========================================================

async def test_a_refused_duplicate_does_not_let_later_work_overtake_earlier_work() -> None:
    ack, order, gate = AckFirst(max_wait=0), [], asyncio.Event()

    async def first() -> None:
        await gate.wait()
        order.append("first")

    async def refused() -> None:
        order.append("refused ran")

    async def third() -> None:
        order.append("third")

    loop = asyncio.get_running_loop()
    admitted, duplicate = AckedRequest(key="a"), AckedRequest(key="a")
    admitted.admitted, duplicate.admitted = loop.create_future(), loop.create_future()
    admitted.admitted.set_result(True)
    duplicate.admitted.set_result(False)
    for request, work in ((admitted, first()), (duplicate, refused()), (None, third())):
        token = CURRENT_REQUEST.set(request)
        ack.spawn(work, key="channel:C1")
        CURRENT_REQUEST.reset(token)
    await asyncio.sleep(0.05)
    gate.set()
    assert await ack.drain(2.0) == 0
    assert order == ["first", "third"]


# == the stand-in: people acting on messages, and conversations.replies' window =================

def test_the_stand_in_changes_the_message_and_says_which_event_slack_sends() -> None:
    from bot.local.slack_standin import SlackError, SlackStandIn

    slack = SlackStandIn()
    channel = slack.channel_id("ml-incidents")
    parent = slack.add_user_message(channel, "U0RESPOND", "parent")
    reply = slack.add_user_message(channel, "U0ONCALL", "reply", thread_ts=parent["ts"])
    added = slack.react_by_hand(channel, reply["ts"], "U0DECLARER", ":pushpin:")
    assert {k: added[k] for k in ("type", "user", "reaction", "item_user", "item")} == {
        "type": "reaction_added", "user": "U0DECLARER", "reaction": "pushpin",
        "item_user": "U0ONCALL", "item": {"type": "message", "channel": channel, "ts": reply["ts"]}}
    with pytest.raises(SlackError, match="already_reacted"):
        slack.react_by_hand(channel, reply["ts"], "U0DECLARER", "pushpin")
    assert slack.react_by_hand(channel, reply["ts"], "U0DECLARER", "pushpin", added=False)["type"] == (
        "reaction_removed")
    assert not (slack.message(channel, reply["ts"]) or {}).get("reactions")

    pinned = slack.pin_by_hand(channel, parent["ts"], "U0DECLARER")
    assert pinned["type"] == "pin_added" and pinned["channel_id"] == channel
    assert pinned["item"]["message"]["text"] == "parent" and slack.pinned(channel) == [parent["ts"]]
    unpinned = slack.pin_by_hand(channel, parent["ts"], "U0DECLARER", added=False)
    assert unpinned["type"] == "pin_removed" and unpinned["has_pins"] is False

    changed = slack.edit_by_hand(channel, reply["ts"], "reply, edited")
    assert changed["subtype"] == "message_changed" and changed["hidden"] is True
    assert (changed["previous_message"]["text"], changed["message"]["text"]) == ("reply", "reply, edited")
    assert changed["message"]["edited"]["user"] == "U0ONCALL"
    assert changed["message"]["thread_ts"] == parent["ts"]
    assert (slack.message(channel, reply["ts"]) or {})["text"] == "reply, edited"

    deleted = slack.delete_by_hand(channel, reply["ts"])
    assert (deleted["subtype"], deleted["deleted_ts"]) == ("message_deleted", reply["ts"])
    assert deleted["previous_message"]["text"] == "reply, edited"
    assert slack.message(channel, reply["ts"]) is None


def test_conversations_replies_keeps_the_parent_and_the_replies_in_the_window() -> None:
    from bot.local.slack_standin import SlackStandIn

    slack = SlackStandIn()
    channel = slack.channel_id("ml-incidents")
    parent = slack.add_user_message(channel, "U0RESPOND", "parent")
    first = slack.add_user_message(channel, "U0ONCALL", "first", thread_ts=parent["ts"])
    slack.add_user_message(channel, "U0ONCALL", "second", thread_ts=parent["ts"])
    window = {"channel": channel, "ts": first["ts"], "oldest": first["ts"], "latest": first["ts"]}
    texts = [m["text"] for m in slack._conversations_replies({**window, "inclusive": "true"})["messages"]]
    assert texts == ["parent", "first"]
    assert [m["text"] for m in slack._conversations_replies(window)["messages"]] == ["parent"]
    everything = slack._conversations_replies({"channel": channel, "ts": parent["ts"]})
    assert [m["text"] for m in everything["messages"]] == ["parent", "first", "second"]
