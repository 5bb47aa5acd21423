"""Accepted drift (a re-baseline with a reason and an expiry) and snoozed drift alerts.

Accepting drift makes the drift job compare against the window that drifted (the current one
becomes the reference) until the acceptance expires; drift beyond the thresholds against that
new reference opens an incident as before, so the question comes back on its own. A snooze
silences a model's drift alerts for a bounded time (a maintenance window); assessments are still
recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.model import DomainError
from domain.policy import parse_duration

MAX_SNOOZE = timedelta(days=7)
MAX_ACCEPTANCE = timedelta(days=90)


@dataclass
class DriftAcceptance:
    model: str
    reason: str
    accepted_by: str
    accepted_by_name: str
    accepted_at: datetime
    expires_at: datetime
    reference_start: datetime | None = None  # SQL sources: the window that becomes the reference
    reference_end: datetime | None = None
    reference_path: str | None = None  # file sources: a copy of the current file
    psi_at_acceptance: float | None = None
    incident_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def active(self, now: datetime) -> bool:
        return self.accepted_at <= now < self.expires_at


@dataclass
class DriftSnooze:
    model: str
    reason: str
    snoozed_by: str
    snoozed_by_name: str
    snoozed_at: datetime
    until: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def active(self, now: datetime) -> bool:
        return self.snoozed_at <= now < self.until


def bounded(text: str, longest: timedelta, what: str) -> timedelta:
    """A duration the user typed (``4h``, ``2d``), refused when absent or past ``longest``."""
    try:
        duration = parse_duration(text)
    except ValueError as exc:
        raise DomainError(f"{what}: {exc}") from exc
    if duration is None:
        raise DomainError(f"{what}: give a duration such as 4h or 2d.")
    if duration > longest:
        raise DomainError(f"{what}: at most {_days(longest)}; `{text}` is longer.")
    return duration


def require_reason(reason: str, what: str) -> str:
    cleaned = " ".join(reason.split())
    if len(cleaned) < 3:
        raise DomainError(f"{what} needs a reason (it is audited).")
    return cleaned[:1000]


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:g} days" if days >= 1 else f"{delta.total_seconds() / 3600:g} hours"
