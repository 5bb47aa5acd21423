"""The incident state machine (ARCHITECTURE.md), readable in one screen.

open -> investigating (acknowledge)        open|investigating -> mitigated
open|investigating|mitigated -> resolved   mitigated -> investigating (regressed)
resolved -> investigating (reopen)          resolved -> closed
closed is final.

A refusal carries its facts (the incident's key, where it is, what was asked); the incident
service says it with its renderer (``Messages.illegal_transition`` / ``already_in_state``: Slack's
in ``bot/slack_ui/messages.py``). Its own message, for callers without one, is in plain words.
"""

from __future__ import annotations

from collections.abc import Callable
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


# How a renderer sets off a status in a sentence (Slack: bold); plain words leave it as is
Emphasis = Callable[[str], str]


def _as_is(word: str) -> str:
    return word


class IllegalTransition(DomainError):
    """``key`` is ``current`` and cannot move to ``target``; ``allowed``: the verbs it can take
    now. ``text``: the refusal as the caller's renderer says it (default: plain words)."""

    def __init__(self, incident: Incident, target: Status, text: str | None = None) -> None:
        self.key = incident.key
        self.current = incident.status
        self.target = target
        self.allowed = allowed_verbs(incident.status)
        super().__init__(text or self.said())

    def said(self, emphasis: Emphasis = _as_is) -> str:
        """The refusal in words, each status set off by ``emphasis``."""
        return (f"{self.key} is {emphasis(self.current.value)}; it cannot move to "
                f"{emphasis(self.target.value)}. Allowed now: {allowed_options(self.allowed)}.")


class AlreadyInState(DomainError):
    """The requested state is the current one: a double click or a repeated command.

    ``verb``: what was asked, when it explains the answer (``ack`` of an incident already
    acknowledged, ``reopen`` of one still being worked on), else None (the status itself)."""

    def __init__(self, incident: Incident, verb: str | None = None) -> None:
        self.key = incident.key
        self.current = incident.status
        self.verb = verb
        super().__init__(self.said())

    @property
    def reopen_hint(self) -> bool:
        """An ``ack`` of a mitigated or resolved incident: ``reopen`` is what was meant."""
        return self.verb == "ack" and self.current in (Status.MITIGATED, Status.RESOLVED)

    def said(self, emphasis: Emphasis = _as_is) -> str:
        """The answer in words, the status set off by ``emphasis``."""
        status = emphasis(self.current.value)
        if self.verb == "ack":
            hint = " Use `reopen` to work on it again." if self.reopen_hint else ""
            return f"{self.key} is already acknowledged: it is {status} now, so nothing changed.{hint}"
        if self.verb == "reopen":
            return f"{self.key} is already {status}: nothing to reopen."
        return f"{self.key} is already {status}."


def allowed_options(allowed: list[str]) -> str:
    """The verbs an incident can take now, as a refusal lists them."""
    return ", ".join(f"`{v}`" for v in allowed) if allowed else "none (closed is final)"


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
        raise AlreadyInState(incident, "ack")
    if verb == "reopen":
        if current in (Status.MITIGATED, Status.RESOLVED):
            return Status.INVESTIGATING
        if current is Status.CLOSED:
            raise IllegalTransition(incident, Status.INVESTIGATING)
        raise AlreadyInState(incident, "reopen")
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
        raise AlreadyInState(incident)
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
