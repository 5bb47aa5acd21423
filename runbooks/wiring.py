"""Runbooks in Slack (issue 8), composed: matched on declaration, posted as a checklist, followed
step by step.

The use cases are in ``domain/checklists.py`` (the "Execute runbook" role asked there, through
the service's role gate), the rows in ``storage/runbooks.py``, the button and the verb in
``handlers/runbooks.py``, the checklist message in ``bot/slack_ui/runbooks.py`` and its delivery
in ``bot/delivery/runbooks.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.delivery.runbooks import ChecklistDelivery
from bot.slack_ui.ids import ActionId
from bot.slack_ui.runbooks import progress_line
from domain.checklists import CHECKLIST, Checklists
from domain.events import IncidentDeclared
from domain.model import Incident
from handlers import runbooks as runbook_listeners
from runbooks import RUNBOOKS_DIR
from runbooks.library import RunbookLibrary
from storage.runbooks import SqlChecklistRecords

if TYPE_CHECKING:
    from bot.app import Container

__all__ = ["CHECKLIST", "STEP_DONE", "RunbookLibrary", "install"]

STEP_DONE = ActionId.RUNBOOK_STEP_DONE  # the "Done" button


def install(container: Container) -> None:
    settings = container.settings
    library = RunbookLibrary(Path(getattr(settings, "runbooks_dir", None) or RUNBOOKS_DIR),
                             getattr(settings, "runbooks_base_url", None))
    container.features.runbooks = library
    checklists = Checklists(container.service, library, SqlChecklistRecords)
    container.service.reactions.on(IncidentDeclared, checklists.on_declared)
    container.dispatcher.handlers[CHECKLIST] = ChecklistDelivery(
        checklists, container.slack_client).deliver

    async def progress(incident: Incident) -> str | None:
        return progress_line(await checklists.checklist(incident.id))

    container.features.announcement_extras.append(progress)
    runbook_listeners.register(container.bolt, container.slack, checklists)
