"""Every free-text field from outside passes one boundary in the use cases (issue 14).

On SQLite and PostgreSQL: NULs and controls stripped (PostgreSQL refused ``\\x00`` and lost the
text), lengths bounded, PII scrubbed in the incident, the timeline, the audit trail and the
outbox (what is posted to Slack).
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa

from bot.slack_ui.mrkdwn import mentioned_user
from domain.action_items import parse_action
from domain.model import Severity, Status
from domain.services import DeclareIncident, IncidentRef
from domain.text_boundary import CAPS, clean, clean_optional
from scheduler.wiring import post_update
from storage import tables as t
from tests.conftest import ALICE, BOB

PII = "told jane.doe@example.com at +1 415 555 0100; password=hunter2"
RAW = ("jane.doe@example.com", "415 555 0100", "hunter2", "\x00")


def _no_raw(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text[:300])


async def _everything_stored(service: Any, engine: Any) -> str:
    """Incidents, timeline, audit and outbox rows as one text, to look for raw PII in."""
    parts = []
    async with engine.connect() as conn:
        for table in (t.incidents, t.incident_timeline, t.audit_events, t.outbox):
            for row in (await conn.execute(sa.select(table))).mappings():
                parts.append(json.dumps({k: str(v) for k, v in row.items()}))
    return "\n".join(parts)


def test_clean_strips_controls_bounds_and_scrubs() -> None:
    assert clean("a\x00b\x07c\r\nd\te\u202ef") == "abc\nd\tef"
    assert clean("mail a@b.io") == "mail [email]"
    long = clean("x" * 100_000, "note")
    assert len(long) == CAPS["note"] and long.endswith("…")
    assert clean("9" * 1_000_000, "note").startswith("9" * 100)
    assert clean_optional("  \x00 ", "reason") is None and clean_optional(None) is None


async def test_declare_reason_note_update_and_labels_pass_the_boundary(service, engine) -> None:  # type: ignore[no-untyped-def]
    incident = await service.declare(DeclareIncident(
        title="Nulls \x00for jane.doe@example.com\x1b[31m", severity=Severity.P2,
        model_name="credit-risk-v3", description=f"desc {PII}",
        labels=["owner-jane.doe@example.com", "ok\x00"]), ALICE)
    assert incident.title == "Nulls for [email][31m"
    assert incident.description == "desc told [email] at [phone]; password=[secret]"
    assert "ok" in incident.labels
    ref = IncidentRef(number=incident.number)
    await service.change_status(ref, Status.INVESTIGATING, BOB, reason=f"ack {PII}")
    await service.add_note(ref, BOB, f"note {PII} \x00", echo=True)
    await post_update(service, ref, BOB, f"impact: customer {PII}")
    await service.change_status(ref, Status.RESOLVED, BOB, reason=f"rolled back; {PII}")
    stored = await _everything_stored(service, engine)
    _no_raw(stored)
    assert stored.count("[email]") >= 6 and "password=[secret]" in stored
    view = await service.view(ref, with_timeline=True)
    bodies = [e.body for e in view.timeline]
    assert "investigating → resolved: rolled back; told [email] at [phone]; password=[secret]" in bodies
    assert "Stakeholder update: impact: customer told [email] at [phone]; password=[secret]" in bodies
    async with service.uow_factory() as uow:
        audit = await uow.audit.list(str(incident.id))
    reasons = [a.details.get("reason") for a in audit if a.action == "incident.status_updated"]
    assert reasons == [f"ack {clean(PII)}", f"rolled back; {clean(PII)}"]


async def test_a_megabyte_note_is_bounded_and_stored_on_both_databases(service) -> None:  # type: ignore[no-untyped-def]
    await service.declare(DeclareIncident("x", Severity.P3, "credit-risk-v3"), ALICE)
    await service.add_note(IncidentRef(number=1), BOB, "\x00" + "9" * 1_000_000)
    view = await service.view(IncidentRef(number=1), with_timeline=True)
    note = view.timeline[-1].body
    assert len(note) == CAPS["note"] and note.startswith("9999")


def test_action_items_pass_the_boundary() -> None:
    item = parse_action('"Call jane@x.io about \x00 the rollback" owner:<@U0DANA> due:2026-12-01 '
                        "severity:p2 ticket:JIRA-123", date(2026, 11, 30), mentioned_user)
    assert item.text == "Call [email] about  the rollback"
