"""Message shortcuts (issue 19 item 2): *Add to timeline* and *Declare incident* on any message,
composed here.

The rules and use cases are in ``domain/message_shortcuts.py``, the lookup of notes by message
in ``storage/message_shortcuts.py``, the listeners in ``handlers/shortcuts.py``, the words and
forms in ``bot/slack_ui/shortcuts.py``; the shortcuts themselves are declared in manifest.yml
(``features.shortcuts``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.slack_ui.shortcuts import ShortcutTexts
from domain.message_shortcuts import MessageNotes
from handlers import shortcuts
from storage.message_shortcuts import SqlNoteSources

if TYPE_CHECKING:
    from bot.app import Container


def install(container: Container) -> None:
    notes = MessageNotes(container.service, SqlNoteSources, ShortcutTexts())
    # the label that marks an incident private (as on the status page): its title is not listed
    shortcuts.register(container.bolt, container.slack, notes,
                       container.settings.status_page_private_label)
