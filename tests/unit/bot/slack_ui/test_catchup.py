"""The Slack wording of the catch-up read-in (``bot/slack_ui/catchup.py``), pinned once here;
what goes into a read-in is specified in ``tests/unit/domain/test_catchup.py``."""

from __future__ import annotations

from datetime import date, timedelta

from bot.slack_ui import catchup as ui
from domain.catchup import CatchUp, LastUpdate
from domain.governance.postmortem import ActionItemRow
from domain.model import Severity, Status, TimelineEvent, TimelineEventType
from domain.related import RelatedIncident
from domain.timers import Deadline
from tests.unit.bot.slack_ui.samples import T0, incident

INC = incident(7, severity=Severity.P1, status=Status.INVESTIGATING, assigned_to="U0BOB",
               acknowledged_at=T0 + timedelta(minutes=2))


def read_in(**kwargs: object) -> CatchUp:
    values: dict[str, object] = dict(
        incident=INC, model_name="credit-risk-v3", commander=None, roles=[], clocks=[],
        next_update_due=None, last_update=None, key_notes=[], key_notes_marked=False,
        open_actions=[], related=[])
    values.update(kwargs)
    return CatchUp(**values)  # type: ignore[arg-type]


def note(body: str, minutes: int, author: str) -> TimelineEvent:
    at = T0 + timedelta(minutes=minutes)
    return TimelineEvent(INC.id, TimelineEventType.NOTE, body, author, at, at,
                         author_name=author.lower())


def test_the_read_in_of_an_incident_under_way() -> None:
    c = read_in(
        commander="U0BOB", roles=[("Communications lead", "U0DAVE")],
        clocks=[Deadline("ack", T0 + timedelta(minutes=5), timedelta(minutes=5),
                         T0 + timedelta(minutes=2), "met"),
                Deadline("mitigate", T0 + timedelta(minutes=30), timedelta(minutes=30), None,
                         "pending")],
        next_update_due=T0 + timedelta(minutes=27),
        last_update=LastUpdate("rollback <done>, watching", "U0BOB", T0 + timedelta(minutes=12)),
        key_notes=[note("feature store p99 is 4s", 8, "U0CAROL")],
        open_actions=[ActionItemRow(1, "Alert on null rate", "U0BOB", date(2099, 1, 1), "p2", "OPS-1")],
        related=[RelatedIncident("related", 3, "Latency", Status.OPEN, "C0REL")])
    assert ui.text(c) == (
        ":wave: *Catch-up on INC-7*: Null predictions\n\n"
        "*Status*\n:large_orange_circle: *investigating* · SEV-1 · model `credit-risk-v3` · "
        "declared 14:00:00 UTC\n\n"
        "*People*\nCommander: <@U0BOB>\nCommunications lead: <@U0DAVE>\n\n"
        "*SLO clocks*\nAcknowledge by 14:05:00 UTC: :white_check_mark: met\n"
        "Mitigate by 14:30:00 UTC: :hourglass_flowing_sand: pending\n"
        "Next stakeholder update due 14:27:00 UTC\n\n"
        "*Last stakeholder update*\nrollback &lt;done&gt;, watching\n_<@U0BOB> at 14:12:00 UTC_\n\n"
        "*Latest notes*\n• `14:08` u0carol: feature store p99 is 4s\n\n"
        "*Open action items*\n• #1 Alert on null rate: <@U0BOB>, due 2099-01-01\n\n"
        "*Related incidents*\n• " + ui.related_line(c.related[0]))
    assert len(ui.blocks(c)) == len(ui.sections(c)) + 2


def test_marked_key_notes_are_titled_so() -> None:
    c = read_in(key_notes=[note("root cause: schema change", 1, "U0BOB")], key_notes_marked=True)
    assert "\n\n*Key notes*\n• `14:01` u0bob: root cause: schema change\n\n" in ui.text(c)


def test_a_fresh_incident_reads_plainly() -> None:
    assert ui.text(read_in()) == (
        ":wave: *Catch-up on INC-7*: Null predictions\n\n"
        "*Status*\n:large_orange_circle: *investigating* · SEV-1 · model `credit-risk-v3` · "
        "declared 14:00:00 UTC\n\n"
        "*People*\nCommander: _unassigned_\n\n"
        "*SLO clocks*\n_No targets for this severity._\n\n"
        "*Last stakeholder update*\n_None posted yet._\n\n"
        "*Latest notes*\n_No notes yet._\n\n"
        "*Open action items*\n_None open._")
