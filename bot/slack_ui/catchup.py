"""Slack words of the catch-up read-in (issue 19, item 5): what someone joining an incident
channel (or typing ``/incident catchup``) sees, ephemerally."""

from __future__ import annotations

from typing import Any

from bot.slack_ui.mrkdwn import STATUS_EMOJI, escape, escape_mixed
from bot.slack_ui.related import related_line
from domain.catchup import CatchUp
from domain.messages import hhmm

CATCHUP_HELP = "`/incident catchup`: the read-in a newcomer gets (status, people, clocks, notes)"
CLOCK_LABELS = {"ack": "Acknowledge", "mitigate": "Mitigate", "resolve": "Resolve"}
CLOCK_STATES = {"met": ":white_check_mark: met", "breached": ":x: breached",
                "pending": ":hourglass_flowing_sand: pending", "stopped": "stopped"}


def _who(user: str) -> str:
    return f"<@{user}>" if user[:1] in ("U", "W") else escape(user)


def _clip(text: str, limit: int = 280) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def sections(c: CatchUp) -> list[tuple[str, str]]:
    """(heading, body) pairs, in reading order: what is happening, who, clocks, what was said,
    what is left, what else is involved."""
    i = c.incident
    people = [f"Commander: {_who(c.commander)}" if c.commander else "Commander: _unassigned_"]
    people += [f"{escape(role)}: {_who(user)}" for role, user in c.roles]
    clocks = [f"{CLOCK_LABELS[d.kind]} by {hhmm(d.due_at)}: {CLOCK_STATES[d.state]}"
              for d in c.clocks]
    if c.next_update_due is not None:
        clocks.append(f"Next stakeholder update due {hhmm(c.next_update_due)}")
    update = (f"{_clip(escape(c.last_update.text), 600)}\n_{_who(c.last_update.author)} at "
              f"{hhmm(c.last_update.at)}_" if c.last_update else "_None posted yet._")
    notes = [f"• `{n.occurred_at:%H:%M}` {escape(n.author_name or n.author)}: "
             f"{_clip(escape_mixed(n.body))}" for n in c.key_notes] or ["_No notes yet._"]
    actions = [f"• #{a.number} {_clip(escape(a.text), 150)}: {_who(a.owner)}, due {a.due}"
               for a in c.open_actions] or ["_None open._"]
    out = [
        ("Status", f"{STATUS_EMOJI[i.status]} *{i.status.value}* · {i.severity.label} · model "
                   f"`{escape(c.model_name or '?')}` · declared {hhmm(i.created_at)}"),
        ("People", "\n".join(people)),
        ("SLO clocks", "\n".join(clocks) or "_No targets for this severity._"),
        ("Last stakeholder update", update),
        ("Key notes" if c.key_notes_marked else "Latest notes", "\n".join(notes)),
        ("Open action items", "\n".join(actions)),
    ]
    if c.related:
        out.append(("Related incidents", "\n".join(f"• {related_line(r)}" for r in c.related)))
    return out


def heading(c: CatchUp) -> str:
    return f":wave: *Catch-up on {c.incident.key}*: {escape(c.incident.title)[:200]}"


def text(c: CatchUp) -> str:
    """The read-in as one mrkdwn message (the notification text and the slash command reply)."""
    parts = [heading(c)] + [f"*{title}*\n{body}" for title, body in sections(c)]
    return "\n\n".join(parts)[:39000]


def blocks(c: CatchUp) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": heading(c)}}]
    for title, body in sections(c):
        out.append({"type": "section", "text": {"type": "mrkdwn",
                                                "text": f"*{title}*\n{body}"[:3000]}})
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
        "Only you see this. `/incident catchup` shows it again; `/incident timeline` has "
        "everything.")}]})
    return out
