"""Severity policy as data. The built-in default is the governance policy GOV-001 (seed 001).

Every duration is a value here, so a test can run a whole SEV-1 cadence in seconds.
Durations accept ``30s``, ``5m``, ``2h``, ``14d``, ``1h30m``, ``0.5s`` or a number of seconds;
``none`` (or YAML ``off`` / ``false`` / ``null``) means "no target". The YAML file format and
its error messages live in ``bot/policy_loader.py``; this module holds no I/O.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from domain.model import InvalidSeverity, Severity

_DURATION_RE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")
_SECONDS_RE = re.compile(r"\d+(?:\.\d+)?")
_DURATION_HINT = "use e.g. 30s, 5m, 2h, 14d or 1h30m (or none)"
_MAX_DURATION = timedelta(days=3650)  # ten years: anything longer is a typo, not a target


def parse_duration(value: object) -> timedelta | None:
    """Parse ``30s`` / ``5m`` / ``2h`` / ``14d`` / ``1h30m`` / seconds; ``None``/``none`` is no target.

    Zero and negative durations are refused: a zero cadence would remind on every tick.
    """
    if value is None or value is False:
        return None
    if isinstance(value, timedelta):
        result = value
    elif value is True:
        raise ValueError(f"'true' is not a duration; {_DURATION_HINT}")
    elif isinstance(value, int | float):
        if not math.isfinite(value) or abs(value) > _MAX_DURATION.total_seconds():
            raise ValueError(f"'{value}' is not a usable duration; {_DURATION_HINT}")
        result = timedelta(seconds=value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        if text in ("", "none", "null", "off", "no", "~"):
            return None
        if _SECONDS_RE.fullmatch(text):
            result = timedelta(seconds=float(text))
        else:
            match = _DURATION_RE.fullmatch(text)
            if not match or not any(match.groups()):
                raise ValueError(f"'{value}' is not a duration; {_DURATION_HINT}")
            d, h, m = (int(g) if g else 0 for g in match.groups()[:3])
            s = float(match.group(4) or 0)
            result = timedelta(days=d, hours=h, minutes=m, seconds=s)
    if result <= timedelta(0):
        raise ValueError(f"'{value}' must be longer than zero; use none for no target")
    if result > _MAX_DURATION:
        raise ValueError(f"'{value}' is longer than ten years; {_DURATION_HINT}")
    return result


def format_policy_duration(value: timedelta | None) -> str:
    """The inverse of :func:`parse_duration` in a whole unit (``90m``, ``2h``, ``48h``, ``14d``)."""
    if value is None:
        return "none"
    if value.microseconds:
        return f"{value.total_seconds():g}s"
    total = int(value.total_seconds())
    if total > 72 * 3600 and total % 86400 == 0:  # 48h and 72h read as GOV-001 writes them
        return f"{total // 86400}d"
    for unit, size in (("h", 3600), ("m", 60)):
        if total >= size and total % size == 0:
            return f"{total // size}{unit}"
    return f"{total}s"


def _parse_severity(value: object) -> object:
    """Accept ``p1`` / ``SEV-1`` / ``sev1`` / ``1`` wherever a severity is a value."""
    if isinstance(value, Severity):
        return value
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return Severity.parse(str(value))
        except InvalidSeverity as exc:
            raise ValueError(f"'{value}' is not a severity; use p1, p2, p3 or p4 "
                             "(SEV-1 and sev1 are accepted too)") from exc
    return value


SeverityValue = Annotated[Severity, BeforeValidator(_parse_severity)]

# Slack user / bot ids (U..., W...), user-group ids (S...) or user-group handles (@ml-platform-lead).
_NOTIFY_RE = re.compile(r"[UWS][A-Z0-9]{2,}|@[a-z0-9][a-z0-9._-]*")


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a policy must never silently disable a clock."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EscalationStep(_Strict):
    """After ``after`` without mitigation, mention and invite ``notify`` (user ids or @handles)."""

    after: timedelta
    notify: list[str] = Field(min_length=1)
    reason: str = "not mitigated"

    _parse_after = field_validator("after", mode="before")(parse_duration)

    @field_validator("notify", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("notify")
    @classmethod
    def _slack_targets(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _NOTIFY_RE.fullmatch(item):
                raise ValueError(f"'{item}' is neither a Slack user id (U0123ABC) nor a user-group "
                                 "handle (@ml-platform-lead)")
        return value


class SeverityRule(_Strict):
    """Targets for one severity, all measured from the start of the incident's current episode."""

    ack: timedelta | None = None
    mitigate: timedelta | None = None
    resolve: timedelta | None = None
    update_cadence: timedelta | None = None
    commander_within: timedelta | None = None
    escalation: list[EscalationStep] = Field(default_factory=list)
    postmortem: Literal["required", "recommended", "not_required"] = "not_required"
    postmortem_within: timedelta | None = None

    _parse = field_validator(
        "ack", "mitigate", "resolve", "update_cadence", "commander_within", "postmortem_within",
        mode="before",
    )(parse_duration)

    @field_validator("escalation")
    @classmethod
    def _ascending(cls, steps: list[EscalationStep]) -> list[EscalationStep]:
        """Step indexes are part of the fired-timer keys, so their order must be unambiguous."""
        for earlier, later in zip(steps, steps[1:], strict=False):
            if later.after <= earlier.after:
                raise ValueError("escalation steps must be listed in increasing order of 'after' "
                                 f"({format_policy_duration(later.after)} comes after "
                                 f"{format_policy_duration(earlier.after)})")
        return steps

    def deadline(self, kind: Literal["ack", "mitigate", "resolve"], start: datetime) -> datetime | None:
        target = getattr(self, kind)
        return None if target is None else start + target


