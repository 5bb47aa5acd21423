"""The reactions table: which feature reacts to which incident event, in one place.

Features register in their ``install`` (``container.reactions.on(StatusChanged,
postmortems.on_status_changed)``); ``IncidentService`` runs the table for every event it emits,
inside the change's unit of work, so what a reaction writes (outbox rows for PagerDuty, a
runbook checklist, clock marks) commits with the change or not at all.

Reactions run in registration order (the order of ``bot/app.py`` ``FEATURES``), and a reaction
registered for :class:`~domain.events.IncidentEvent` sees every event. They never veto: a rule
that may refuse a change is a gate, asked before anything is written. A reaction that fails
rolls the whole change back, as any failure inside the transaction does, but its error is a
fault (:class:`ReactionFailed`), never a refusal shown to the user as a domain message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from domain.events import IncidentEvent
from domain.model import DomainError
from domain.ports import UnitOfWork

E = TypeVar("E", bound=IncidentEvent)
Reaction = Callable[[UnitOfWork, E], Awaitable[None]]


class ReactionFailed(RuntimeError):
    """A reaction raised a domain refusal: a bug (refusals belong in gates). The change it
    reacted to is rolled back."""


class Reactions:
    """Event type -> reactions, kept in registration order."""

    def __init__(self) -> None:
        self._table: list[tuple[type[IncidentEvent], Callable[[UnitOfWork, Any], Awaitable[None]]]] = []

    def on(self, event_type: type[E], reaction: Reaction[E]) -> None:
        """Run ``reaction(uow, event)`` for every ``event_type`` event (subclasses included)."""
        self._table.append((event_type, reaction))

    async def run(self, uow: UnitOfWork, event: IncidentEvent) -> None:
        """Every reaction to ``event``, in registration order, in the caller's unit of work."""
        for event_type, reaction in self._table:
            if isinstance(event, event_type):
                try:
                    await reaction(uow, event)
                except DomainError as exc:
                    raise ReactionFailed(f"{_name(reaction)} refused {type(event).__name__} "
                                         f"({exc}); refusals are gates, asked before the change"
                                         ) from exc

    def table(self) -> list[tuple[str, str]]:
        """(event type, reaction) pairs as names, in order: what reacts to what, readable."""
        return [(event_type.__name__, _name(reaction)) for event_type, reaction in self._table]


def _name(reaction: Callable[..., Any]) -> str:
    owner = getattr(reaction, "__self__", None)
    name = getattr(reaction, "__qualname__", None) or repr(reaction)
    return f"{type(owner).__name__}.{reaction.__name__}" if owner is not None else name
