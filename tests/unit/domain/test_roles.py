"""Incident roles and the update reminder's snooze (issue 19, items 1 and 6), as rules: the role
list from the policy file, `/incident role` parsing, taking and clearing a role (audited, said
through the outbox), whom the reminder pings, and a snooze bounded by the SLA. On the fake unit
of work; each use case is one transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.policy_loader import PolicyFileError, dump_policy, load_policy_text
from bot.slack_ui.mrkdwn import mentioned_user as slack
from domain.model import Actor, DomainError, Incident, Severity, Status
from domain.policy import COMMANDER_ROLE, default_policy
from domain.reminders import (
    EDIT_MESSAGE,
    ReminderMessage,
    ReminderSnoozes,
    SnoozeLimit,
    reminder_recipient,
    snooze_end,
    snooze_limit,
)
from domain.roles import IncidentRoles, RoleRequest, parse_role_request, role_holders
from domain.services import CHANNEL, INVITE, REFRESH, THREAD, DeclareIncident, IncidentRef, IncidentService
from domain.timers import IncidentClocks, TimerKind, plan_timers
from tests.fakes import FakeClock, FakeDatabase

SRE, MLE = Actor("U0SRE", "sre"), Actor("U0MLE", "mle")
INC1 = IncidentRef(number=1)
POLICY = default_policy()


class Texts:
    def taken(self, incident: Incident, label: str, actor: Actor, user_id: str) -> str:
        return f"{user_id} is {label} of {incident.key} (by {actor.id})"

    def cleared(self, incident: Incident, label: str, actor: Actor, previous: str) -> str:
        return f"no {label} on {incident.key} (was {previous})"

    def taken_note(self, label: str, user_id: str) -> str:
        return f"{label}: {user_id}"

    def cleared_note(self, label: str, previous: str) -> str:
        return f"{label}: none (was {previous})"

    def unchanged(self, incident: Incident, label: str, holder: str | None) -> str:
        return f"{holder} is already {label} of {incident.key}"

    def snoozed_message(self, incident: Incident, original: str, actor: Actor, until: object,
                        cut: SnoozeLimit | None) -> dict[str, object]:
        return {"text": f"{original} / snoozed by {actor.id} until {until} cut={cut}"}


class Marks:
    def __init__(self) -> None:
        self.changed_ids: list[object] = []

    def __call__(self, uow: object) -> Marks:
        return self

    async def updated(self, incident_id: object, at: object) -> None: ...
    async def reopened(self, incident_id: object, at: object) -> None: ...

    async def changed(self, incident: Incident) -> None:
        self.changed_ids.append(incident.id)


@pytest.fixture
def service(db: FakeDatabase, clock: FakeClock) -> IncidentService:
    return IncidentService(db.uow_factory(clock), clock, POLICY)


@pytest.fixture
def roles(service: IncidentService) -> IncidentRoles:
    return IncidentRoles(service, Texts())


async def declare(service: IncidentService, severity: Severity = Severity.P1) -> Incident:
    return await service.declare(DeclareIncident("Null predictions", severity, "credit-risk-v3"), SRE)


# -- the role list: from the policy file ------------------------------------------------------------

def test_a_policy_without_roles_gets_commander_comms_and_scribe() -> None:
    assert list(POLICY.roles) == ["commander", "comms", "scribe"]
    assert POLICY.roles["comms"].label == "Communications lead"
    assert load_policy_text(dump_policy(POLICY)) == POLICY  # written out and read back


def test_a_policy_lists_its_own_roles_and_always_keeps_the_commander() -> None:
    text = dump_policy(POLICY).split("roles:")[0] + (
        "roles:\n  liaison:\n    label: Customer liaison\n    description: Talks to the bank\n")
    policy = load_policy_text(text)
    assert list(policy.roles) == [COMMANDER_ROLE, "liaison"]
    assert policy.roles["liaison"].description == "Talks to the bank"


@pytest.mark.parametrize(("roles_yaml", "below", "expected"), [
    ("  Comms:\n    label: X\n", 1, "roles.Comms: 'Comms' is not a role name"),
    ("  none:\n    label: X\n", 1, "roles.none: 'none' cannot name a role"),
    ("  comms:\n    label: X\n    lable: X\n", 3,
     "roles.comms.lable: unknown key 'lable' (did you mean 'label'?)"),
    ("  comms: {}\n", 1, "roles.comms.label: required key is missing"),
])
def test_a_bad_role_is_named_with_its_line(roles_yaml: str, below: int, expected: str) -> None:
    head = dump_policy(POLICY).split("roles:")[0]
    line = head.count("\n") + 1 + below  # `below` lines under `roles:`
    with pytest.raises(PolicyFileError) as raised:
        load_policy_text(head + "roles:\n" + roles_yaml, "policy.yml")
    assert f"policy.yml:{line}: {expected}" in str(raised.value)


# -- `/incident role <role> @user | me | none` -------------------------------------------------------

def test_the_role_command_reads_a_mention_me_or_none() -> None:
    assert parse_role_request("comms <@U0MLE|mle>", SRE.id, POLICY, slack) == RoleRequest("comms", "U0MLE")
    assert parse_role_request("Scribe me", SRE.id, POLICY, slack) == RoleRequest("scribe", SRE.id)
    assert parse_role_request("comms none", SRE.id, POLICY, slack) == RoleRequest("comms", None)


@pytest.mark.parametrize(("text", "expected"), [
    ("", "Say which role and who"),
    ("liaison @bob", "There is no role `liaison` in policy GOV-001. Roles: `commander` "
                     "(Incident Commander), `comms` (Communications lead), `scribe` (Scribe)."),
    ("comms bob", "`bob` is not a Slack user"),
    ("comms", "Say which role and who"),
    ("comms <@U0MLE> <@U0SRE>", "Say which role and who"),
])
def test_bad_role_input_says_what_would_be_right(text: str, expected: str) -> None:
    with pytest.raises(DomainError) as raised:
        parse_role_request(text, SRE.id, POLICY, slack)
    assert expected in str(raised.value)


# -- taking, handing over and clearing a role -------------------------------------------------------

async def test_taking_a_role_is_audited_said_and_invites_the_holder(
        roles: IncidentRoles, service: IncidentService, db: FakeDatabase) -> None:
    incident = await declare(service)
    outbox = len(db.outbox)
    outcome = await roles.set(INC1, SRE, RoleRequest("comms", MLE.id))
    assert outcome.changed and outcome.message == "U0MLE is Communications lead of INC-1 (by U0SRE)"
    assert [m.kind for m in db.outbox[outbox:]] == [INVITE, REFRESH, THREAD, CHANNEL]
    [audit] = [a for a in db.audit if a.action == "incident.role_assigned"]
    assert (audit.actor, audit.details["role"], audit.details["from"], audit.details["to"]) == (
        SRE.id, "comms", None, MLE.id)
    async with db.uow_factory()() as uow:
        held = role_holders(db.incident(1), await uow.roles.for_incident(incident.id))
    assert held == {"comms": MLE.id}

    again = await roles.set(INC1, MLE, RoleRequest("comms", MLE.id))
    assert not again.changed and "already Communications lead" in again.message

    cleared = await roles.set(INC1, MLE, RoleRequest("comms", None))
    assert cleared.message == "no Communications lead on INC-1 (was U0MLE)"
    assert [a.action for a in db.audit][-1] == "incident.role_cleared"
    assert (await roles.holders([db.incident(1)]))[incident.id] == {}


async def test_the_commander_role_is_the_incidents_commander_through_assign(
        roles: IncidentRoles, service: IncidentService, db: FakeDatabase) -> None:
    incident = await declare(service)
    await roles.set(INC1, SRE, RoleRequest(COMMANDER_ROLE, MLE.id))
    assert db.incident(1).assigned_to == MLE.id
    assert [a.action for a in db.audit][-1] == "incident.assigned"  # the one path of assign
    assert (await roles.holders([db.incident(1)]))[incident.id] == {COMMANDER_ROLE: MLE.id}
    with pytest.raises(DomainError, match="keeps its Incident Commander"):
        await roles.set(INC1, SRE, RoleRequest(COMMANDER_ROLE, None))


async def test_unknown_roles_and_closed_incidents_are_refused_and_change_nothing(
        roles: IncidentRoles, service: IncidentService, db: FakeDatabase) -> None:
    await declare(service)
    with pytest.raises(DomainError, match="no role `liaison`"):
        await roles.set(INC1, SRE, RoleRequest("liaison", SRE.id))
    for target in ("resolve", "close"):
        await service.change_status(INC1, target, SRE)
    audits = len(db.audit)
    with pytest.raises(DomainError, match="closed"):
        await roles.set(INC1, SRE, RoleRequest("scribe", SRE.id))
    assert len(db.audit) == audits


# -- whom the update reminder pings --------------------------------------------------------------------

async def test_the_reminder_pings_the_comms_lead_else_the_commander_else_the_escalation_target(
        service: IncidentService) -> None:
    incident = await declare(service)
    nobody = reminder_recipient(incident, None, POLICY)
    assert nobody.targets == ("@ml-platform-lead", "@vp-engineering")
    assert nobody.why == ("SEV-1 escalation target; no Communications lead or Incident Commander "
                          "assigned")
    incident.assigned_to = SRE.id
    assert reminder_recipient(incident, None, POLICY).targets == (SRE.id,)
    assert "Incident Commander; no Communications lead" in reminder_recipient(incident, None, POLICY).why
    comms = reminder_recipient(incident, MLE.id, POLICY)
    assert (comms.targets, comms.why) == ((MLE.id,), "Communications lead")
    incident.assigned_to, incident.severity = None, Severity.P4  # no escalation step
    assert reminder_recipient(incident, None, POLICY).targets == ()


# -- snoozing the update reminder ----------------------------------------------------------------------

def test_a_snooze_ends_at_the_next_sla_deadline_at_the_latest(clock: FakeClock) -> None:
    t0 = clock.now()
    clocks = IncidentClocks(Severity.P1, Status.INVESTIGATING, t0, acknowledged_at=t0)
    limit = snooze_limit(clocks, POLICY, t0 + timedelta(minutes=10))
    assert limit == SnoozeLimit("mitigate", t0 + timedelta(minutes=30))
    assert snooze_end(t0 + timedelta(minutes=10), timedelta(minutes=15), limit) == (
        t0 + timedelta(minutes=25), False)
    assert snooze_end(t0 + timedelta(minutes=20), timedelta(hours=1), limit) == (
        t0 + timedelta(minutes=30), True)  # cut to the SLA
    with pytest.raises(DomainError, match="15m, 30m or 1h"):
        snooze_end(t0, timedelta(days=1), limit)
    mitigated = IncidentClocks(Severity.P1, Status.MITIGATED, t0, t0, t0 + timedelta(minutes=1))
    assert snooze_limit(mitigated, POLICY, t0 + timedelta(hours=1)) == SnoozeLimit(
        "resolve", t0 + timedelta(hours=4))
    with pytest.raises(DomainError, match="resolve SLA passed at 18:00:00 UTC"):
        snooze_limit(mitigated, POLICY, t0 + timedelta(hours=4, seconds=1))


def test_the_planner_holds_the_next_reminder_until_the_snooze_ends(clock: FakeClock) -> None:
    t0 = clock.now()
    snoozed = IncidentClocks(Severity.P1, Status.INVESTIGATING, t0, acknowledged_at=t0,
                             update_snoozed_until=t0 + timedelta(minutes=50))
    fired: set[str] = set()
    quiet = plan_timers(snoozed, POLICY, fired, t0 + timedelta(minutes=45))
    assert TimerKind.UPDATE_DUE not in [a.kind for a in quiet.actions]
    due = plan_timers(snoozed, POLICY, fired, t0 + timedelta(minutes=50))
    [reminder] = [a for a in due.actions if a.kind is TimerKind.UPDATE_DUE]
    assert reminder.due_at == t0 + timedelta(minutes=50)
    later = plan_timers(snoozed, POLICY, {reminder.key}, t0 + timedelta(minutes=65))
    assert [a.due_at for a in later.actions if a.kind is TimerKind.UPDATE_DUE] == [
        t0 + timedelta(minutes=65)]  # the cadence counts on from the snooze's end
    unsnoozed = IncidentClocks(Severity.P1, Status.INVESTIGATING, t0, acknowledged_at=t0)
    assert TimerKind.UPDATE_DUE in [a.kind for a in plan_timers(
        unsnoozed, POLICY, fired, t0 + timedelta(minutes=45)).actions]


async def test_a_snooze_is_stored_audited_replanned_and_edits_the_reminder(
        service: IncidentService, db: FakeDatabase, clock: FakeClock) -> None:
    incident = await declare(service)
    marks = Marks()
    snoozes = ReminderSnoozes(service, marks, Texts())
    clock.advance(minutes=15)
    outcome = await snoozes.snooze(INC1, MLE, timedelta(hours=1),
                                   ReminderMessage("C1", "1.5", ":memo: update due"))
    t0 = incident.created_at
    assert outcome.until == t0 + timedelta(minutes=30) and outcome.cut == SnoozeLimit(
        "mitigate", t0 + timedelta(minutes=30))  # not acknowledged: the next SLA is mitigate's
    assert db.tables.snoozes[incident.id].until == outcome.until
    assert marks.changed_ids == [incident.id]
    [audit] = [a for a in db.audit if a.action == "incident.update_snoozed"]
    assert (audit.actor, audit.details["cut_to"], audit.details["requested_seconds"]) == (
        MLE.id, "mitigate", 3600.0)
    [edit] = [m for m in db.outbox if m.kind == EDIT_MESSAGE]
    assert (edit.payload["channel"], edit.payload["ts"]) == ("C1", "1.5")
    assert "snoozed by U0MLE" in str(edit.payload["text"])


async def test_no_snooze_past_the_sla_or_without_a_cadence(service: IncidentService, db: FakeDatabase,
                                                           clock: FakeClock) -> None:
    await declare(service)
    await declare(service, Severity.P3)
    snoozes = ReminderSnoozes(service, Marks(), Texts())
    clock.advance(hours=5)  # past the SEV-1's every SLO deadline
    with pytest.raises(DomainError, match="never goes past the SLA"):
        await snoozes.snooze(INC1, MLE, timedelta(minutes=15))
    with pytest.raises(DomainError, match="SEV-3 has no update cadence"):
        await snoozes.snooze(IncidentRef(number=2), MLE, timedelta(minutes=15))
    assert not db.tables.snoozes and not [a for a in db.audit if a.action == "incident.update_snoozed"]

