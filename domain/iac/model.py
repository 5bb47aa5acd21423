"""Normalized infrastructure drift (DriftGuard ``drift_events`` / ``drift_changes``).

Every parser (Terraform, CloudFormation, driftctl) produces these objects, so rules, triage,
storage and Slack rendering never see a tool's own format. Enum values are the lowercase
strings the DriftGuard schema (seed 003) stores. Values held here are already redacted: a
sensitive value is replaced by :data:`REDACTED` inside the parser, before anything else
sees it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.model import DomainError, Severity

REDACTED = "(sensitive)"
"""What a sensitive value becomes; never the value, never a hash of it."""

UNKNOWN_ENVIRONMENT = "unknown"


class DriftType(StrEnum):
    MODIFIED = "modified"
    DELETED = "deleted"
    ADDED = "added"
    MOVED = "moved"


class ChangeType(StrEnum):
    """Values of ``drift_changes.change_type`` in the DriftGuard schema."""

    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


class DriftSeverity(StrEnum):
    """Same words as DriftGuard's ``recommendations.priority``; ordered by :attr:`rank`."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (low) .. 3 (critical), so severities compare and combine."""
        return _SEVERITY_ORDER.index(self)

    @property
    def score(self) -> float:
        """``drift_events.severity_score`` (0..1) for this level."""
        return _SEVERITY_SCORE[self]

    @property
    def incident_severity(self) -> Severity:
        """The incident severity an Escalate opens with (critical -> P1 ... low -> P4)."""
        return _INCIDENT_SEVERITY[self]

    @classmethod
    def from_rank(cls, rank: int) -> DriftSeverity:
        return _SEVERITY_ORDER[max(0, min(rank, len(_SEVERITY_ORDER) - 1))]


_SEVERITY_ORDER = (DriftSeverity.LOW, DriftSeverity.MEDIUM, DriftSeverity.HIGH, DriftSeverity.CRITICAL)
_SEVERITY_SCORE = {
    DriftSeverity.LOW: 0.25,
    DriftSeverity.MEDIUM: 0.5,
    DriftSeverity.HIGH: 0.75,
    DriftSeverity.CRITICAL: 0.95,
}
_INCIDENT_SEVERITY = {
    DriftSeverity.CRITICAL: Severity.P1,
    DriftSeverity.HIGH: Severity.P2,
    DriftSeverity.MEDIUM: Severity.P3,
    DriftSeverity.LOW: Severity.P4,
}


class IacTool(StrEnum):
    """``iac_repositories.tool`` in the DriftGuard schema."""

    TERRAFORM = "terraform"
    CLOUDFORMATION = "cloudformation"


class SourceFormat(StrEnum):
    """The document shape a report was parsed from (auto-detected from content)."""

    TERRAFORM_PLAN_JSON = "terraform_plan_json"
    HCP_TERRAFORM_REDACTED_PLAN = "hcp_terraform_redacted_plan"
    """HCP Terraform's redacted plan JSON (``plan_format_version``): what run tasks receive."""
    TERRAFORM_PLAN_STREAM = "terraform_plan_json_stream"
    """``terraform plan -json``: the machine-readable UI, one JSON message per line."""
    CFN_STACK_RESOURCE_DRIFTS = "cloudformation_stack_resource_drifts"
    CFN_STACK_DRIFT_DETECTION_STATUS = "cloudformation_stack_drift_detection_status"
    DRIFTCTL_SCAN_JSON = "driftctl_scan_json"


class CauseCategory(StrEnum):
    """The subset of DriftGuard's ``drift_cause_analysis.cause_category`` the bot assigns."""

    EMERGENCY_FIX = "emergency_fix"
    UNKNOWN = "unknown"


class RecommendationType(StrEnum):
    """DriftGuard's ``recommendations.recommendation_type``; :attr:`label` is the button text."""

    AUTO_REVERT = "auto_revert"
    CODIFY_IAC = "codify_iac"
    ACCEPT_EXCEPTION = "accept_exception"
    ESCALATE_REVIEW = "escalate_review"
    MANUAL_REVIEW = "manual_review"

    @property
    def label(self) -> str:
        return _RECOMMENDATION_LABELS[self]


_RECOMMENDATION_LABELS = {
    RecommendationType.AUTO_REVERT: "Revert",
    RecommendationType.CODIFY_IAC: "Codify in IaC",
    RecommendationType.ACCEPT_EXCEPTION: "Accept exception",
    RecommendationType.ESCALATE_REVIEW: "Escalate",
    RecommendationType.MANUAL_REVIEW: "Manual review",
}


class IacInputError(DomainError):
    """A drift report the bot cannot read; the message says what was found and what is accepted."""


class UnsupportedFormat(IacInputError):
    """Recognisable content in a format the bot deliberately does not ingest."""


class UnsupportedFormatVersion(IacInputError):
    """A known format with a major version this parser was not written for."""


