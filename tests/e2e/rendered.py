"""What the end-to-end tests need to build an expected Slack text with the bot's own renderer
(``bot/slack_ui/``) instead of writing its words again: the incident as stored, a Slack user as
the actor the renderer names, and the fixed head of a text whose tail lists people.

The renderer's exact wording is pinned once, by its unit tests in ``tests/unit/bot/slack_ui/``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from bot.local.stack import LocalStack
from domain.model import Actor, Incident, Severity, Status, TriggerSource
from domain.services import IncidentRef

#: a user id no test uses: stands in for the people a text lists, to cut the text before them
_PLACEHOLDER = "U0PLACEHOLDER"
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


async def incident_of(stack: LocalStack, number: int, status: Status | None = None) -> Incident:
    """INC-``number`` as stored; with ``status``, as it was when it had that status (a text
    rendered earlier names the status of that moment)."""
    incident = (await stack.container.service.view(IncidentRef(number=number))).incident
    return dataclasses.replace(incident, status=status) if status is not None else incident


def slack_user(user_id: str) -> Actor:
    """A Slack user as the actor of a change (the renderer names them by mention)."""
    return Actor(user_id, user_id.lower())


def head_before_people(render: Callable[[list[str]], str]) -> str:
    """The part of ``render(people)`` before the people it lists (their order is the store's)."""
    return render([_PLACEHOLDER]).split(f"<@{_PLACEHOLDER}>")[0]


def incident_numbered(number: int, severity: Severity) -> Incident:
    """An INC-``number`` of ``severity`` outside any store, for a text the renderer builds from
    the key and the severity alone (a transcript's, say)."""
    return Incident(number=number, title="", severity=severity, status=Status.OPEN,
                    model_id=uuid.uuid4(), trigger_source=TriggerSource.MANUAL, created_by="",
                    created_at=_EPOCH, updated_at=_EPOCH)
