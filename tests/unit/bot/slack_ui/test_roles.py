"""The Slack wording of incident roles (``bot/slack_ui/roles.py``), pinned once here; the
end-to-end tests build these texts with the renderer."""

from __future__ import annotations

from bot.slack_ui.roles import RoleTexts, roles_line, roles_reply
from domain.model import Actor
from domain.policy import default_policy
from tests.unit.bot.slack_ui.samples import BOB, incident

POLICY = default_policy()


def test_taken_by_oneself_or_set_by_someone() -> None:
    texts = RoleTexts()
    assert texts.taken(incident(1), "Scribe", Actor("U0ONCALL", "carol"), "U0ONCALL") == (
        ":raising_hand: <@U0ONCALL> is now *Scribe* of INC-1.")
    assert texts.taken(incident(1), "Communications lead", BOB, "U0CAROL") == (
        ":busts_in_silhouette: <@U0CAROL> is now *Communications lead* of INC-1 (set by <@U0BOB>).")


def test_cleared_and_unchanged() -> None:
    texts = RoleTexts()
    assert texts.cleared(incident(1), "Scribe", BOB, "U0CAROL") == (
        ":busts_in_silhouette: INC-1 has no *Scribe* any more (was <@U0CAROL>; cleared by <@U0BOB>).")
    assert texts.cleared_note("Scribe", "U0CAROL") == "Scribe role cleared (was <@U0CAROL>)"
    assert texts.taken_note("Scribe", "U0CAROL") == "Scribe set to <@U0CAROL>"
    assert texts.unchanged(incident(1), "Scribe", "U0CAROL") == "<@U0CAROL> is already Scribe of INC-1."
    assert texts.unchanged(incident(1), "Scribe", None) == "Nobody is Scribe of INC-1."


def test_roles_line() -> None:
    holders = {"commander": "U0ALICE", "comms": "U0BOB"}
    assert roles_line(holders, POLICY) == (
        "*Roles* · Incident Commander <@U0ALICE> · Communications lead <@U0BOB> · Scribe _open_")
    assert roles_line(holders, POLICY, open_roles=False, skip=("commander",)) == (
        "*Roles* · Communications lead <@U0BOB>")
    assert roles_line({}, POLICY, open_roles=False) == ""


def test_roles_reply_lists_each_role_with_its_description() -> None:
    assert roles_reply(incident(1), {"commander": "U0ALICE", "scribe": "U0CAROL"}, POLICY) == (
        "*Roles of INC-1*\n"
        "• *Incident Commander* (`commander`) <@U0ALICE>: Leads the response and owns its decisions\n"
        "• *Communications lead* (`comms`) _open_: Posts the stakeholder updates on the update "
        "cadence\n"
        "• *Scribe* (`scribe`) <@U0CAROL>: Keeps the timeline, notes, decisions and their times\n"
        "Take one with `/incident role <role> me` or the announcement's *Take a role* menu; "
        "`/incident role <role> @user` hands it over, `none` clears it.")