class DriftSeverities(_Strict):
    """Severity of a drift incident (data dictionary triggers; overridable per policy)."""

    critical_labels: list[str] = Field(default_factory=lambda: ["revenue-critical"])
    critical_labelled: SeverityValue = Severity.P2
    """Composite PSI above ``psi_critical`` on a model carrying one of ``critical_labels``."""
    critical: SeverityValue = Severity.P3
    """Composite PSI above ``psi_critical`` on any other model."""
    warn: SeverityValue = Severity.P3
    """Composite PSI above ``psi_warn`` and at most ``psi_critical``."""
    detected: SeverityValue | None = Severity.P4
    """Drift detected below that (a feature PSI above warn, or KS p below threshold); None: no incident."""


class DriftThresholds(_Strict):
    psi_warn: float = Field(default=0.15, gt=0)
    psi_critical: float = Field(default=0.25, gt=0)
    ks_p_value: float = Field(default=0.05, gt=0, lt=1)
    severity: DriftSeverities = DriftSeverities()

    @model_validator(mode="after")
    def _ordered(self) -> DriftThresholds:
        if self.psi_critical < self.psi_warn:
            raise ValueError(f"psi_critical ({self.psi_critical}) must not be below psi_warn "
                             f"({self.psi_warn})")
        return self

    def severity_for(self, psi_composite: float, drift_detected: bool,
                     labels: list[str] | tuple[str, ...] = ()) -> Severity | None:
        """The severity a drift assessment opens (or raises) an incident at; None: no incident."""
        tiers = self.severity
        if psi_composite > self.psi_critical:
            critical = any(label in tiers.critical_labels for label in labels)
            return tiers.critical_labelled if critical else tiers.critical
        if psi_composite > self.psi_warn:
            return tiers.warn
        return tiers.detected if drift_detected else None


def _default_priorities() -> dict[str, Severity]:
    return {"P1": Severity.P1, "P2": Severity.P2, "P3": Severity.P3, "P4": Severity.P4,
            "P5": Severity.P4}


def _default_urgencies() -> dict[str, Severity]:
    return {"high": Severity.P2, "low": Severity.P3}


class PagerDutySeverity(_Strict):
    """PagerDuty priority (by name) or, without one, urgency -> our severity. Names match case-blind."""

    priorities: dict[str, SeverityValue] = Field(default_factory=_default_priorities)
    urgencies: dict[str, SeverityValue] = Field(default_factory=_default_urgencies)
    default: SeverityValue = Severity.P3

    def severity_for(self, priority: str | None, urgency: str | None = None) -> Severity:
        """Priority wins over urgency (it is the more specific signal); unknown names fall back."""
        for table, name in ((self.priorities, priority), (self.urgencies, urgency)):
            if name:
                wanted = name.strip().casefold()
                for key, severity in table.items():
                    if key.casefold() == wanted:
                        return severity
        return self.default


_CRON_FIELD = re.compile(r"[0-9*,/\-A-Za-z]+")


class DigestSchedule(_Strict):
    """The weekly digest into the incidents channel (issue 21): a crontab line in UTC
    (default Mondays 09:00), or ``enabled: false``."""

    enabled: bool = True
    cron: str = "0 9 * * 1"

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
            raise ValueError(f"'{value}' is not a crontab line (minute hour day month weekday, "
                             "e.g. \"0 9 * * 1\" for Mondays 09:00 UTC)")
        return value


COMMANDER_ROLE = "commander"  # the Incident Commander: always a role, stored as incidents.assigned_to
COMMS_ROLE = "comms"  # stakeholder communications: the update reminder pings its holder
_ROLE_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,23}")
_RESERVED_ROLE_NAMES = frozenset({"me", "none", "help"})  # words of `/incident role <role> me|none`
MAX_ROLES = 20


