"""IaC drift in Slack: the drift event's message (its buttons while open), the Accept form and
the thread texts. Addresses, paths, values and evidence come from the drift report: shown as
written, never interpreted by Slack (a ``<!channel>`` in a tag value must not ping anyone)."""

from __future__ import annotations

import json
import uuid
from enum import StrEnum
from typing import Any

from bot.slack_ui.incident import plain_text
from bot.slack_ui.mrkdwn import escape, escape_mixed
from domain.iac.ports import StoredDrift


class IacAction(StrEnum):
    """The drift message's buttons (``action_id``); the value is the drift event's id."""

    REVERT = "iac_revert"
    CODIFY = "iac_codify"
    ACCEPT = "iac_accept"
    ESCALATE = "iac_escalate"


LABELS = {IacAction.REVERT: "Revert", IacAction.CODIFY: "Codify in IaC",
          IacAction.ACCEPT: "Accept exception", IacAction.ESCALATE: "Escalate"}
ACCEPT_CALLBACK = "iac_accept_exception"
EMOJI = {"critical": ":rotating_light:", "high": ":red_circle:", "medium": ":large_orange_circle:"}


def _diff(event: dict[str, Any]) -> str:
    return "\n".join(f"`{escape(c['path'] or '/')}`: `{escape(json.dumps(c['declared'])[:80])}` → "
                     f"`{escape(json.dumps(c['actual'])[:80])}`"
                     for c in event["changes"][:10]) or "_(whole resource)_"


def _fields(stored: StoredDrift) -> list[dict[str, Any]]:
    event, t = stored.triage["event"], stored.triage["triage"]
    rules = "\n".join(f":warning: *{escape(h['rule_id'])}* {escape(h['message'])}"
                      for h in event["rule_hits"]) or "none"
    evidence = escape(" ".join(t["cause"]["evidence"]))
    return [{"type": "mrkdwn", "text": f"*Tool*\n{stored.tool}"},
            {"type": "mrkdwn", "text": f"*Confidence*\n{stored.confidence:.0%}"},
            {"type": "mrkdwn", "text": f"*Security rules hit*\n{rules}"[:2000]},
            {"type": "mrkdwn", "text": f"*Cause*\n{t['cause']['category']}: {evidence}"[:2000]}]


def _footer(stored: StoredDrift) -> dict[str, Any]:
    """Buttons while the drift is open; afterwards what became of it."""
    if stored.status == "open":
        return {"type": "actions", "block_id": f"iac:{stored.id}", "elements": [
            {"type": "button", "action_id": action.value, "value": str(stored.id),
             "text": {"type": "plain_text", "text": label},
             **({"style": "danger"} if action is IacAction.ESCALATE else {})}
            for action, label in LABELS.items()]}
    text = f"*{stored.status}*"
    if stored.status == "accepted" and stored.exception_expires_at:
        text += (f": {escape_mixed(stored.exception_reason or '')} "
                 f"(until {stored.exception_expires_at:%Y-%m-%d})")
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def render(stored: StoredDrift) -> tuple[str, list[dict[str, Any]]]:
    """The drift event's message: text and blocks."""
    emoji = EMOJI.get(stored.severity, ":large_yellow_circle:")
    what = f"{stored.drift_type} {stored.resource_address} ({stored.environment})"
    text = f"{emoji} IaC drift [{stored.severity}] {escape(what)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {
            "type": "plain_text", "text": f"{emoji} IaC drift [{stored.severity}] {plain_text(what)}"[:150]}},
        {"type": "section", "fields": _fields(stored)},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"*Declared → actual*\n{_diff(stored.triage['event'])}"[:3000]}},
        _footer(stored),
    ]
    return text[:3000], blocks  # a huge resource address must not make Slack refuse it


class SlackIacTexts:
    """``domain.iac.decisions.IacTexts`` for Slack: the security approver as a live mention."""

    def exception_reason(self, reason: str, security_approver: str | None) -> str:
        return reason + (f" · security approver <@{security_approver}>" if security_approver else "")


def incomplete_text(source: Any, fmt: Any, notices: list[str]) -> str:
    listed = "\n".join(f"• {n}" for n in notices)
    return (f":warning: IaC drift report `{source}` ({fmt}) may not show all drift, so the drift "
            f"messages here may be missing some:\n{listed}")[:3000]


def expiry_text(stored: StoredDrift, expired: Any, reason: Any) -> str:
    return (f":hourglass: The exception for `{stored.resource_address}` expired on {expired} "
            f"(it was: {reason}). The drift is open again: revert, codify, escalate or accept it anew.")


def choice_text(action: IacAction, rec: dict[str, Any]) -> str:
    """What Revert / Codify would take: the recommendation's command and steps."""
    steps = "\n".join(f"{i}. {s}" for i, s in enumerate(rec.get("steps", []), 1))
    command = f"\n```{rec['command']}```" if rec.get("command") else ""
    return (f"*{LABELS[action]}* (the bot changes nothing itself):"
            f"{command}\n{steps}\n_{rec.get('rationale', '')}_")


def accept_modal(event_id: uuid.UUID, needs_approver: bool = False,
                 max_days: int = 90) -> dict[str, Any]:
    """Reason and expiry (at most ``max_days`` ahead); a named security approver when a
    security rule fired on the drift."""
    blocks: list[dict[str, Any]] = [
        {"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Reason"},
         "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True}},
        {"type": "input", "block_id": "expires",
         "label": {"type": "plain_text", "text": f"Expires on (at most {max_days} days)"},
         "element": {"type": "datepicker", "action_id": "expires"}},
    ]
    if needs_approver:
        blocks.append({
            "type": "input", "block_id": "approver",
            "label": {"type": "plain_text", "text": "Security approver"},
            "hint": {"type": "plain_text", "text": "A security rule fired on this drift: name who "
                                                  "approved the exception."},
            "element": {"type": "users_select", "action_id": "approver"}})
    return {"type": "modal", "callback_id": ACCEPT_CALLBACK,
            "private_metadata": json.dumps({"event_id": str(event_id), "approver": needs_approver}),
            "title": {"type": "plain_text", "text": "Accept drift"},
            "submit": {"type": "plain_text", "text": "Accept"}, "blocks": blocks}
