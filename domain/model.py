"""The incident aggregate and the canonical enums of the data dictionary (seed 000).

Enum values are the lowercase strings the data dictionary stores; labels for humans
(``SEV-1``) are derived, never stored.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class DomainError(Exception):
    """A request the domain refuses; the message is shown to the user as is."""


class Severity(StrEnum):
    P1 = "p1"
    P2 = "p2"
    P3 = "p3"
    P4 = "p4"

    @property
    def label(self) -> str:
        return f"SEV-{self.value[1]}"

    @property
    def rank(self) -> int:
        """1 is the most severe."""
        return int(self.value[1])

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Accept ``p1``, ``P1``, ``sev1``, ``SEV-1``, ``sev 1``, ``1``; refuse anything else."""
        match = _SEVERITY_RE.fullmatch(text.strip())
        if not match:
            raise InvalidSeverity(text)
        return cls(f"p{match.group(1)}")


_SEVERITY_RE = re.compile(r"(?i)(?:p|sev[-_ ]?)?([1-4])")


class InvalidSeverity(DomainError):
    def __init__(self, text: str) -> None:
        super().__init__(
            f"Unknown severity `{text}`. Valid: P1, P2, P3, P4 (also p1, sev1, SEV-1)."
        )


class Status(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_active(self) -> bool:
        """Active incidents run SLO clocks; resolved and closed ones do not."""
        return self in (Status.OPEN, Status.INVESTIGATING, Status.MITIGATED)


class TriggerSource(StrEnum):
    MANUAL = "manual"
    AUTOMATED_DRIFT = "automated_drift"
    AUTOMATED_PERFORMANCE = "automated_performance"
    PAGERDUTY = "pagerduty"


class ModelStage(StrEnum):
    STAGING = "staging"
    PRODUCTION = "production"
    DEPRECATED = "deprecated"


class TimelineEventType(StrEnum):
    NOTE = "note"
    STATUS_CHANGE = "status_change"
    ESCALATION = "escalation"
    RUNBOOK_STEP_COMPLETED = "runbook_step_completed"
    AUTOMATED_ALERT = "automated_alert"


@dataclass(frozen=True)
class Actor:
    """Who did something: a Slack user (id ``U...``), an API caller (``api:NAME``, ``key:NAME``)
    or a service account (``drift-job``).

    ``roles`` are the governance role names the actor's credentials vouch for (an API token's
    or key's roles), which the RACI gate uses instead of asking who holds what; ``None``: the
    gate looks the roles up (Slack users) or, for automation, does not apply.
    """

    id: str
    name: str
    roles: frozenset[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        """The name comes from outside (Slack profiles, PagerDuty agents, Alertmanager
        receivers) and lands in the audit trail: no NULs or control characters (PostgreSQL
        refuses NULs, probe finding 19), and at most what its column holds."""
        from domain.text_boundary import strip_controls

        if isinstance(self.name, str):
            cleaned = strip_controls(self.name)[:255]
            if cleaned != self.name:
                object.__setattr__(self, "name", cleaned)

    @property
    def is_slack_user(self) -> bool:
        return bool(re.fullmatch(r"[UW][A-Z0-9]{2,}", self.id))


@dataclass
class MLModel:
    name: str
    version: str
    stage: ModelStage
    team: str
    registered_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    feature_store_ref: str | None = None
    model_card_url: str | None = None
    promoted_at: datetime | None = None
    labels: list[str] = field(default_factory=list)


@dataclass
class Incident:
    """The aggregate root. Status moves only through :mod:`domain.state_machine`."""

    number: int
    title: str
    severity: Severity
    status: Status
    model_id: uuid.UUID
    trigger_source: TriggerSource
    created_by: str
    created_at: datetime
    updated_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    description: str | None = None
    labels: list[str] = field(default_factory=list)
    assigned_to: str | None = None
    runbook_url: str | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    version: int = 1

    @property
    def key(self) -> str:
        return f"INC-{self.number}"

    def time_to_acknowledge(self) -> float | None:
        """Seconds from declaration to acknowledgement, if acknowledged."""
        if self.acknowledged_at is None:
            return None
        return (self.acknowledged_at - self.created_at).total_seconds()

    def time_to_mitigate(self) -> float | None:
        if self.mitigated_at is None:
            return None
        return (self.mitigated_at - self.created_at).total_seconds()

    def time_to_resolve(self) -> float | None:
        if self.resolved_at is None:
            return None
        return (self.resolved_at - self.created_at).total_seconds()


@dataclass
class TimelineEvent:
    incident_id: uuid.UUID
    event_type: TimelineEventType
    body: str
    author: str
    occurred_at: datetime
    created_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    author_name: str | None = None
    source_ref: str | None = None
    """Where it came from (``slack:C1:1700000000.000100``); unique, so a retried event is one note."""


@dataclass
class AuditEvent:
    """One audit record (GOV-001 section 7.1); also logged as a JSON line with log_type=audit."""

    occurred_at: datetime
    actor: str
    actor_name: str
    action: str
    resource_type: str
    resource_id: str
    details: dict
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    log_type: str = "audit"


def format_duration(seconds: float | None) -> str:
    """``3725`` -> ``1h 2m 5s``; short and readable in Slack."""
    if seconds is None:
        return "n/a"
    seconds = int(round(seconds))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return " ".join(parts)