def _role_name(value: str) -> str:
    """Role names are typed in `/incident role <name> @user`: one short lowercase word."""
    if not _ROLE_NAME_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a role name; use one lowercase word of letters, digits, "
                         "'-' or '_' (at most 24 characters), e.g. comms")
    if value in _RESERVED_ROLE_NAMES:
        raise ValueError(f"'{value}' cannot name a role: `/incident role <role> {value}` would "
                         "read it as a person")
    return value


RoleName = Annotated[str, AfterValidator(_role_name)]


class RoleSpec(_Strict):
    """One incident role (issue 19): how Slack shows it, and one line on what its holder does."""

    label: str = Field(min_length=1, max_length=40)
    description: str = Field(default="", max_length=150)

    @field_validator("label", "description")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value.strip():
            raise ValueError("must be one line")
        return value.strip()


def default_roles() -> dict[str, RoleSpec]:
    """GOV-001's RACI roles inside an incident: the Incident Commander (section 8), the
    stakeholder communications lead (RACI row "Stakeholder communications") and a scribe."""
    return {
        COMMANDER_ROLE: RoleSpec(label="Incident Commander",
                                 description="Leads the response and owns its decisions"),
        COMMS_ROLE: RoleSpec(label="Communications lead",
                             description="Posts the stakeholder updates on the update cadence"),
        "scribe": RoleSpec(label="Scribe",
                           description="Keeps the timeline, notes, decisions and their times"),
    }


class Policy(_Strict):
    name: str = "GOV-001"
    description: str | None = None
    severities: dict[Severity, SeverityRule]
    drift: DriftThresholds = DriftThresholds()
    pagerduty_severity: PagerDutySeverity = PagerDutySeverity()
    digest: DigestSchedule = DigestSchedule()
    roles: dict[RoleName, RoleSpec] = Field(default_factory=default_roles)

    @field_validator("roles")
    @classmethod
    def _commander_first(cls, roles: dict[str, RoleSpec]) -> dict[str, RoleSpec]:
        """The Incident Commander is always a role (GOV-001 section 8), listed or not."""
        if len(roles) > MAX_ROLES:
            raise ValueError(f"{len(roles)} roles listed; at most {MAX_ROLES} fit Slack's menu")
        commander = roles.get(COMMANDER_ROLE) or default_roles()[COMMANDER_ROLE]
        return {COMMANDER_ROLE: commander, **{k: v for k, v in roles.items() if k != COMMANDER_ROLE}}

    @field_validator("severities", mode="before")
    @classmethod
    def _severity_keys(cls, value: object) -> object:
        """Accept ``p1`` / ``SEV-1`` / ``sev1`` keys; unknown keys are left for pydantic to refuse."""
        if not isinstance(value, dict):
            return value
        out: dict[object, object] = {}
        for key, rule in value.items():
            try:
                canonical: object = _parse_severity(key)
            except ValueError:
                canonical = key
            if canonical in out:
                raise ValueError(f"severity {canonical} is listed twice")
            out[canonical] = rule
        return out

    def rule(self, severity: Severity) -> SeverityRule:
        return self.severities.get(severity, _NO_TARGETS)


_NO_TARGETS = SeverityRule()

ML_PLATFORM_LEAD = "@ml-platform-lead"
VP_ENGINEERING = "@vp-engineering"
SRE_LEAD = "@sre-lead"


def default_policy() -> Policy:
    """GOV-001 section 3, with ARCHITECTURE.md's defaults where the policy is silent."""
    return Policy(
        description="Governance policy GOV-001 v2.0.0, sections 3 and 8",
        severities={
            Severity.P1: SeverityRule(
                ack="5m", mitigate="30m", resolve="4h", update_cadence="15m",
                commander_within="5m",
                escalation=[EscalationStep(after="30m", notify=[ML_PLATFORM_LEAD, VP_ENGINEERING])],
                postmortem="required", postmortem_within="48h",
            ),
            Severity.P2: SeverityRule(
                ack="15m", mitigate="2h", resolve="24h", update_cadence="60m",
                commander_within="5m",
                escalation=[EscalationStep(after="2h", notify=[ML_PLATFORM_LEAD])],
                postmortem="required", postmortem_within="7d",
            ),
            Severity.P3: SeverityRule(
                ack="1h", mitigate="8h", resolve="72h",
                escalation=[EscalationStep(after="8h", notify=[SRE_LEAD])],
                postmortem="recommended",
            ),
            Severity.P4: SeverityRule(ack="4h", resolve="14d"),
        }
    )
