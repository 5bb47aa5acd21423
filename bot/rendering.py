"""Moved to :mod:`bot.slack_ui.incident`; these names stay importable from here for the modules
and tests that still use ``bot.rendering``."""

from bot.slack_ui.incident import (
    ACTION_ACK,
    ACTION_HOME_DECLARE,
    ACTION_MITIGATE,
    ACTION_NOTE,
    ACTION_REOPEN,
    ACTION_RESOLVE,
    BUTTON_LABELS,
    MAX_CHANNEL_NAME,
    STATUS_ACTIONS,
    action_buttons,
    announcement,
    channel_name,
    home_view,
    plain_text,
    slo_lines,
    status_text,
    summary,
    summary_heading,
    timeline_text,
    topic,
)

__all__ = [
    "ACTION_ACK", "ACTION_HOME_DECLARE", "ACTION_MITIGATE", "ACTION_NOTE", "ACTION_REOPEN",
    "ACTION_RESOLVE", "BUTTON_LABELS", "MAX_CHANNEL_NAME", "STATUS_ACTIONS", "action_buttons",
    "announcement", "channel_name", "home_view", "plain_text", "slo_lines", "status_text", "summary",
    "summary_heading", "timeline_text", "topic",
]
