"""Slack words and Block Kit of the model actions (issue 18): the "What changed?" message with
the action buttons, the rollback request with Approve / Reject, and the modals."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.slack_ui.mrkdwn import escape, mention
from domain.model import Actor, Incident
from domain.model_actions.changes import Change, ChangeKind, relative
from domain.model_actions.drift_controls import DriftAcceptance, DriftSnooze
from domain.model_actions.facts import AssessmentFact, EarlierIncidentFact, IacDriftFact, PipelineRun
from domain.model_actions.registry import AliasMove, RegistryVersion
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


ICONS = {
    ChangeKind.ALIAS_MOVE: ":twisted_rightwards_arrows:",
    ChangeKind.NEW_VERSION: ":package:",
    ChangeKind.IAC_DRIFT: ":building_construction:",
    ChangeKind.EARLIER_INCIDENT: ":rotating_light:",
    ChangeKind.DRIFT_ASSESSMENT: ":chart_with_upwards_trend:",
}


def lines(changes: list[Change], incident_at: datetime) -> list[str]:
    """One mrkdwn line per change: icon, relative time, what."""
    return [f"{ICONS[c.kind]} *{relative(c.occurred_at, incident_at)}* · {c.text}" for c in changes]


class SlackModelActionTexts:
    """The ``domain.model_actions.texts.ModelActionTexts`` port in Slack mrkdwn: people as live
    mentions, names in code spans, outside text escaped."""

    def alias_change(self, move: AliasMove) -> str:
        if move.version is None:
            what = f"alias `{move.alias}` removed from v{move.previous}"
        elif move.previous is None:
            what = f"alias `{move.alias}` set to v{move.version}"
        else:
            what = f"alias `{move.alias}` moved v{move.previous} → v{move.version}"
        by = "" if move.moved_by.startswith("registry") else f" by {escape(move.moved_by)}"
        return f"{what}{by}"

    def version_change(self, model: str, version: RegistryVersion) -> str:
        source = f" from `{escape(version.source[:120])}`" if version.source else ""
        return f"new version v{version.version} of `{escape(model)}` registered{source}"

    def iac_change(self, fact: IacDriftFact) -> str:
        return (f"IaC drift ({escape(fact.severity)}, {escape(fact.drift_type)}) on "
                f"`{escape(fact.resource_address[:150])}` in {escape(fact.environment)}")

    def incident_change(self, fact: EarlierIncidentFact) -> str:
        cause = (f" — root cause: {escape(fact.root_cause[:300])}" if fact.root_cause
                 else " — no root cause recorded")
        return (f"earlier incident INC-{fact.number} [SEV-{fact.severity[-1:]}] "
                f"{escape(fact.title[:120])} ({escape(fact.status)}){cause}")

    def assessment_change(self, fact: AssessmentFact) -> str:
        verdict = "drift detected" if fact.drift_detected else "no drift"
        return f"drift assessment: PSI {fact.psi_composite:.2f}, {verdict}"

    def rollback_requested_post(self, actor: Actor, rollback: Rollback) -> str:
        return (f":rewind: {mention(actor)} requests a rollback of `{rollback.model}` `{rollback.alias}` "
                f"v{rollback.from_version or '?'} → v{rollback.to_version}: {escape(rollback.reason)}")

    def rollback_requested_note(self, actor: Actor, rollback: Rollback) -> str:
        return self.rollback_requested_post(actor, rollback).replace(":rewind: ", "")

    def rollback_decided_note(self, actor: Actor, rollback: Rollback) -> str:
        glass = " (break-glass self-approval, GOV-001 5.3)" if rollback.break_glass else ""
        return (f"{mention(actor)} {rollback.status.value} the rollback of `{rollback.model}` to "
                f"v{rollback.to_version} asked by <@{rollback.requested_by}>{glass}.")

    def rollback_decided_post(self, actor: Actor, rollback: Rollback) -> str:
        return f":ballot_box_with_check: {self.rollback_decided_note(actor, rollback)}"

    def rollback_done(self, rollback: Rollback, moved: bool, registry_kind: str) -> str:
        return (f":white_check_mark: Rolled back `{rollback.model}`: `{rollback.alias}` → "
                f"v{rollback.to_version} in the {registry_kind} registry"
                + ("" if moved else " (it already pointed there)") + ".")

    def rollback_failed(self, rollback: Rollback, error: str) -> str:
        return (f":x: Rollback of `{rollback.model}` to v{rollback.to_version} failed: "
                f"{escape(error[:300])}")

    def drift_accepted(self, actor: Actor, acceptance: DriftAcceptance, psi: float) -> str:
        return (f"{mention(actor)} accepted the drift of `{acceptance.model}` (PSI {psi:.2f}) "
                f"until {acceptance.expires_at:%Y-%m-%d %H:%M} UTC: the window that drifted is its "
                f"reference from now on. Reason: {escape(acceptance.reason)}")

    def drift_snoozed(self, actor: Actor, snooze: DriftSnooze) -> str:
        return (f"{mention(actor)} snoozed drift alerts of `{snooze.model}` until "
                f"{snooze.until:%Y-%m-%d %H:%M} UTC. Reason: {escape(snooze.reason)}")

    def retrain_requested(self, actor: Actor, model: str) -> str:
        return f"{mention(actor)} asked to retrain `{model}`."

    def retrain_status(self, run: PipelineRun, status: str) -> str:
        icon = {"succeeded": ":white_check_mark:", "failed": ":x:"}.get(status, ":gear:")
        link = f" <{run.run_url}|run {escape(run.run_id or '')}>" if run.run_url else (
            f" run `{escape(run.run_id)}`" if run.run_id else "")
        return f"{icon} Retraining of `{run.model}`{link}: {status}."


def rollback_requested_reply(rollback: Rollback) -> str:
    """What the person who asked for a rollback through the form is told."""
    return (f":rewind: Rollback to v{rollback.to_version} requested; the Incident Commander "
            "approves it in the incident's thread.")


def deploy_hook_accepted(rollback: Rollback, status: int) -> str:
    """The thread post once the deploy hook took an approved rollback."""
    return (f":rocket: Deploy hook accepted the rollback of `{rollback.model}` to "
            f"v{rollback.to_version} (HTTP {status}).")


def deploy_hook_refused(error: object) -> str:
    """The thread post when the deploy hook refused a rollback for good."""
    return f":x: Deploy hook refused the rollback: {error}"


def drift_control_lines(acceptances: Sequence[DriftAcceptance],
                        snoozes: Sequence[DriftSnooze]) -> list[str]:
    """Under `/incident models`: the accepted drift and the snoozed drift alerts in force."""
    return ([f"• `{a.model}` drift accepted until {a.expires_at:%Y-%m-%d %H:%M} UTC by "
             f"{a.accepted_by_name} (re-baselined): {escape(a.reason)}" for a in acceptances]
            + [f"• `{z.model}` drift alerts snoozed until {z.until:%Y-%m-%d %H:%M} UTC by "
               f"{z.snoozed_by_name}: {escape(z.reason)}" for z in snoozes])


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
