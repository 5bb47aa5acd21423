"""Governance domain: role decisions, scrubber table, audit chain, postmortem draft."""
from datetime import UTC, datetime, timedelta

import pytest

from bot.slack_ui.postmortem_template import postmortem_markdown
from domain.governance.audit_chain import GENESIS, row_hash, verify
from domain.governance.postmortem import IncidentFacts, TimelineEntry
from domain.governance.roles import Activity, Role, RoleGrants, decide
from domain.governance.scrubber import scrub

GRANTS = RoleGrants.parse({
    "incident_commander": ["UIC"], "ml_platform_sre": ["SSRE"], "ml_engineer": ["UMLE"],
    "data_engineer": ["UDE"], "platform_governance": ["UGOV"],
})


@pytest.mark.parametrize(("activity", "user", "groups", "allowed"), [
    (Activity.DECLARE_HIGH_SEVERITY, "UIC", (), True),
    (Activity.DECLARE_HIGH_SEVERITY, "UX", ("SSRE",), True),
    (Activity.DECLARE_HIGH_SEVERITY, "UMLE", (), False),
    (Activity.AUTHORISE_ROLLBACK, "UIC", (), True),
    (Activity.AUTHORISE_ROLLBACK, "UDE", (), False),
    (Activity.CLOSE_INCIDENT, "UX", ("SSRE",), True),
    (Activity.CLOSE_INCIDENT, "UGOV", (), False),
    (Activity.EDIT_RUNBOOK, "UGOV", (), True),
    (Activity.EDIT_RUNBOOK, "UIC", (), False),
])
def test_role_decisions(activity, user, groups, allowed):
    decision = decide(activity, GRANTS.roles_of(user, groups))
    assert decision.allowed is allowed
    if not allowed:
        assert "may" in decision.refusal_text()


def test_refusal_names_the_role_needed():
    text = decide(Activity.EDIT_RUNBOOK, frozenset({Role.ML_ENGINEER})).refusal_text()
    assert "Platform Governance" in text


@pytest.mark.parametrize(("raw", "expected"), [
    ("contact jane.doe+ops@example.co.uk now", "contact [email] now"),
    ("```\nowner = bob@corp.io\n```", "```\nowner = [email]\n```"),
    ("ping <mailto:ann@x.com|ann@x.com> please", "ping [email] please"),
    ("host 10.0.0.12 down", "host [ip] down"),
    ("v6 2001:db8::8a2e:370:7334 and ::1 here", "v6 [ip] and [ip] here"),
    ("fe80::1%eth0 link-local", "[ip] link-local"),
    ("call +1 (415) 555-0132 asap", "call [phone] asap"),
    ("card 4111 1111 1111 1111 charged", "card [card] charged"),
    ("token xoxb-123-456-abcDEF leaked", "token [token] leaked"),
    ("Authorization: Bearer abc.def.ghi123", "Authorization: Bearer [token]"),
    ("password=hunter2 in config", "password=[secret] in config"),
    ("version 3.1.0 at 14:02, p99 250ms", "version 3.1.0 at 14:02, p99 250ms"),
    ("ratio 12:34:56 and 1.2.3", "ratio 12:34:56 and 1.2.3"),
    ("due 2026-12-01", "due 2026-12-01"),
    ("id 8c0e9fcb-1234-5678-9012-da3567f74f1a", "id 8c0e9fcb-1234-5678-9012-da3567f74f1a"),
    ("at 2026-11-24T10:28:54+00:00", "at 2026-11-24T10:28:54+00:00"),
    ("", ""),
])
def test_scrubber_table(raw, expected):
    assert scrub(raw) == expected


def _chain(n):
    rows, prev = [], GENESIS
    for i in range(1, n + 1):
        row = {"seq": i, "id": f"id{i}", "occurred_at": datetime(2026, 1, 1, tzinfo=UTC), "actor": "U1",
               "actor_name": "a", "action": "x", "resource_type": "incident", "resource_id": "r",
               "details": {"n": i}, "log_type": "audit", "prev_hash": prev}
        row["row_hash"] = prev = row_hash(row, prev)
        rows.append(row)
    return rows


def test_chain_intact_edited_deleted():
    rows = _chain(5)
    assert verify(rows) is None
    edited = [dict(r) for r in rows]
    edited[2]["details"] = {"n": 99}
    brk = verify(edited)
    assert (brk.seq, brk.kind) == (3, "edited")
    deleted = rows[:1] + rows[2:]
    brk = verify(deleted)
    assert (brk.seq, brk.kind) == (3, "deleted")


def test_postmortem_from_scripted_incident():
    t0 = datetime(2026, 11, 24, 14, 2, tzinfo=UTC)
    inc = IncidentFacts(7, "Null predictions", "P1", "credit-risk-v3", "nulls since 14:02", t0,
                        t0 + timedelta(minutes=4), t0 + timedelta(minutes=30), t0 + timedelta(hours=2))
    md = postmortem_markdown(inc, [TimelineEntry(t0 + timedelta(minutes=4), "acknowledged", "by Ann"),
                                   TimelineEntry(t0, "declared", "P1")])
    for heading in ("## Summary", "## Impact", "## Timeline (UTC)", "## Contributing factors",
                    "## Action items", "## SLO figures"):
        assert heading in md
    assert "| time to acknowledge | 4m 00s |" in md
    assert "| time to mitigate | 30m 00s |" in md
    assert "| time to resolve | 2h 00m 00s |" in md
    assert md.index("2026-11-24 14:02:00 — declared") < md.index("2026-11-24 14:06:00 — acknowledged")


def test_log_events_are_scrubbed():
    from domain.governance.scrubber import scrub_log_event
    out = scrub_log_event(None, "info", {"event": "note from a@b.io", "slack_token": "xoxb-1-2",
                                         "details": {"ip": "10.0.0.1", "n": 3}})
    assert out == {"event": "note from [email]", "slack_token": "[secret]",
                   "details": {"ip": "[ip]", "n": 3}}
