"""The one builder for the bot's single-field forms (add a note, post an update)."""

from __future__ import annotations

import json
from typing import Any

from bot.slack_ui.ids import CallbackId, InputId


def text_modal(callback: CallbackId, field: InputId, *, title: str, submit: str, label: str,
               metadata: dict[str, Any]) -> dict[str, Any]:
    """A modal with one multi-line text input; ``metadata`` rides in ``private_metadata``."""
    return {
        "type": "modal", "callback_id": callback, "private_metadata": json.dumps(metadata),
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "blocks": [{"type": "input", "block_id": field, "label": {"type": "plain_text", "text": label},
                    "element": {"type": "plain_text_input", "action_id": field, "multiline": True}}],
    }


def submitted_text(view: dict[str, Any], field: InputId) -> str:
    """What was typed in ``field`` (stripped; empty when nothing was)."""
    values: dict[str, dict[str, Any]] = view.get("state", {}).get("values", {}).get(field, {})
    return str(next(iter(values.values()), {}).get("value") or "").strip()
