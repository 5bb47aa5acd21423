"""What happened to an incident, as typed domain events.

``IncidentService`` emits one event per change it commits (a declaration, a status or severity
change, a new commander, a note), after it has written the change and before it commits. The
event is audited (its :attr:`~IncidentEvent.action` and :meth:`~IncidentEvent.details` are the
audit row's) and handed to the reactions table (``domain/reactions.py``), where features react
to the fields they need instead of switching on audit action strings and dict keys.

An event describes a change already decided: reactions cannot refuse it (refusals are gates,
asked before anything is written: ``domain/services.py`` ``Gates``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from domain.model import Actor, Incident, Severity, Status


@dataclass(frozen=True)
class IncidentEvent:
    """A change to ``incident`` (as it is after the change) made by ``actor``."""

    action: ClassVar[str]  # the audit action the event is recorded as

    incident: Incident
    actor: Actor

    def details(self) -> dict[str, Any]:
        """The audit row's details (also the ``details`` of the API's outgoing webhooks)."""
        return {"number": self.incident.number}


@dataclass(frozen=True)
class IncidentDeclared(IncidentEvent):
    """A new incident, announced and given a channel in the same transaction."""

    action: ClassVar[str] = "incident.created"

    model_name: str

    def details(self) -> dict[str, Any]:
        i = self.incident
        return {"number": i.number, "title": i.title, "severity": i.severity.value,
                "model": self.model_name, "trigger_source": i.trigger_source.value,
                "status": Status.OPEN.value, "labels": i.labels}


@dataclass(frozen=True)
class StatusChanged(IncidentEvent):
    """The incident moved from ``previous`` to ``status`` (never the same)."""

    action: ClassVar[str] = "incident.status_updated"

    previous: Status
    status: Status
    reason: str | None = None
    duplicate_of: Incident | None = None  # resolved as a duplicate of this one (issue 19)

    @property
    def is_acknowledgement(self) -> bool:
        """Someone took it: open -> investigating."""
        return self.previous is Status.OPEN and self.status is Status.INVESTIGATING

    @property
    def is_reopen(self) -> bool:
        """Back to investigating from resolved or mitigated: a new episode of the incident."""
        return self.status is Status.INVESTIGATING and self.previous in (Status.RESOLVED,
                                                                          Status.MITIGATED)

    def details(self) -> dict[str, Any]:
        details: dict[str, Any] = {"number": self.incident.number, "from": self.previous.value,
                                   "to": self.status.value, "reason": self.reason}
        if self.duplicate_of is not None:
            details["duplicate_of"] = self.duplicate_of.number
        return details


@dataclass(frozen=True)
class SeverityChanged(IncidentEvent):
    action: ClassVar[str] = "incident.severity_changed"

    previous: Severity
    severity: Severity

    def details(self) -> dict[str, Any]:
        return {"number": self.incident.number, "from": self.previous.value,
                "to": self.severity.value}


@dataclass(frozen=True)
class CommanderAssigned(IncidentEvent):
    action: ClassVar[str] = "incident.assigned"

    previous: str | None  # the former commander's Slack id
    commander: str

    def details(self) -> dict[str, Any]:
        return {"number": self.incident.number, "from": self.previous, "to": self.commander}


@dataclass(frozen=True)
class NoteAdded(IncidentEvent):
    """A note on the timeline (its text stays there: the event carries only its length)."""

    action: ClassVar[str] = "incident.note_added"

    source_ref: str | None
    length: int

    def details(self) -> dict[str, Any]:
        return {"number": self.incident.number, "source_ref": self.source_ref,
                "length": self.length}
