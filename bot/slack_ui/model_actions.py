"""Slack words and Block Kit of the model actions (issue 18): the "What changed?" message with
the action buttons, the rollback request with Approve / Reject, and the modals."""

from __future__ import annotations

import json
from typing import Any

from bot.slack_ui.mrkdwn import escape
from domain.model import Incident
from domain.model_actions.changes import Change, lines
from domain.model_actions.rollback import Rollback

ROLLBACK = "model_rollback"
APPROVE = "model_rollback_approve"
REJECT = "model_rollback_reject"
ACCEPT_DRIFT = "model_accept_drift"
SNOOZE = "model_snooze"
RETRAIN = "model_retrain"
ROLLBACK_CALLBACK = "model_rollback_submit"
ACCEPT_CALLBACK = "model_accept_drift_submit"
SNOOZE_CALLBACK = "model_snooze_submit"

JSON = dict[str, Any]


def _plain(text: str) -> JSON:
    return {"type": "plain_text", "text": text[:150], "emoji": True}


def _button(action_id: str, text: str, value: str, style: str | None = None) -> JSON:
    button: JSON = {"type": "button", "action_id": action_id, "text": _plain(text), "value": value}
    if style:
        button["style"] = style
    return button


def what_changed_message(incident: Incident, model: str, changes: list[Change], window_hours: float,
                         drift: bool, retrain: bool) -> tuple[str, list[JSON]]:
    """The thread message: what changed in the window before the incident, and what to do."""
    head = (f":mag: *What changed?* `{escape(model)}` in the {window_hours:g} h before "
            f"{incident.key}, newest first")
    body = "\n".join(lines(changes, incident.created_at)) or "_Nothing recorded in that window._"
    text = f"{head}\n{body}"
    blocks: list[JSON] = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
    buttons = [_button(ROLLBACK, "Roll back", str(incident.id), "danger")]
    if drift:
        buttons += [_button(ACCEPT_DRIFT, "Accept drift", str(incident.id)),
                    _button(SNOOZE, "Snooze drift alerts", str(incident.id))]
    if retrain:
        buttons.append(_button(RETRAIN, "Retrain", str(incident.id)))
    blocks.append({"type": "actions", "block_id": f"model_actions:{incident.id}", "elements": buttons})
    return text, blocks


def changes_reply(incident: Incident, model: str, changes: list[Change], window_hours: float) -> str:
    text, _ = what_changed_message(incident, model, changes, window_hours, False, False)
    return text


def rollback_request_message(rollback: Rollback, text: str) -> tuple[str, list[JSON]]:
    blocks: list[JSON] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            "GOV-001 \"Authorise rollback\": the Incident Commander approves."}]},
        {"type": "actions", "block_id": f"rollback:{rollback.id}", "elements": [
            _button(APPROVE, "Approve rollback", str(rollback.id), "primary"),
            _button(REJECT, "Reject", str(rollback.id))]},
    ]
    return text, blocks


def rollback_modal(incident_id: str, model: str, alias: str, current: str | None,
                   default: str | None, versions: list[str], origin: JSON) -> JSON:
    options = [{"text": _plain(f"v{v}" + (" (current)" if v == current else "")), "value": v}
               for v in reversed(versions[-100:])]
    select: JSON = {"type": "static_select", "action_id": "version", "options": options,
                    "placeholder": _plain("Version to return to")}
    if default is not None:
        select["initial_option"] = next(o for o in options if o["value"] == default)
    return {
        "type": "modal", "callback_id": ROLLBACK_CALLBACK,
        "private_metadata": json.dumps({"incident_id": incident_id, "alias": alias, **origin}),
        "title": _plain("Roll back the model"), "submit": _plain("Request rollback"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text":
                f"`{escape(model)}` alias `{escape(alias)}` serves *v{escape(current or '?')}* now."}},
            {"type": "input", "block_id": "version", "label": _plain("Return to"), "element": select},
            {"type": "input", "block_id": "reason", "label": _plain("Reason (audited)"),
             "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True,
                         "max_length": 1000}},
        ],
    }


def duration_modal(callback_id: str, title: str, submit: str, incident_id: str, default: str,
                   hint: str, origin: JSON) -> JSON:
    return {
        "type": "modal", "callback_id": callback_id,
        "private_metadata": json.dumps({"incident_id": incident_id, **origin}),
        "title": _plain(title), "submit": _plain(submit), "close": _plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": "duration", "label": _plain(hint),
             "element": {"type": "plain_text_input", "action_id": "duration", "initial_value": default}},
            {"type": "input", "block_id": "reason", "label": _plain("Reason (audited)"),
             "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True,
                         "max_length": 1000}},
        ],
    }


def rollback_decided_message(rollback: Rollback, text: str) -> tuple[str, list[JSON]]:
    """The request once decided: no buttons, who decided and when."""
    glass = " (break-glass)" if rollback.break_glass else ""
    when = f"{rollback.decided_at:%H:%M} UTC" if rollback.decided_at else ""
    verdict = (f":white_check_mark: Approved by <@{rollback.decided_by}>{glass} {when}"
               if rollback.status.value in ("approved", "done", "failed")
               else f":no_entry: Rejected by <@{rollback.decided_by}> {when}")
    return text, [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
                  {"type": "context", "elements": [{"type": "mrkdwn", "text": verdict.strip()}]}]
