"""Postmortem clock, close gate and action items (GOV-001 section 8; issues 6, 15): composed here.

The rules and use cases are in ``domain/postmortems.py``, the tables in ``storage/postmortems.py``,
the verbs in ``handlers/postmortems.py``, the words in ``bot/slack_ui/postmortems.py``. The close
gate is one of the incident service's explicit gates (``IncidentService.change_status`` asks it
before it writes a close).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.slack_ui.postmortem_template import markdown_draft
from bot.slack_ui.postmortems import PostmortemTexts
from domain.events import StatusChanged
from domain.note_changes import CapturedNotes
from domain.postmortems import Postmortems
from handlers import postmortems as postmortem_verbs
from storage.postmortems import SqlPostmortemRepository

if TYPE_CHECKING:
    from bot.app import Container


def install(container: Container) -> None:
    postmortems = Postmortems(container.service, SqlPostmortemRepository, PostmortemTexts(),
                              markdown_draft, key_notes=CapturedNotes(container.service).key_note_ids)
    container.service.gates.close.append(postmortems)
    container.service.reactions.on(StatusChanged, postmortems.on_status_changed)
    container.features.postmortem_reminders = postmortems.remind_overdue
    container.scheduler.add_job(postmortems.remind_overdue, "interval", minutes=5,
                                id="postmortem-reminders", max_instances=1, coalesce=True)
    postmortem_verbs.register(container.slack.verbs, postmortems)
