"""Incident roles in Slack (issue 19): the *Take a role* menu, the roles line, the replies."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from bot.slack_ui.ids import ActionId
from bot.slack_ui.mrkdwn import mention
from domain.model import Actor, Incident, Status
from domain.policy import Policy

ROLE_HELP = ("`/incident role <role> @user | me | none`: give, take or clear an incident role "
             "(commander, comms, scribe, ... as the policy lists them)")
MENU_PROMPT = "*Roles* · take one from the menu, or `/incident role <role> @user`"
NOT_A_ROLE_MENU = ":warning: This menu lost its incident or role; use `/incident role <role> me`."


def take_role_block(incident: Incident, policy: Policy) -> dict[str, Any] | None:
    """A section with the *Take a role* menu (``static_select``); None once closed."""
    if incident.status is Status.CLOSED or not policy.roles:
        return None
    options = [{"text": {"type": "plain_text", "text": spec.label[:75], "emoji": True},
                "value": name,
                **({"description": {"type": "plain_text", "text": spec.description[:75]}}
                   if spec.description else {})}
               for name, spec in policy.roles.items()]
    return {"type": "section", "block_id": f"roles:{incident.id}",
            "text": {"type": "mrkdwn", "text": MENU_PROMPT},
            "accessory": {"type": "static_select", "action_id": ActionId.TAKE_ROLE,
                          "placeholder": {"type": "plain_text", "text": "Take a role"},
                          "options": options[:100]}}


def roles_line(holders: Mapping[str, str], policy: Policy, *, open_roles: bool = True,
               skip: Collection[str] = ()) -> str:
    """``*Roles* · Incident Commander <@U1> · Communications lead _open_ · ...``."""
    parts = []
    for name, spec in policy.roles.items():
        if name in skip:
            continue
        if name in holders:
            parts.append(f"{spec.label} <@{holders[name]}>")
        elif open_roles:
            parts.append(f"{spec.label} _open_")
    return "*Roles* · " + " · ".join(parts) if parts else ""


def role_holder_of(holders: Mapping[str, str], user_id: str, policy: Policy) -> list[str]:
    """The labels of the roles ``user_id`` holds (for the Home tab's "Your roles")."""
    return [spec.label for name, spec in policy.roles.items() if holders.get(name) == user_id]


def roles_reply(incident: Incident, holders: Mapping[str, str], policy: Policy) -> str:
    """``/incident roles``: who holds what, each role's one line, and how to take one."""
    lines = [f"*Roles of {incident.key}*"]
    for name, spec in policy.roles.items():
        who = f"<@{holders[name]}>" if name in holders else "_open_"
        about = f": {spec.description}" if spec.description else ""
        lines.append(f"• *{spec.label}* (`{name}`) {who}{about}")
    lines.append("Take one with `/incident role <role> me` or the announcement's *Take a role* menu; "
                 "`/incident role <role> @user` hands it over, `none` clears it.")
    return "\n".join(lines)


class RoleTexts:
    """What the thread and the channel are told (``domain.roles.RoleTexts``)."""

    def taken(self, incident: Incident, label: str, actor: Actor, user_id: str) -> str:
        if actor.id == user_id:
            return f":raising_hand: <@{user_id}> is now *{label}* of {incident.key}."
        return (f":busts_in_silhouette: <@{user_id}> is now *{label}* of {incident.key} "
                f"(set by {mention(actor)}).")

    def cleared(self, incident: Incident, label: str, actor: Actor, previous: str) -> str:
        return (f":busts_in_silhouette: {incident.key} has no *{label}* any more "
                f"(was <@{previous}>; cleared by {mention(actor)}).")

    def taken_note(self, label: str, user_id: str) -> str:
        return f"{label} set to <@{user_id}>"

    def cleared_note(self, label: str, previous: str) -> str:
        return f"{label} role cleared (was <@{previous}>)"

    def unchanged(self, incident: Incident, label: str, holder: str | None) -> str:
        return (f"<@{holder}> is already {label} of {incident.key}." if holder
                else f"Nobody is {label} of {incident.key}.")
