"""The incident state machine (ARCHITECTURE.md), readable in one screen.

open -> investigating (acknowledge)        open|investigating -> mitigated
open|investigating|mitigated -> resolved   mitigated -> investigating (regressed)
resolved -> investigating (reopen)          resolved -> closed
closed is final.
"""

from __future__ import annotations

from datetime import datetime

from domain.model import DomainError, Incident, Status

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.INVESTIGATING, Status.MITIGATED, Status.RESOLVED}),
    Status.INVESTIGATING: frozenset({Status.MITIGATED, Status.RESOLVED}),
    Status.MITIGATED: frozenset({Status.INVESTIGATING, Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.INVESTIGATING, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}

# The verbs users type, and the status each one leads to.
VERB_TARGET: dict[str, Status] = {
    "ack": Status.INVESTIGATING,
    "mitigate": Status.MITIGATED,
    "resolve": Status.RESOLVED,
    "reopen": Status.INVESTIGATING,
    "close": Status.CLOSED,
}
_TARGET_VERB = {
    Status.MITIGATED: "mitigate",
    Status.RESOLVED: "resolve",
    Status.CLOSED: "close",
}


class IllegalTransition(DomainError):
    def __init__(self, incident: Incident, target: Status) -> None:
        allowed = allowed_verbs(incident.status)
        options = ", ".join(f"`{v}`" for v in allowed) if allowed else "none (closed is final)"
        super().__init__(
            f"{incident.key} is *{incident.status.value}*; it cannot move to "
            f"*{target.value}*. Allowed now: {options}."
        )


class AlreadyInState(DomainError):
    """The requested state is the current one: a double click or a repeated command."""


def target_for(incident: Incident, verb: str) -> Status:
    """The status ``verb`` asks for, given where ``incident`` is now: verbs are intents.

    ``ack`` means "I am on it" and applies only to an open incident; a stale Acknowledge (an old
    copy of the announcement, a click that raced a Resolve) must never reopen a resolved one, so
    on any later status it changes nothing and says where the incident is. Reopening is its own
    verb (``reopen``), legal from mitigated (regressed) and resolved.
    """
    current = incident.status
    if verb == "ack":
        if current is Status.OPEN:
            return Status.INVESTIGATING
        hint = " Use `reopen` to work on it again." if current in (
            Status.MITIGATED, Status.RESOLVED) else ""
        raise AlreadyInState(f"{incident.key} is already acknowledged: it is *{current.value}* "
                             f"now, so nothing changed.{hint}")
    if verb == "reopen":
        if current in (Status.MITIGATED, Status.RESOLVED):
            return Status.INVESTIGATING
        if current is Status.CLOSED:
            raise IllegalTransition(incident, Status.INVESTIGATING)
        raise AlreadyInState(f"{incident.key} is already *{current.value}*: nothing to reopen.")
    if verb not in VERB_TARGET:
        raise DomainError(f"`{verb}` is not a status verb; use one of "
                          f"{', '.join(f'`{v}`' for v in VERB_TARGET)}.")
    return VERB_TARGET[verb]


def verb_for(current: Status, target: Status) -> str:
    if target is Status.INVESTIGATING:
        return "ack" if current is Status.OPEN else "reopen"
    return _TARGET_VERB[target]


def allowed_verbs(current: Status) -> list[str]:
    return [verb_for(current, t) for t in sorted(ALLOWED[current], key=_order)]


def _order(status: Status) -> int:
    return list(Status).index(status)


def transition(incident: Incident, target: Status, at: datetime) -> Status:
    """Move ``incident`` to ``target`` at ``at`` and return the previous status.

    Sets ``acknowledged_at`` / ``mitigated_at`` / ``resolved_at`` / ``closed_at`` on entry; a
    skipped acknowledgement is recorded as acknowledged at that moment. Reopening clears
    ``resolved_at`` and ``mitigated_at`` so the clocks of the new episode start fresh.
    """
    previous = incident.status
    if target is previous:
        raise AlreadyInState(f"{incident.key} is already *{target.value}*.")
    if target not in ALLOWED[previous]:
        raise IllegalTransition(incident, target)
    if incident.acknowledged_at is None and target is not Status.OPEN:
        incident.acknowledged_at = at
    if target is Status.MITIGATED:
        incident.mitigated_at = at
    elif target is Status.RESOLVED:
        incident.resolved_at = at
        if incident.mitigated_at is None:
            incident.mitigated_at = at
    elif target is Status.CLOSED:
        incident.closed_at = at
    elif target is Status.INVESTIGATING and previous in (Status.RESOLVED, Status.MITIGATED):
        incident.resolved_at = None
        incident.mitigated_at = None
    incident.status = target
    incident.updated_at = at
    return previous
