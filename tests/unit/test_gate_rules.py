"""The rules behind the two gates, without a database or Slack.

The RACI role gate: who may declare a SEV-1/2 (or raise an incident to one), close, mark runbook
steps done, accept / revert / escalate IaC drift (``domain/governance/roles.py``), and which
incident changes ask for which decision (``bot/governance_wiring.py``). The postmortem close gate:
when a postmortem section counts as written (``domain/governance/postmortem.py``).

The close gate's own check (draft posted after the contributing factors, at least one action
item) is a closure over SQL in ``bot/postmortem_wiring.py``; it is not reachable here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bot.governance_wiring import RoleGate, RoleRefused, _activity_for, enforcing, mode_problem
from domain.governance.postmortem import (
    PLACEHOLDER,
    ActionItemRow,
    IncidentFacts,
    is_real_content,
    postmortem_markdown,
)
from domain.governance.roles import Activity, Role, RoleGrants, decide
from domain.model import Severity
from tests.fakes import FakeClock, FakeDatabase

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


# -- which incident change asks for which decision (bot/governance_wiring.py) --------------------

@pytest.mark.parametrize(("severity", "gated"), [("p1", True), ("p2", True), ("p3", False), ("p4", False)])
def test_declaring_a_sev1_or_sev2_asks_for_the_high_severity_decision(severity: str, gated: bool) -> None:
    activity = _activity_for("incident.created", {"severity": severity})
    assert activity is (Activity.DECLARE_HIGH_SEVERITY if gated else None)


@pytest.mark.parametrize(("before", "after", "gated"), [
    (Severity.P3, Severity.P2, True), (Severity.P4, Severity.P1, True), (Severity.P2, Severity.P1, True),
    (Severity.P1, Severity.P2, False), (Severity.P4, Severity.P3, False), (Severity.P2, Severity.P4, False),
])
def test_raising_an_incident_to_sev1_or_sev2_is_the_same_decision_as_declaring_one(
        before: Severity, after: Severity, gated: bool) -> None:
    activity = _activity_for("incident.severity_changed", {"from": before.value, "to": after.value})
    assert activity is (Activity.DECLARE_HIGH_SEVERITY if gated else None)


def test_a_severity_change_with_unreadable_details_asks_for_no_decision() -> None:
    assert _activity_for("incident.severity_changed", {"from": None, "to": "p1"}) is None


@pytest.mark.parametrize(("to", "gated"), [("closed", True), ("resolved", False), ("investigating", False)])
def test_only_closing_is_a_gated_status_change(to: str, gated: bool) -> None:
    activity = _activity_for("incident.status_updated", {"from": "resolved", "to": to})
    assert activity is (Activity.CLOSE_INCIDENT if gated else None)


@pytest.mark.parametrize("action", ["incident.note_added", "incident.assigned"])
def test_notes_and_assignments_are_not_gated(action: str) -> None:
    assert _activity_for(action, {"severity": "p1", "to": "closed"}) is None


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
    container = SimpleNamespace(settings=settings(roles, "enforce"), uow_factory=db.uow_factory(clock),
                                clock=clock, slack_client=FakeSlackGroups(groups or {}))
    return RoleGate(container)


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
