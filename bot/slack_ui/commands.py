"""The ``/incident`` core verbs' Slack side: the declare form, the confirmation and the list
texts (each verb's help line stays beside its handler in handlers/slack_commands.py)."""

from __future__ import annotations

import json
from typing import Any

from bot.slack_ui.channel_lifecycle import private_checkbox
from bot.slack_ui.mrkdwn import escape
from domain.commands import Parsed
from domain.model import Incident, MLModel, Severity

DECLARE_CALLBACK = "declare_incident"
FAILED = (":boom: Something went wrong on our side; nothing was changed. "
          "Try again, and tell the bot's operators if it persists.")


def incidents_text(incidents: list[tuple[Incident, MLModel | None]]) -> str:
    if not incidents:
        return ":sunny: No open incidents."
    return "\n".join([f"*{len(incidents)} open incident(s)*"] + [
        f"• *{i.key}* [{i.severity.label}] {i.status.value} "
        f"· `{m.name if m else '?'}` · {escape(i.title)}" for i, m in incidents])


def models_text(models: list[MLModel], notes: list[str]) -> str:
    """The registered models, then the lines features add below them (``notes``)."""
    if not models:
        return ("No models registered. Add one with `incident-bot models add NAME --version V "
                "--stage production --team T`.")
    return "*Registered models*\n" + "\n".join(
        f"• `{m.name}` v{m.version} · {m.stage.value} · team {m.team}"
        + (f" · {', '.join(m.labels)}" if m.labels else "") for m in models) + "".join(
        f"\n{line}" for line in notes)


def confirmation(key: str, label: str, model: str, title: str, channel: str) -> str:
    return (f":white_check_mark: Declared *{key}* [{label}] on `{model}`: {escape(title)}. "
            f"Announced in #{channel}; the incident channel is being created and you will be "
            "invited.")


def declare_modal(parsed: Parsed, model_names: list[str], channel_id: str | None) -> dict[str, Any]:
    severity_options = [_option(f"{s.label} ({s.value.upper()})", s.value) for s in Severity]
    model_options = [_option(n, n) for n in model_names[:100]]
    severity_select: dict[str, Any] = {"type": "static_select", "action_id": "severity",
                                       "options": severity_options,
                                       "placeholder": _plain("Pick a severity")}
    if parsed.severity:
        severity_select["initial_option"] = _option(
            f"{parsed.severity.label} ({parsed.severity.value.upper()})", parsed.severity.value)
    model_element: dict[str, Any]
    if model_options:
        model_element = {"type": "static_select", "action_id": "model", "options": model_options,
                         "placeholder": _plain("Pick the affected model")}
        if parsed.model:
            model_element["initial_option"] = _option(parsed.model, parsed.model)
    else:
        model_element = {"type": "plain_text_input", "action_id": "model"}
    title_input: dict[str, Any] = {"type": "plain_text_input", "action_id": "title",
                                   "max_length": 500}
    if parsed.title:
        title_input["initial_value"] = parsed.title
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "private_metadata": json.dumps({"channel_id": channel_id}),
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "blocks": [
            {"type": "input", "block_id": "title", "label": _plain("Title"),
             "element": title_input},
            {"type": "input", "block_id": "severity", "label": _plain("Severity"),
             "element": severity_select},
            {"type": "input", "block_id": "model", "label": _plain("Model"),
             "element": model_element},
            {"type": "input", "block_id": "description", "optional": True,
             "label": _plain("Description"),
             "element": {"type": "plain_text_input", "action_id": "description",
                         "multiline": True}},
            {"type": "input", "block_id": "labels", "optional": True,
             "label": _plain("Labels (comma separated)"),
             "element": {"type": "plain_text_input", "action_id": "labels"}},
            private_checkbox(parsed.private),  # issue 19 item 8
        ],
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value}