class MalformedInput(IacInputError):
    """Not JSON, or JSON whose structure breaks the format's documented shape."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RuleHit(_Frozen):
    """One security rule that fired; ``message`` is the human sentence shown in Slack."""

    rule_id: str
    title: str
    level: DriftSeverity
    path: str
    """RFC 6901 pointer into the resource where the rule fired (``""`` = whole resource)."""
    message: str


class DriftChange(_Frozen):
    """One attribute that differs (DriftGuard ``drift_changes``)."""

    path: str
    """RFC 6901 JSON pointer (``~`` -> ``~0``, ``/`` -> ``~1``); ``""`` is the whole resource."""
    declared: Any = None
    actual: Any = None
    change_type: ChangeType
    sensitive: bool = False
    is_security_critical: bool = False
    rule_ids: tuple[str, ...] = ()


class DriftEvent(_Frozen):
    """One drifted resource, classified (rules and severity) but not yet triaged for cause."""

    fingerprint: str
    """Stable identity of "this drift": same tool, scope, environment, address and type."""
    change_signature: str
    """Hash of the (redacted) changes: equal means nothing new to tell Slack."""
    source_format: SourceFormat
    tool: IacTool
    drift_type: DriftType
    resource_address: str
    resource_type: str
    provider: str
    """Short provider name (``aws``, ``google``, ``test``); the full source is in ``metadata``."""
    previous_address: str | None = None
    physical_id: str | None = None
    scope: str | None = None
    """Where the address is unique: CloudFormation ``account:region:stack``, or a caller's scope."""
    environment: str = "unknown"
    environment_source: str = "none found"
    declared_state: dict[str, Any] | None = None
    actual_state: dict[str, Any] | None = None
    changes: tuple[DriftChange, ...] = ()
    rule_hits: tuple[RuleHit, ...] = ()
    severity: DriftSeverity
    severity_score: float
    severity_reasons: tuple[str, ...] = ()
    confidence: float
    """How sure the bot is this is real drift (1.0 = the IaC tool itself said so)."""
    needs_manual_review: bool = False
    review_reasons: tuple[str, ...] = ()
    detected_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_security_critical(self) -> bool:
        return bool(self.rule_hits)

    @property
    def title(self) -> str:
        """Short line for a Slack header or a log: ``modified aws_security_group.x (prod)``."""
        return f"{self.drift_type.value} {self.resource_address} ({self.environment})"


class ParseResult(_Frozen):
    """What one drift report contained, before cause triage."""

    source_format: SourceFormat
    tool: IacTool
    format_version: str | None = None
    rules_version: str
    events: tuple[DriftEvent, ...] = ()
    notices: tuple[str, ...] = ()
    """Facts worth telling a human that are not drift events (stack-level status, skipped items)."""
    ignored: dict[str, int] = Field(default_factory=dict)
    """Counts of entries that were read and deliberately not turned into events (e.g. ``in_sync``)."""
    incomplete: tuple[str, ...] = ()
    """The notices saying this report may not show all drift (an errored plan, only the first
    page, resources not scanned); Slack is told, since they change what was seen."""


class IncidentWindow(_Frozen):
    """An open (or recent) incident offered as evidence when guessing a drift's cause."""

    key: str
    title: str = ""
    started_at: datetime
    ended_at: datetime | None = None
    environment: str | None = None


class CauseAssessment(_Frozen):
    category: CauseCategory
    confidence: float
    evidence: tuple[str, ...]
    """Sentences saying what evidence was used (or that there was none)."""
    related_incidents: tuple[str, ...] = ()


class Recommendation(_Frozen):
    """One DriftGuard recommendation; the bot shows it, a human acts on it."""

    type: RecommendationType
    label: str
    priority: DriftSeverity
    confidence: float
    preferred: bool = False
    rationale: str
    steps: tuple[str, ...] = ()
    command: str | None = None
    """The exact command to copy (Revert); the bot never runs it."""
    requires: tuple[str, ...] = ()
    """Inputs the human must give when choosing it (``reason``, ``expires_at``, ...)."""
    estimated_effort: str = "minutes"
    incident_severity: Severity | None = None
    """For Escalate: the severity of the incident it opens."""


class Triage(_Frozen):
    cause: CauseAssessment
    recommendations: tuple[Recommendation, ...]
    summary: str


class TriagedDrift(_Frozen):
    event: DriftEvent
    triage: Triage


class IngestReport(_Frozen):
    """Parse + triage of one report; what ``incident-bot iac ingest`` prints and will persist."""

    source_name: str | None = None
    source_format: SourceFormat
    tool: IacTool
    format_version: str | None = None
    rules_version: str
    items: tuple[TriagedDrift, ...] = ()
    notices: tuple[str, ...] = ()
    ignored: dict[str, int] = Field(default_factory=dict)
    incomplete: tuple[str, ...] = ()
