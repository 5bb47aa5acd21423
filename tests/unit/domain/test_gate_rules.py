"""The two gates of the use cases, without a database or Slack.

The RACI role gate: who may declare a SEV-1/2 (or raise an incident to one), close, mark runbook
steps done, accept / revert / escalate IaC drift, and which incident change asks for which
decision (``domain/governance/roles.py``). The postmortem close gate: when a postmortem section
counts as written (``domain/governance/postmortem.py``) and what closing needs
(``domain/postmortems.py``). Both are steps ``IncidentService`` calls before it writes
(``domain/services.py`` ``Gates``): the tests at the end drive the service on the fake unit of
work with both gates in place.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.features.governance import RoleGate, enforcing, mode_problem
from bot.slack_ui.postmortem_template import PLACEHOLDER, markdown_draft, postmortem_markdown
from domain.action_items import ActionItem
from domain.api.auth import ALL_SCOPES, Principal
from domain.events import StatusChanged
from domain.governance.postmortem import ActionItemRow, IncidentFacts, is_real_content
from domain.governance.roles import (
    Activity,
    RaciGate,
    Role,
    RoleGrants,
    RoleRefused,
    decide,
    declare_activity,
    severity_change_activity,
    status_change_activity,
)
from domain.model import (
    Actor,
    AuditEvent,
    DomainError,
    Incident,
    MLModel,
    ModelStage,
    Severity,
    Status,
    TriggerSource,
)
from domain.policy import default_policy
from domain.ports import UnitOfWork
from domain.postmortems import Overdue, Postmortems, PostmortemState, close_refusal
from domain.services import DeclareIncident, Gates, IncidentRef, IncidentService
from tests.fakes import FakeClock, FakeDatabase

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

IC, SRE, MLE, DE, GOV = (Role.INCIDENT_COMMANDER, Role.ML_PLATFORM_SRE, Role.ML_ENGINEER,
                         Role.DATA_ENGINEER, Role.PLATFORM_GOVERNANCE)

# GOV-001 section 2, read as: the roles that are Responsible or Accountable for each activity.
RACI = {
    Activity.DECLARE_HIGH_SEVERITY: {IC, SRE},
    Activity.AUTHORISE_ROLLBACK: {IC, SRE},
    Activity.CLOSE_INCIDENT: {IC, SRE},
    Activity.EDIT_RUNBOOK: {GOV},
    Activity.EXECUTE_RUNBOOK: {SRE},
    Activity.BREAK_GLASS_CHANGE: {IC, SRE, GOV},
}


def may(role: Role, activity: Activity) -> bool:
    return decide(activity, frozenset({role})).allowed


# -- who may do what ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", list(Role))
def test_only_the_commander_and_the_sre_may_declare_a_sev1_or_sev2(role: Role) -> None:
    assert may(role, Activity.DECLARE_HIGH_SEVERITY) is (role in {IC, SRE})


@pytest.mark.parametrize("role", list(Role))
def test_only_the_commander_and_the_sre_may_close_an_incident(role: Role) -> None:
    assert may(role, Activity.CLOSE_INCIDENT) is (role in {IC, SRE})


@pytest.mark.parametrize("role", list(Role))
def test_only_the_sre_may_mark_runbook_steps_done_not_even_the_commander(role: Role) -> None:
    assert may(role, Activity.EXECUTE_RUNBOOK) is (role is SRE)


@pytest.mark.parametrize("role", list(Role))
def test_commander_sre_and_governance_may_accept_infrastructure_drift(role: Role) -> None:
    assert may(role, Activity.BREAK_GLASS_CHANGE) is (role in {IC, SRE, GOV})


@pytest.mark.parametrize("role", list(Role))
def test_only_governance_may_edit_a_runbook(role: Role) -> None:
    assert may(role, Activity.EDIT_RUNBOOK) is (role is GOV)


@pytest.mark.parametrize("activity", list(Activity))
def test_every_activity_follows_the_raci_table(activity: Activity) -> None:
    assert {role for role in Role if may(role, activity)} == RACI[activity]


@pytest.mark.parametrize("activity", list(Activity))
def test_someone_without_a_role_may_do_nothing_restricted(activity: Activity) -> None:
    assert not decide(activity, frozenset()).allowed


def test_one_qualifying_role_among_several_is_enough() -> None:
    assert decide(Activity.EXECUTE_RUNBOOK, frozenset({MLE, DE, SRE})).allowed


def test_a_decision_says_which_roles_were_needed_and_which_were_held() -> None:
    decision = decide(Activity.CLOSE_INCIDENT, frozenset({MLE}))
    assert (decision.needed, decision.held) == ((IC, SRE), frozenset({MLE}))


# -- what a refusal says ----------------------------------------------------------------------

def test_a_refused_runbook_step_names_the_sre_and_the_action_in_words() -> None:
    text = decide(Activity.EXECUTE_RUNBOOK, frozenset({IC})).refusal_text()
    assert text == "Only ML Platform SRE may mark runbook steps done; you do not hold that role."


def test_a_refused_drift_decision_names_the_three_roles_and_the_break_glass_change() -> None:
    text = decide(Activity.BREAK_GLASS_CHANGE, frozenset()).refusal_text()
    assert text == ("Only Incident Commander or ML Platform SRE or Platform Governance may accept, "
                    "revert or escalate infrastructure drift (break-glass change); "
                    "you do not hold that role.")


def test_a_refused_close_names_the_roles_that_may_close() -> None:
    text = decide(Activity.CLOSE_INCIDENT, frozenset({MLE})).refusal_text()
    assert text == "Only Incident Commander or ML Platform SRE may close incident; you do not hold that role."


# -- grants -----------------------------------------------------------------------------------

GRANTS = RoleGrants.parse({"incident_commander": ["U0IC", "W0ENTERPRISE"],
                           "ml_platform_sre": ["S0SREGROUP", "U0IC"],
                           "platform_governance": ["S0GOVGROUP"]})


def test_ids_starting_with_s_are_user_groups_and_the_rest_users() -> None:
    assert set(GRANTS.users) == {"U0IC", "W0ENTERPRISE"}
    assert set(GRANTS.groups) == {"S0SREGROUP", "S0GOVGROUP"}


def test_a_user_holds_every_role_granted_to_them() -> None:
    assert GRANTS.roles_of("U0IC") == frozenset({IC, SRE})


def test_a_user_holds_the_roles_of_the_groups_they_belong_to() -> None:
    assert GRANTS.roles_of("U0ANYONE", ["S0SREGROUP", "S0GOVGROUP"]) == frozenset({SRE, GOV})


def test_a_user_granted_nothing_in_no_granted_group_holds_no_role() -> None:
    assert GRANTS.roles_of("U0ANYONE", ["S0OTHERGROUP"]) == frozenset()


def test_an_unknown_role_name_in_the_grants_is_refused() -> None:
    with pytest.raises(ValueError, match="incident_comander"):
        RoleGrants.parse({"incident_comander": ["U0IC"]})


# -- which incident change asks for which decision (domain/governance/roles.py) -------------------

@pytest.mark.parametrize(("severity", "gated"), [("p1", True), ("p2", True), ("p3", False), ("p4", False)])
def test_declaring_a_sev1_or_sev2_asks_for_the_high_severity_decision(severity: str, gated: bool) -> None:
    activity = declare_activity(Severity(severity))
    assert activity is (Activity.DECLARE_HIGH_SEVERITY if gated else None)


@pytest.mark.parametrize(("before", "after", "gated"), [
    (Severity.P3, Severity.P2, True), (Severity.P4, Severity.P1, True), (Severity.P2, Severity.P1, True),
    (Severity.P1, Severity.P2, False), (Severity.P4, Severity.P3, False), (Severity.P2, Severity.P4, False),
])
def test_raising_an_incident_to_sev1_or_sev2_is_the_same_decision_as_declaring_one(
        before: Severity, after: Severity, gated: bool) -> None:
    activity = severity_change_activity(before, after)
    assert activity is (Activity.DECLARE_HIGH_SEVERITY if gated else None)


@pytest.mark.parametrize(("to", "gated"), [("closed", True), ("resolved", False), ("investigating", False)])
def test_only_closing_is_a_gated_status_change(to: str, gated: bool) -> None:
    activity = status_change_activity(Status(to))
    assert activity is (Activity.CLOSE_INCIDENT if gated else None)


# -- when role checks apply -------------------------------------------------------------------

def settings(roles: dict[str, list[str]] | None = None, mode: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(governance_roles=roles or {}, governance_mode=mode)


@pytest.mark.parametrize(("roles", "mode", "on"), [
    ({}, None, False), ({"incident_commander": ["U0IC"]}, None, True),
    ({"incident_commander": ["U0IC"]}, "open", False), ({}, "enforce", True),
])
def test_role_checks_are_on_when_roles_are_granted_unless_the_mode_says_otherwise(
        roles: dict[str, list[str]], mode: str | None, on: bool) -> None:
    assert enforcing(settings(roles, mode)) is on


def test_enforcing_with_no_grants_warns_that_every_restricted_action_will_be_refused() -> None:
    problem = mode_problem(settings({}, "enforce"))
    assert problem is not None and "will be refused" in problem


def test_role_checks_off_is_reported_with_what_to_set() -> None:
    problem = mode_problem(settings())
    assert problem is not None and "GOVERNANCE_ROLES is not set" in problem


def test_enforced_role_checks_with_grants_raise_no_problem() -> None:
    assert mode_problem(settings({"incident_commander": ["U0IC"]}, "enforce")) is None


# -- the gate that runbooks and IaC call (RoleGate.require), on the fake unit of work -------------

class FakeSlackGroups:
    def __init__(self, members: dict[str, list[str]]) -> None:
        self.members = members
        self.asked: list[str] = []

    async def usergroups_users_list(self, usergroup: str) -> dict[str, Any]:
        self.asked.append(usergroup)
        return {"users": self.members.get(usergroup, [])}


def gate_over(db: FakeDatabase, roles: dict[str, list[str]],
              groups: dict[str, list[str]] | None = None) -> RoleGate:
    clock = FakeClock(datetime(2026, 11, 22, 14, 0, tzinfo=UTC))
    return RoleGate(settings=settings(roles, "enforce"), uow_factory=db.uow_factory(clock),
                    clock=clock, slack_client=FakeSlackGroups(groups or {}))


async def test_the_gate_lets_a_granted_user_through_and_audits_nothing() -> None:
    db = FakeDatabase()
    gate = gate_over(db, {"ml_platform_sre": ["U0SRE"]})
    await gate.require("U0SRE", Activity.EXECUTE_RUNBOOK, "incident", "inc-1")
    assert db.audit == []


async def test_the_gate_refuses_and_audits_the_denied_access() -> None:
    db = FakeDatabase()
    gate = gate_over(db, {"incident_commander": ["U0IC"]})
    with pytest.raises(RoleRefused, match="Only ML Platform SRE may mark runbook steps done"):
        await gate.require("U0IC", Activity.EXECUTE_RUNBOOK, "incident", "inc-1")
    [audit] = db.audit
    assert (audit.action, audit.actor, audit.resource_type, audit.resource_id) == (
        "access.denied", "U0IC", "incident", "inc-1")
    assert audit.details == {"activity": "execute_runbook", "roles_needed": ["ml_platform_sre"]}


async def test_the_gate_grants_a_role_through_slack_user_group_membership() -> None:
    db = FakeDatabase()
    gate = gate_over(db, {"platform_governance": ["S0GOV"]}, groups={"S0GOV": ["U0ANN"]})
    await gate.require("U0ANN", Activity.BREAK_GLASS_CHANGE, "drift_event", "ev-1")
    with pytest.raises(RoleRefused):
        await gate.require("U0BOB", Activity.BREAK_GLASS_CHANGE, "drift_event", "ev-1")


async def test_automation_is_not_subject_to_the_role_gate() -> None:
    db = FakeDatabase()
    gate = gate_over(db, {"incident_commander": ["U0IC"]})
    await gate.require("drift-job", Activity.DECLARE_HIGH_SEVERITY, "incident", "inc-1")
    assert db.audit == []


# -- when a postmortem section counts as written ------------------------------------------------

@pytest.mark.parametrize("text", [None, "", "   ", PLACEHOLDER, "to be filled in", "TBD", "tba", "TODO",
                                  "n/a", "N/A", "na", "none", "-", "---", "...", "???", "  tbd  "])
def test_blanks_and_placeholders_are_not_an_analysis(text: str | None) -> None:
    assert not is_real_content(text)


@pytest.mark.parametrize("text", ["A schema change upstream nulled the income feature",
                                  "TBD: the rollout skipped canary", "none of the alerts fired", "x"])
def test_anything_that_says_something_is_an_analysis(text: str) -> None:
    assert is_real_content(text)


FACTS = IncidentFacts(7, "Null predictions", "SEV-1", "credit-risk-v3", None,
                      datetime(2026, 11, 24, 14, 2, tzinfo=UTC), None, None, None)


def test_a_draft_without_factors_or_action_items_shows_placeholders_to_fill() -> None:
    markdown = postmortem_markdown(FACTS, [], contributing_factors="TBD")
    assert f"## Contributing factors\n- {PLACEHOLDER}\n" in markdown
    assert f"| {PLACEHOLDER} | | | | |" in markdown
    assert "| time to resolve | n/a |" in markdown


def test_a_draft_carries_the_recorded_factors_and_action_items_in_order() -> None:
    items = [ActionItemRow(2, "Alert on null ratio | per feature", "U0ANN", date(2026, 12, 1), "p2", "ML-2"),
             ActionItemRow(1, "Pin the schema", "U0BOB", date(2026, 11, 30), "p1", "ML-1", done=True)]
    markdown = postmortem_markdown(FACTS, [], items, contributing_factors="Upstream schema change")
    assert "## Contributing factors\nUpstream schema change\n" in markdown
    assert PLACEHOLDER not in markdown
    assert markdown.index("| 1. ~~Pin the schema~~ (done) | <@U0BOB> | 2026-11-30 | P1 | ML-1 |") < \
        markdown.index("| 2. Alert on null ratio \\| per feature | <@U0ANN> | 2026-12-01 | P2 | ML-2 |")


@pytest.mark.parametrize("text", ["TBD.", "N/A.", "TODO:", f"- {PLACEHOLDER}"])
def test_a_placeholder_with_punctuation_is_still_not_an_analysis(text: str) -> None:
    assert not is_real_content(text)


# == the gates as steps of the use cases (domain/services.py Gates), on the fake unit of work ====

ALICE, BOB, DRIFT_JOB = Actor("U0ALICE", "alice"), Actor("U0BOB", "bob"), Actor("drift-job", "drift job")
INC1 = IncidentRef(number=1)


class Grants:
    """The RoleLookup port, answered from a dict (in production: config plus Slack user groups)."""

    def __init__(self, roles: dict[str, set[Role]]) -> None:
        self.roles = roles
        self.asked: list[str] = []

    async def roles_of(self, user_id: str) -> frozenset[Role]:
        self.asked.append(user_id)
        return frozenset(self.roles.get(user_id, set()))


class FakePostmortems:
    """The PostmortemRepository port in memory (one store for every unit of work of a test)."""

    def __init__(self) -> None:
        self.drafts: dict[uuid.UUID, datetime] = {}
        self.factor_times: dict[uuid.UUID, datetime] = {}
        self.factor_texts: dict[uuid.UUID, str] = {}
        self.items: dict[uuid.UUID, list[ActionItemRow]] = {}
        self.clocks: dict[uuid.UUID, datetime | None] = {}
        self.reminded: set[uuid.UUID] = set()
        self.waived: dict[uuid.UUID, uuid.UUID] = {}

    def __call__(self, uow: UnitOfWork) -> FakePostmortems:
        return self

    async def open_clock(self, incident_id: uuid.UUID, due_at: datetime | None) -> None:
        self.clocks[incident_id] = due_at
        self.waived.pop(incident_id, None)

    async def waive(self, incident_id: uuid.UUID, covered_by: uuid.UUID) -> None:
        self.clocks.pop(incident_id, None)
        self.waived[incident_id] = covered_by

    async def state(self, incident_id: uuid.UUID) -> PostmortemState:
        return PostmortemState(self.drafts.get(incident_id), self.factor_times.get(incident_id),
                               len(self.items.get(incident_id, [])), incident_id in self.waived)

    async def record_draft(self, incident_id: uuid.UUID, required: bool, by: str, at: datetime) -> None:
        self.drafts[incident_id] = at

    async def record_factors(self, incident_id: uuid.UUID, factors: str, by: str, at: datetime) -> None:
        self.factor_times[incident_id], self.factor_texts[incident_id] = at, factors

    async def factors(self, incident_id: uuid.UUID) -> str | None:
        return self.factor_texts.get(incident_id)

    async def overdue(self, now: datetime) -> list[Overdue]:
        return [Overdue(i, due, i in self.drafts) for i, due in self.clocks.items()
                if due is not None and due <= now and i not in self.reminded
                and (i not in self.drafts or i not in self.factor_times)]

    async def mark_reminded(self, incident_id: uuid.UUID, at: datetime) -> None:
        self.reminded.add(incident_id)

    async def add_action_item(self, incident_id: uuid.UUID, item: ActionItem, by: str, at: datetime) -> int:
        rows = self.items.setdefault(incident_id, [])
        rows.append(ActionItemRow(len(rows) + 1, item.text, item.owner, item.due, item.severity.value,
                                  item.ticket))
        return len(rows)

    async def action_items(self, incident_id: uuid.UUID) -> list[ActionItemRow]:
        return list(self.items.get(incident_id, []))

    async def complete_action_item(self, incident_id: uuid.UUID, number: int) -> bool:
        return False


class Texts:
    def required(self, incident: Incident, due_at: datetime | None) -> str:
        return f"postmortem required for {incident.key} by {due_at:%Y-%m-%d %H:%M}"

    def overdue(self, incident: Incident, due_at: datetime, has_draft: bool) -> str:
        return f"postmortem of {incident.key} overdue ({'no factors' if has_draft else 'no draft'})"

    def waived(self, incident: Incident, survivor: Incident) -> str:
        return f"no postmortem for {incident.key}: duplicate of {survivor.key}"


@dataclass
class World:
    db: FakeDatabase
    clock: FakeClock
    service: IncidentService
    grants: Grants
    postmortems: Postmortems
    store: FakePostmortems


def world(roles: dict[str, set[Role]] | None = None, enforce: bool = True) -> World:
    """A service whose gates are the RACI gate over ``roles`` and the postmortem close gate."""
    clock = FakeClock(datetime(2026, 11, 22, 14, 0, tzinfo=UTC))
    db = FakeDatabase()
    model = MLModel(name="credit-risk-v3", version="1", stage=ModelStage.PRODUCTION, team="risk",
                    registered_at=clock.now())
    db.models[model.id] = model
    grants = Grants(roles if roles is not None else {ALICE.id: {IC}})
    service = IncidentService(db.uow_factory(clock), clock, default_policy(),
                              gates=Gates(roles=RaciGate(grants, enforce)))
    store = FakePostmortems()
    postmortems = Postmortems(service, store, Texts(), markdown_draft)
    service.gates.close.append(postmortems)
    service.reactions.on(StatusChanged, postmortems.on_status_changed)
    return World(db, clock, service, grants, postmortems, store)


async def declare(w: World, severity: Severity, actor: Actor = ALICE) -> Incident:
    return await w.service.declare(DeclareIncident("Null predictions", severity, "credit-risk-v3"), actor)


def denied(w: World) -> list[AuditEvent]:
    return [a for a in w.db.audit if a.action == "access.denied"]


async def test_declaring_a_sev1_without_the_role_is_refused_before_anything_is_written() -> None:
    w = world()
    with pytest.raises(RoleRefused, match="Only Incident Commander or ML Platform SRE may declare"):
        await declare(w, Severity.P1, BOB)
    assert (w.db.incidents, w.db.outbox, w.db.timeline) == ({}, [], [])
    [audit] = w.db.audit
    assert (audit.action, audit.actor, audit.resource_type) == ("access.denied", BOB.id, "incident")
    assert audit.details == {"activity": "declare_sev1_sev2",
                             "roles_needed": ["incident_commander", "ml_platform_sre"]}


async def test_the_commander_may_declare_a_sev1_and_anyone_a_sev3() -> None:
    w = world()
    assert (await declare(w, Severity.P1, ALICE)).number == 1
    assert (await declare(w, Severity.P3, BOB)).number == 2
    assert denied(w) == []


async def test_automation_and_an_open_gate_are_not_asked_for_roles() -> None:
    w = world()
    await declare(w, Severity.P1, DRIFT_JOB)
    assert w.grants.asked == []
    w = world(enforce=False)
    await declare(w, Severity.P1, BOB)
    assert w.grants.asked == [] and denied(w) == []


async def test_raising_to_sev1_is_refused_without_the_role_and_lowering_is_free() -> None:
    w = world()
    await declare(w, Severity.P3, BOB)
    with pytest.raises(RoleRefused):
        await w.service.change_severity(INC1, BOB, Severity.P1)
    assert w.db.incident(1).severity is Severity.P3 and len(denied(w)) == 1
    await w.service.change_severity(INC1, ALICE, Severity.P2)
    await w.service.change_severity(INC1, BOB, Severity.P4)
    assert w.db.incident(1).severity is Severity.P4 and len(denied(w)) == 1


async def test_closing_without_the_role_is_refused_and_audited_once_while_resolving_is_free() -> None:
    w = world()
    await declare(w, Severity.P3, BOB)
    await w.service.change_status(INC1, "resolve", BOB)
    with pytest.raises(RoleRefused, match="may close incident"):
        await w.service.change_status(INC1, "close", BOB)
    assert w.db.incident(1).status is Status.RESOLVED
    assert [a.details["activity"] for a in denied(w)] == ["close_incident"]
    assert (await w.service.change_status(INC1, "close", ALICE)).incident.status is Status.CLOSED


async def test_a_refusal_already_audited_by_the_caller_is_not_audited_again() -> None:
    w = world()
    refusal = RoleRefused(decide(Activity.EXECUTE_RUNBOOK, frozenset()), BOB.id, "incident", "i")
    refusal.audited = True

    async def work(uow: UnitOfWork) -> None:
        raise refusal

    with pytest.raises(RoleRefused):
        await w.service.run(work)
    assert denied(w) == []


# -- API callers: their token's or key's roles come with the actor -------------------------------

def api_caller(name: str, roles: set[str], kind: str = "user") -> Actor:
    return Principal(name, kind, frozenset(roles), ALL_SCOPES, "jti").actor


async def test_an_api_caller_without_the_role_is_refused_and_audited_as_a_slack_user_is() -> None:
    w = world()
    eve = api_caller("eve", {"ml_engineer"})
    with pytest.raises(RoleRefused, match="Only Incident Commander or ML Platform SRE may declare"):
        await declare(w, Severity.P1, eve)
    assert (w.db.incidents, w.db.outbox, w.db.timeline) == ({}, [], [])
    [audit] = denied(w)
    assert (audit.actor, audit.resource_type, audit.details["activity"]) == (
        "api:eve", "incident", "declare_sev1_sev2")
    assert w.grants.asked == []  # the token vouches for the roles: nobody is looked up


async def test_an_api_caller_holding_the_role_may_declare_a_sev1_and_close() -> None:
    w = world()
    carol = api_caller("carol", {"incident_commander", "viewer"})
    await declare(w, Severity.P1, carol)
    await declare(w, Severity.P3, carol)
    await w.service.change_status(IncidentRef(number=2), "resolve", carol)
    assert (await w.service.change_status(IncidentRef(number=2), "close", carol)).changed
    assert denied(w) == [] and w.grants.asked == []


async def test_an_api_key_without_roles_may_not_raise_to_sev2_or_close() -> None:
    w = world()
    ci = api_caller("ci", set(), kind="key")
    await declare(w, Severity.P3, ci)
    with pytest.raises(RoleRefused):
        await w.service.change_severity(INC1, ci, Severity.P2)
    await w.service.change_status(INC1, "resolve", ci)
    with pytest.raises(RoleRefused, match="may close incident"):
        await w.service.change_status(INC1, "close", ci)
    assert [(a.actor, a.details["activity"]) for a in denied(w)] == [
        ("key:ci", "declare_sev1_sev2"), ("key:ci", "close_incident")]
    assert w.db.incident(1).severity is Severity.P3 and w.db.incident(1).status is Status.RESOLVED


async def test_an_open_gate_lets_api_callers_through() -> None:
    w = world(enforce=False)
    await declare(w, Severity.P1, api_caller("eve", {"viewer"}))
    assert denied(w) == [] and w.db.incident(1).severity is Severity.P1


# -- the postmortem close gate ----------------------------------------------------------------------

async def resolved_sev1(w: World) -> Incident:
    incident = await declare(w, Severity.P1)
    await w.service.change_status(INC1, "resolve", ALICE)
    return incident


ITEM = ActionItem("Pin the schema", "U0BOB", date(2026, 12, 1), Severity.P2, "ML-1")


async def test_resolving_a_sev1_opens_the_postmortem_clock_and_tells_the_channel() -> None:
    w = world()
    incident = await resolved_sev1(w)
    assert w.store.clocks[incident.id] == w.clock.now() + timedelta(hours=48)
    assert {"text": "postmortem required for INC-1 by 2026-11-24 14:00"} in [m.payload for m in w.db.outbox]


async def test_closing_a_sev1_is_refused_until_factors_draft_and_an_action_item_exist() -> None:
    w = world()
    incident = await resolved_sev1(w)
    with pytest.raises(DomainError) as refused:
        await w.service.change_status(INC1, "close", ALICE)
    assert str(refused.value) == (
        "INC-1 cannot be closed yet: GOV-001 requires the contributing factors (`/incident postmortem "
        "factors ...`) and the postmortem draft (`/incident postmortem`) and at least one action item "
        "(`/incident action add ...`) for SEV-1.")
    assert w.db.incident(1).status is Status.RESOLVED and denied(w) == []
    await w.postmortems.record_factors(INC1, ALICE, "An upstream schema change")
    await w.postmortems.add_action_item(INC1, ALICE, ITEM)
    w.clock.advance(minutes=1)
    await w.postmortems.record_draft(incident, ALICE)
    assert (await w.service.change_status(INC1, "close", ALICE)).incident.status is Status.CLOSED


async def test_a_draft_posted_before_the_factors_does_not_count() -> None:
    w = world()
    incident = await resolved_sev1(w)
    await w.postmortems.record_draft(incident, ALICE)
    w.clock.advance(minutes=1)
    await w.postmortems.record_factors(INC1, ALICE, "An upstream schema change")
    await w.postmortems.add_action_item(INC1, ALICE, ITEM)
    with pytest.raises(DomainError, match="a postmortem draft posted after the contributing factors"):
        await w.service.change_status(INC1, "close", ALICE)


async def test_placeholder_factors_are_refused_before_anything_is_recorded() -> None:
    w = world()
    await resolved_sev1(w)
    with pytest.raises(DomainError, match="Say what made the incident possible"):
        await w.postmortems.record_factors(INC1, ALICE, "TBD")
    assert w.store.factor_texts == {}


async def test_a_sev1_resolved_as_a_duplicate_needs_no_postmortem_of_its_own() -> None:
    w = world()
    survivor = await declare(w, Severity.P1)
    duplicate = await declare(w, Severity.P1)
    async with w.service.uow_factory() as uow:
        await w.service.change_status_in(uow, IncidentRef(number=2), Status.RESOLVED, ALICE,
                                         reason="duplicate of INC-1", duplicate_of=survivor)
        await uow.commit()
    assert duplicate.id not in w.store.clocks and w.store.waived[duplicate.id] == survivor.id
    texts = [m.payload.get("text") for m in w.db.outbox]
    assert "no postmortem for INC-2: duplicate of INC-1" in texts
    assert not [t for t in texts if t and t.startswith("postmortem required for INC-2")]
    closed = await w.service.change_status(IncidentRef(number=2), "close", ALICE)
    assert closed.incident.status is Status.CLOSED
    with pytest.raises(DomainError, match="INC-1 cannot be closed yet"):  # the survivor still needs one
        await w.service.change_status(INC1, "resolve", ALICE)
        await w.service.change_status(INC1, "close", ALICE)


async def test_a_sev3_closes_without_a_postmortem() -> None:
    w = world()
    await declare(w, Severity.P3)
    await w.service.change_status(INC1, "resolve", ALICE)
    assert (await w.service.change_status(INC1, "close", ALICE)).incident.status is Status.CLOSED


async def test_the_role_gate_is_asked_before_the_postmortem_gate() -> None:
    w = world()
    await resolved_sev1(w)
    with pytest.raises(RoleRefused):  # not "cannot be closed yet": who may comes first
        await w.service.change_status(INC1, "close", BOB)


async def test_an_overdue_postmortem_is_reminded_once_and_audited() -> None:
    w = world()
    await resolved_sev1(w)
    w.clock.advance(hours=49)
    assert await w.postmortems.remind_overdue() == 1
    assert await w.postmortems.remind_overdue() == 0
    assert w.db.outbox[-1].payload == {"text": "postmortem of INC-1 overdue (no draft)"}
    assert [a.action for a in w.db.audit][-1] == "incident.postmortem_overdue"


@pytest.mark.parametrize(("draft", "factors", "items", "refused"), [
    (None, None, 0, True), (NOON, NOON, 0, True), (NOON, None, 1, True),
    (NOON - timedelta(minutes=1), NOON, 1, True), (NOON, NOON, 1, False),
    (NOON, NOON - timedelta(1), 2, False),
])
def test_the_close_rule_wants_factors_then_a_later_draft_and_an_action_item(
        draft: datetime | None, factors: datetime | None, items: int, refused: bool) -> None:
    incident = Incident(number=3, title="t", severity=Severity.P2, status=Status.RESOLVED,
                        model_id=uuid.uuid4(), trigger_source=TriggerSource.MANUAL, created_by="U0A",
                        created_at=NOON, updated_at=NOON)
    assert (close_refusal(incident, PostmortemState(draft, factors, items)) is not None) is refused
