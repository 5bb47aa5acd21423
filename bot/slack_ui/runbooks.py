"""The runbook checklist message (Block Kit) and the runbook replies (Slack mrkdwn)."""

from __future__ import annotations

import json
from typing import Any

from bot.slack_ui.ids import ActionId
from domain.checklists import Checklist, Followed, StepOutcome
from domain.model import Incident
from domain.runbooks import Runbook

RUNBOOK_HELP = "`/incident runbook`: show the matched runbook and its checklist"
NOT_A_STEP = ":warning: That button is not attached to a runbook step."


def step_value(incident: Incident, runbook: Runbook, step_id: str) -> str:
    """What the Done button carries back: incident, runbook, version, step (short keys: 2000 max)."""
    return json.dumps({"i": str(incident.id), "r": runbook.name, "v": runbook.version, "s": step_id})


def _step_block(incident: Incident, runbook: Runbook, followed: Followed, step_id: str,
                text: str) -> dict[str, Any]:
    finished = followed.done.get(step_id)
    if finished:
        return {"type": "section", "text": {"type": "mrkdwn", "text":
                f":white_check_mark: ~{step_id}. {text}~\n_done by <@{finished.by}> at "
                f"{finished.at:%H:%M} UTC_"[:3000]}}
    line = f":white_square: {step_id}. {text}"[:3000]
    return {"type": "section", "text": {"type": "mrkdwn", "text": line},
            "accessory": {"type": "button", "action_id": ActionId.RUNBOOK_STEP_DONE,
                          "text": {"type": "plain_text", "text": "Done"},
                          "value": step_value(incident, runbook, step_id)}}


def checklist_message(checklist: Checklist, runbook: Runbook) -> tuple[str, list[dict[str, Any]]]:
    """The checklist message: fallback text and blocks (45 steps at most: Slack's 50-block cap)."""
    incident, done = checklist.incident, checklist.followed.done
    text = f":clipboard: {incident.key} runbook: {runbook.title} ({len(done)}/{len(runbook.steps)} done)"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Runbook: {runbook.title}"[:150]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            f"v{runbook.version} · owner `{runbook.owner}` · `{checklist.url}` · "
            f"*{len(done)}/{len(runbook.steps)} steps done*"}]},
    ]
    blocks += [_step_block(incident, runbook, checklist.followed, s.id, s.text) for s in runbook.steps[:45]]
    return text, blocks


def progress_text(runbook: Runbook, done: int) -> str:
    """A runbook's progress in mrkdwn: its title in bold, steps done of all."""
    return f"Runbook *{runbook.title}* v{runbook.version}: {done}/{len(runbook.steps)} steps done"


def progress_line(checklist: Checklist | None) -> str | None:
    """The line under the announcement, when the incident follows a runbook."""
    if checklist is None or checklist.runbook is None:
        return None
    return f":clipboard: {progress_text(checklist.runbook, len(checklist.followed.done))}"


def checklist_reply(key: str, checklist: Checklist | None, names: list[str]) -> str:
    """``/incident runbook``: the runbook and its steps, or how to pick one."""
    if checklist is None or checklist.runbook is None:
        return (f"{key} has no runbook. Pick one: `/incident runbook <name>` "
                f"({', '.join(sorted(names))}).")
    runbook, done = checklist.runbook, checklist.followed.done
    lines = [f":clipboard: *{key}*: {progress_text(runbook, len(done))} (`{checklist.url}`)"]
    lines += [f"{':white_check_mark:' if s.id in done else ':white_square:'} {s.id}. {s.text}"
              for s in runbook.steps]
    return "\n".join(lines)


def selected_reply(incident: Incident, runbook: Runbook) -> str:
    return (f":clipboard: {incident.key} now follows *{runbook.title}* "
            f"v{runbook.version}; the checklist is posted in its channel.")


def step_already_done(outcome: StepOutcome) -> str:
    """The clicker's answer when the step was done before (a new Done is shown in the checklist)."""
    by = f" by <@{outcome.done_by}>" if outcome.done_by else ""
    return f":information_source: Step {outcome.step_id} was already done{by}."
