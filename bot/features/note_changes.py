"""Captured notes follow their Slack message (issue 19, items 3 and 4): composed here.

The key reaction (``KEY_NOTE_REACTION``) and pins mark notes key; edits and deletions update
or hide them. Rules and use cases in ``domain/note_changes.py``, tables in
``storage/note_changes.py`` (``uow.note_changes``), the listeners in
``handlers/note_changes.py``. The postmortem draft reads the key notes through
``bot/features/postmortems.py``; the catch-up through ``uow.note_changes.key_note_ids``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.note_changes import CapturedNotes
from handlers import note_changes as note_change_events

if TYPE_CHECKING:
    from bot.app import Container


def install(container: Container) -> None:
    notes = CapturedNotes(container.service)
    note_change_events.register(container.bolt, container.slack, notes,
                                container.settings.key_note_reaction)
