"""Slack words of related and duplicate incidents (issue 19, item 9): the channel posts, the
replies to ``/incident link`` / ``duplicate-of``, and the related lines of the status and the
announcement. Other incidents are named by key and status, never by title: one of them may be
private, and these words are read by people outside it."""

from __future__ import annotations

from bot.slack_ui.mrkdwn import STATUS_EMOJI, who
from domain.model import Actor, Incident
from domain.related import DuplicateOutcome, RelatedIncident

LINK_HELP = ("`/incident link 42`: relate this incident to INC-42 (both timelines say so)\n"
             "`/incident duplicate-of 42`: resolve this incident as a duplicate of INC-42; its "
             "responders are invited to INC-42's channel")
LINK_USAGE = ("Give the incident to link to: `/incident link 42` in an incident channel, or "
              "`/incident link 7 42` anywhere.")
DUPLICATE_USAGE = ("Give the incident this one duplicates: `/incident duplicate-of 42` in an "
                   "incident channel, or `/incident duplicate-of 7 42` anywhere.")
KIND_WORDS = {"related": "related to", "duplicate_of": "duplicate of",
              "duplicated_by": "duplicated by"}


def _ref(incident: Incident) -> str:
    """An incident as other incidents' channels and announcements name it: by key and status,
    never by title (it may be a private incident: issue 19 item 8)."""
    return f"*{incident.key}* ({incident.status.value})"


class RelatedTexts:
    """The channel posts (``domain.related.RelatedTexts``)."""

    def linked(self, incident: Incident, other: Incident, actor: Actor) -> str:
        return f":link: {incident.key} linked to {_ref(other)} by {who(actor)}."

    def duplicate(self, duplicate: Incident, survivor: Incident, actor: Actor,
                  via: Incident | None) -> str:
        chain = f" (through {via.key}, itself a duplicate of it)" if via else ""
        return (f":twisted_rightwards_arrows: {duplicate.key} is a duplicate of "
                f"{_ref(survivor)}{chain}, marked by {who(actor)}: it is resolved here and the "
                f"work goes on in {survivor.key}; you have been invited to its channel.")

    def duplicated_here(self, duplicate: Incident, survivor: Incident, actor: Actor,
                        invited: list[str]) -> str:
        people = ", ".join(f"<@{u}>" for u in invited) if invited else "nobody new"
        return (f":twisted_rightwards_arrows: {_ref(duplicate)} was marked a duplicate of "
                f"{survivor.key} by {who(actor)}. Its responders join here: {people}.")


def linked_reply(incident: Incident, other: Incident) -> str:
    return f":link: {incident.key} and {other.key} are now linked; both timelines say so."


def duplicate_reply(outcome: DuplicateOutcome) -> str:
    via = (f" {outcome.via.key} is itself a duplicate of {outcome.survivor.key}, so "
           f"{outcome.duplicate.key} points there." if outcome.via else "")
    invited = (f" Invited to {outcome.survivor.key}'s channel: "
               + ", ".join(f"<@{u}>" for u in outcome.invited) + "." if outcome.invited else "")
    return (f":twisted_rightwards_arrows: {outcome.duplicate.key} is resolved as a duplicate of "
            f"{outcome.survivor.key}.{via}{invited}")


def related_line(related: RelatedIncident) -> str:
    where = f" <#{related.channel_id}>" if related.channel_id else ""
    return (f"{KIND_WORDS.get(related.kind, related.kind)} {STATUS_EMOJI[related.status]} "
            f"*{related.key}* ({related.status.value}){where}")


def related_summary(related: list[RelatedIncident]) -> str | None:
    """One line for the announcement and ``/incident status``; None when there is nothing."""
    if not related:
        return None
    return ":link: *Related:* " + " · ".join(related_line(r) for r in related[:10])
