"""The catch-up read-in (issue 19, item 5): built from plain data by a pure function and queued
once per join event. Its Slack words are pinned in ``tests/unit/bot/slack_ui/test_catchup.py``."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from domain.catchup import CATCHUP_KIND, UPDATE_PREFIX, CatchUpFacts, CatchUps, build_catchup, last_update
from domain.governance.postmortem import ActionItemRow
from domain.model import (
    Incident,
    MLModel,
    ModelStage,
    Severity,
    Status,
    TimelineEvent,
    TimelineEventType,
    TriggerSource,
)
from domain.policy import default_policy
from domain.ports import SlackLink
from domain.related import RelatedIncident
from domain.services import IncidentRef, IncidentService
from domain.timers import IncidentClocks
from tests.fakes import FakeClock, FakeDatabase

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def incident(**kwargs: object) -> Incident:
    values: dict[str, object] = dict(
        number=7, title="Null predictions", severity=Severity.P1, status=Status.INVESTIGATING,
        model_id=uuid.uuid4(), trigger_source=TriggerSource.MANUAL, created_by="U0ALICE",
        created_at=T0, updated_at=T0, acknowledged_at=T0 + timedelta(minutes=2),
        assigned_to="U0BOB")
    values.update(kwargs)
    return Incident(**values)  # type: ignore[arg-type]


def note(inc: Incident, body: str, minutes: int, author: str = "U0BOB",
         kind: TimelineEventType = TimelineEventType.NOTE) -> TimelineEvent:
    at = T0 + timedelta(minutes=minutes)
    return TimelineEvent(inc.id, kind, body, author, at, at, author_name=author.lower())


def facts(inc: Incident, timeline: list[TimelineEvent], **kwargs: object) -> CatchUpFacts:
    return CatchUpFacts(incident=inc, model_name="credit-risk-v3", timeline=timeline,
                        policy=default_policy(), now=T0 + timedelta(minutes=20),
                        **kwargs)  # type: ignore[arg-type]


def test_the_read_in_holds_status_people_clocks_update_notes_actions_related() -> None:
    inc = incident()
    timeline = [note(inc, "Declared SEV-1", 0, "U0ALICE", TimelineEventType.STATUS_CHANGE),
                note(inc, "null rate began with the deploy", 3),
                note(inc, UPDATE_PREFIX + "rolling back", 5),
                note(inc, UPDATE_PREFIX + "rollback done, watching", 12),
                note(inc, "SLO breach recorded", 6, "incident-bot-scheduler"),
                note(inc, "feature store p99 is 4s", 8, "U0CAROL")]
    items = [ActionItemRow(1, "Alert on null rate", "U0BOB", date(2099, 1, 1), "p2", "OPS-1"),
             ActionItemRow(2, "Done already", "U0BOB", date(2099, 1, 1), "p2", "OPS-2", done=True)]
    related = [RelatedIncident("related", 3, "Latency", Status.OPEN, "C0REL")]
    c = build_catchup(facts(inc, timeline, roles=[("Communications lead", "U0DAVE")],
                            action_items=items, related=related))
    assert c.commander == "U0BOB" and c.roles == [("Communications lead", "U0DAVE")]
    assert [d.kind for d in c.clocks] == ["ack", "mitigate", "resolve"]
    assert c.clocks[0].state == "met" and c.clocks[1].state == "pending"
    assert c.last_update is not None and c.last_update.text == "rollback done, watching"
    assert c.next_update_due == T0 + timedelta(minutes=12 + 15)  # SEV-1 cadence: 15 min
    # the latest human notes: no updates, no bot records
    assert [n.body for n in c.key_notes] == ["null rate began with the deploy",
                                             "feature store p99 is 4s"]
    assert not c.key_notes_marked
    assert [a.number for a in c.open_actions] == [1]  # "Done already" is left out
    assert c.clocks[0].due_at == T0 + timedelta(minutes=5) and c.related == related
    assert (c.incident, c.model_name) == (inc, "credit-risk-v3")


def test_marked_key_notes_come_before_the_latest_and_are_titled_so() -> None:
    inc = incident()
    old, new = note(inc, "root cause: schema change", 1), note(inc, "chatter", 9)
    c = build_catchup(facts(inc, [old, new], key_note_ids=frozenset({old.id})))
    assert [n.body for n in c.key_notes] == ["root cause: schema change"]
    assert c.key_notes_marked


def test_a_fresh_incident_reads_plainly() -> None:
    inc = incident(status=Status.OPEN, acknowledged_at=None, assigned_to=None)
    c = build_catchup(facts(inc, []))
    assert c.last_update is None and c.key_notes == [] and c.related == []
    assert c.commander is None and c.roles == [] and c.open_actions == []
    resolved = build_catchup(facts(incident(status=Status.RESOLVED, resolved_at=T0), []))
    assert resolved.next_update_due is None


def test_stored_clocks_count_from_the_reopen_and_honour_a_snooze() -> None:
    """With the SLO tick's clock view, the read-in shows what the reminders will do: deadlines
    from the last reopen, the next update at the end of a snooze (issue 19 item 6)."""
    inc = incident()
    reopened = T0 + timedelta(minutes=10)
    clocks = IncidentClocks.of(inc, last_update_at=None, episode_started_at=reopened,
                               update_snoozed_until=T0 + timedelta(minutes=55))
    c = build_catchup(facts(inc, [], clocks=clocks))
    assert c.next_update_due == T0 + timedelta(minutes=55)
    assert c.clocks[1].due_at == reopened + timedelta(minutes=30)  # SEV-1 mitigate: 30 min
    plain = build_catchup(facts(inc, []))
    assert plain.next_update_due == T0 + timedelta(minutes=30)  # 15 min cadence from 09:00
    assert plain.clocks[1].due_at == T0 + timedelta(minutes=30)


def test_last_update_is_the_newest_by_time() -> None:
    inc = incident()
    events = [note(inc, UPDATE_PREFIX + "b", 9), note(inc, UPDATE_PREFIX + "a", 4)]
    found = last_update(events)
    assert found is not None and found.text == "b"
    assert last_update([note(inc, "plain", 1)]) is None


async def test_a_join_is_queued_once_per_event_and_only_in_an_incident_channel() -> None:
    clock, db = FakeClock(), FakeDatabase()
    model = MLModel(name="m", version="1", stage=ModelStage.PRODUCTION, team="t",
                    registered_at=clock.now())
    db.models[model.id] = model
    inc = incident(model_id=model.id)
    db.incidents[inc.id] = inc
    db.slack_links[inc.id] = SlackLink(incident_id=inc.id, channel_id="C0INC")
    catchups = CatchUps(IncidentService(db.uow_factory(clock), clock, default_policy()))
    assert await catchups.joined("C0INC", "U0DAVE", "Ev1") is True
    assert await catchups.joined("C0INC", "U0DAVE", "Ev1") is False  # Slack's redelivery
    assert await catchups.joined("C0OTHER", "U0DAVE", "Ev2") is False
    assert await catchups.joined("C0INC", "U0ALICE", "Ev3", added_by_bot=True) is False
    assert await catchups.joined("C0INC", "U0ALICE", "Ev4") is True  # came back by themselves
    queued = [m for m in db.outbox if m.kind == CATCHUP_KIND]
    assert [m.payload["user"] for m in queued] == ["U0DAVE", "U0ALICE"]
    assert queued[0].incident_id == inc.id
    assert queued[0].payload == {"channel": "C0INC", "user": "U0DAVE"}
    read_in = await catchups.read_in(IncidentRef(channel_id="C0INC"))
    assert read_in.incident.number == 7 and read_in.model_name == "m"
