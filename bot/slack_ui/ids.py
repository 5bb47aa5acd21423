"""Every action and callback id the bot's own buttons and forms carry, in one place.

Slack echoes these back in ``block_actions`` / ``view_submission`` payloads; a listener is
registered for each (``handlers/``). They are ``StrEnum`` members, so they serialise as the
plain strings Slack sees.
"""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """Buttons (``action_id``)."""

    ACK = "incident_ack"
    MITIGATE = "incident_mitigate"
    RESOLVE = "incident_resolve"
    REOPEN = "incident_reopen"
    NOTE = "incident_add_note"
    HOME_DECLARE = "home_declare"
    POST_UPDATE = "incident_post_update"  # on the "update due" reminder
    RUNBOOK_STEP_DONE = "runbook_step_done"  # on each checklist step
    TAKE_ROLE = "incident_take_role"  # the announcement's "Take a role" menu (issue 19)
    SNOOZE_UPDATE_15M = "incident_snooze_update_15m"  # on the "update due" reminder (issue 19)
    SNOOZE_UPDATE_30M = "incident_snooze_update_30m"
    SNOOZE_UPDATE_1H = "incident_snooze_update_1h"
    SAME_AS = "incident_same_as"  # "This is the same" on a new incident's announcement


class CallbackId(StrEnum):
    """Modals (``callback_id``)."""

    NOTE = "add_note"
    POST_UPDATE = "post_update"
    # message shortcuts (manifest.yml features.shortcuts) and the form one opens (issue 19)
    ADD_TO_TIMELINE = "add_to_timeline"
    DECLARE_FROM_MESSAGE = "declare_from_message"
    PICK_INCIDENT = "add_to_timeline_pick"  # Add to timeline's incident picker


class InputId(StrEnum):
    """The one text input of each single-field modal (its ``block_id`` and ``action_id``)."""

    NOTE = "note"
    UPDATE = "update"
    INCIDENT = "incident"  # the incident picker's select (message shortcuts)
