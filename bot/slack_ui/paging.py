"""Slack texts of the paging integrations (PagerDuty, Alertmanager)."""

from __future__ import annotations

from typing import Any

from bot.slack_ui.ids import ActionId
from domain.model import Incident


def resolve_prompt(incident: Incident) -> dict[str, Any]:
    """The channel message once an alert group's alerts have all resolved: resolve it too?"""
    text = (f":large_green_circle: The alerts behind *{incident.key}* have resolved. "
            "Resolve the incident?")
    button = {"type": "button", "action_id": ActionId.RESOLVE.value, "value": str(incident.id),
              "style": "primary", "text": {"type": "plain_text", "text": "Resolve"}}
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}},
                                     {"type": "actions", "elements": [button]}]}
