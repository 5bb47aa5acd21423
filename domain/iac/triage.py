"""Triage of one drift event: severity, likely cause, and the DriftGuard recommendations.

The bot never changes the cloud: every recommendation is text and commands for a human.
The numbers (confidences, severity table) are heuristics kept in one place so a reviewer can
argue with them; every decision comes with sentences saying why.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from domain.iac.model import (
    REDACTED,
    UNKNOWN_ENVIRONMENT,
    CauseAssessment,
    CauseCategory,
    ChangeType,
    DriftChange,
    DriftEvent,
    DriftSeverity,
    DriftType,
    IacTool,
    IncidentWindow,
    Recommendation,
    RecommendationType,
    RuleHit,
    Triage,
)
from domain.iac.normalize import split_pointer

DEFAULT_LOOKBACK = timedelta(hours=24)
MAX_STEPS = 15

# --- severity -------------------------------------------------------------------------------

# Security rule level -> event severity, per environment. Unknown environments are treated
# like production (no downgrade): an unlabelled resource is not presumed harmless.
_SECURITY_TABLE: dict[str, dict[DriftSeverity, DriftSeverity]] = {
    "prod": {
        DriftSeverity.CRITICAL: DriftSeverity.CRITICAL,
        DriftSeverity.HIGH: DriftSeverity.CRITICAL,
        DriftSeverity.MEDIUM: DriftSeverity.HIGH,
    },
    UNKNOWN_ENVIRONMENT: {
        DriftSeverity.CRITICAL: DriftSeverity.CRITICAL,
        DriftSeverity.HIGH: DriftSeverity.HIGH,
        DriftSeverity.MEDIUM: DriftSeverity.MEDIUM,
    },
    "staging": {
        DriftSeverity.CRITICAL: DriftSeverity.HIGH,
        DriftSeverity.HIGH: DriftSeverity.HIGH,
        DriftSeverity.MEDIUM: DriftSeverity.MEDIUM,
    },
    "lower": {
        DriftSeverity.CRITICAL: DriftSeverity.HIGH,
        DriftSeverity.HIGH: DriftSeverity.MEDIUM,
        DriftSeverity.MEDIUM: DriftSeverity.LOW,
    },
}
# Non-security drift: (deleted?, environment class) -> severity.
_PLAIN_TABLE: dict[tuple[bool, str], DriftSeverity] = {
    (False, "prod"): DriftSeverity.MEDIUM,
    (True, "prod"): DriftSeverity.HIGH,
    (False, UNKNOWN_ENVIRONMENT): DriftSeverity.LOW,
    (True, UNKNOWN_ENVIRONMENT): DriftSeverity.MEDIUM,
    (False, "staging"): DriftSeverity.LOW,
    (True, "staging"): DriftSeverity.MEDIUM,
    (False, "lower"): DriftSeverity.LOW,
    (True, "lower"): DriftSeverity.LOW,
}


def _env_class(environment: str) -> str:
    if environment in ("prod", "staging", UNKNOWN_ENVIRONMENT):
        return environment
    return "lower"  # dev, test and any other named environment


def assess_severity(
    hits: Sequence[RuleHit],
    environment: str,
    drift_type: DriftType,
    *,
    needs_manual_review: bool = False,
) -> tuple[DriftSeverity, list[str]]:
    """Severity from the strongest rule hit and the environment, with the reasons in words."""
    env_class = _env_class(environment)
    if hits:
        top = max(hits, key=lambda h: h.level.rank)
        severity = _SECURITY_TABLE[env_class][top.level]
        return severity, [
            f"Security rule {top.rule_id} ({top.level.value}) fired"
            + (f" with {len(hits) - 1} other hit(s)" if len(hits) > 1 else "")
            + f"; in environment {environment} that makes it {severity.value}."
        ]
    if needs_manual_review:
        severity = DriftSeverity.MEDIUM if env_class in ("prod", UNKNOWN_ENVIRONMENT) else DriftSeverity.LOW
        return severity, [
            f"The report could not say whether this resource drifted; manual review in "
            f"environment {environment} is {severity.value}."
        ]
    if drift_type is DriftType.MOVED:
        return DriftSeverity.LOW, [
            "Only the address moved (a refactoring in IaC); nothing changed in the cloud."
        ]
    severity = _PLAIN_TABLE[(drift_type is DriftType.DELETED, env_class)]
    what = "A deleted resource" if drift_type is DriftType.DELETED else f"A {drift_type.value} resource"
    return severity, [f"No security rule fired. {what} in environment {environment} is {severity.value}."]


# --- cause ----------------------------------------------------------------------------------


def _fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%d %H:%M %Z").strip()


def assess_cause(
    event: DriftEvent,
    incidents: Sequence[IncidentWindow] = (),
    *,
    now: datetime,
    since: datetime | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> CauseAssessment:
    """``unknown`` unless an incident overlaps the window in which the drift happened.

    The window ends when the drift was detected (or ``now``) and starts at ``since`` (the last
    clean scan, when the caller knows it) or ``lookback`` earlier. An overlapping incident in a
    compatible environment makes an ``emergency_fix`` *candidate*: a time overlap is weak
    evidence, so the confidence stays at or below 0.6.
    """
    end = event.detected_at or now
    start = since or end - lookback
    window_text = (
        f"drift window {_fmt(start)} to {_fmt(end)} "
        f"({'since the last clean scan' if since else f'{lookback} lookback'})"
    )
    if not incidents:
        return CauseAssessment(
            category=CauseCategory.UNKNOWN,
            confidence=0.0,
            evidence=(f"No open incidents were supplied as evidence; cause unknown ({window_text}).",),
        )
    evidence: list[str] = []
    related: list[IncidentWindow] = []
    for inc in incidents:
        inc_end = inc.ended_at or now
        if not (inc.started_at <= end and inc_end >= start):
            continue
        if (
            inc.environment
            and event.environment != UNKNOWN_ENVIRONMENT
            and inc.environment != event.environment
        ):
            evidence.append(
                f"{inc.key} overlaps in time but is in environment {inc.environment}, "
                f"not {event.environment}; not counted."
            )
            continue
        related.append(inc)
    if not related:
        evidence.insert(
            0, f"Checked {len(incidents)} incident(s): none overlaps the {window_text}; cause unknown."
        )
        return CauseAssessment(category=CauseCategory.UNKNOWN, confidence=0.0, evidence=tuple(evidence))
    confidence = 0.5 if len(related) == 1 else 0.4
    if any(inc.environment and inc.environment == event.environment for inc in related):
        confidence += 0.1
    for inc in related:
        span = f"{_fmt(inc.started_at)} to {_fmt(inc.ended_at) if inc.ended_at else 'ongoing'}"
        title = f' "{inc.title}"' if inc.title else ""
        evidence.insert(0, f"{inc.key}{title} ({span}) overlaps the {window_text}.")
    evidence.append(
        "A time overlap is the only evidence: confirm with the incident's responders "
        "before treating the drift as an emergency fix."
    )
    return CauseAssessment(
        category=CauseCategory.EMERGENCY_FIX,
        confidence=round(confidence, 2),
        evidence=tuple(evidence),
        related_incidents=tuple(inc.key for inc in related),
    )


# --- recommendations ------------------------------------------------------------------------


def _value(value: Any) -> str:
    if value == REDACTED:
        return REDACTED
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def _attr(path: str, tool: IacTool) -> str:
    """``/ingress/1/cidr_blocks`` -> ``ingress[1].cidr_blocks`` (TF) / ``ingress.1.cidr_blocks`` (CFN)."""
    out = ""
    for token in split_pointer(path):
        if token.isdigit() and tool is IacTool.TERRAFORM:
            out += f"[{token}]"
        else:
            out += ("." if out else "") + token
    return out or "(whole resource)"


def _codify_line(change: DriftChange, tool: IacTool) -> str:
    attr = _attr(change.path, tool)
    if change.sensitive or change.actual == REDACTED:
        return (
            f"set `{attr}` to the value now in the cloud (sensitive: take it from your secret store, "
            "not from this message)"
        )
    if change.change_type is ChangeType.REMOVED:
        return f"remove `{attr}` (declared {_value(change.declared)}, no longer present)"
    if change.change_type is ChangeType.ADDED:
        return f"add `{attr}` = {_value(change.actual)}"
    return f"set `{attr}` = {_value(change.actual)} (declared {_value(change.declared)})"


def _limit(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_STEPS:
        return lines
    return [*lines[:MAX_STEPS], f"... and {len(lines) - MAX_STEPS} more change(s)"]


def terraform_command(address: str, *, verb: str = "apply") -> str:
    """``terraform apply -refresh=true -target=ADDRESS``, shell-quoted when the address needs it."""
    return f"terraform {verb} -refresh=true {shlex.quote('-target=' + address)}"


def _cfn_revert(event: DriftEvent) -> tuple[str, list[str]]:
    stack = event.metadata.get("stack_name") or "STACK_NAME"
    logical = event.metadata.get("logical_resource_id") or "resource"
    region = event.metadata.get("region")
    name = f"revert-drift-{''.join(ch for ch in str(logical) if ch.isalnum())}"[:128]
    reg = f" --region {shlex.quote(region)}" if region else ""
    q = shlex.quote
    create = (
        f"aws cloudformation create-change-set --stack-name {q(stack)} --change-set-name {name} "
        f"--use-previous-template --deployment-mode REVERT_DRIFT{reg}"
    )
    steps = [
        f"Create a drift-aware change set that puts the stack's resources back to the template: `{create}` "
        "(add `--parameters ParameterKey=...,UsePreviousValue=true` and `--capabilities` if the stack "
        "needs them).",
        f"Review what it will overwrite: `aws cloudformation describe-change-set --stack-name {q(stack)} "
        f"--change-set-name {name}{reg}`; it covers every drifted resource of the stack, not only "
        f"`{logical}`.",
        f"Execute it: `aws cloudformation execute-change-set --stack-name {q(stack)} "
        f"--change-set-name {name}{reg}`.",
        f"Re-run drift detection: `aws cloudformation detect-stack-drift --stack-name {q(stack)}{reg}`.",
    ]
    if event.drift_type is DriftType.DELETED:
        steps.append(
            "A deleted resource may not be restorable in place: if the change set does not "
            "recreate it, remove it from the template in one update and add it back in the next."
        )
    return create, steps


def _revert(event: DriftEvent) -> Recommendation | None:
    security = event.is_security_critical
    base = dict(
        type=RecommendationType.AUTO_REVERT,
        label=RecommendationType.AUTO_REVERT.label,
        priority=event.severity,
        confidence=0.9 if security else 0.6,
        estimated_effort="minutes",
    )
    if event.drift_type is DriftType.MOVED:
        return None
    if event.tool is IacTool.CLOUDFORMATION:
        command, steps = _cfn_revert(event)
        return Recommendation(
            **base,
            command=command,
            steps=tuple(steps),
            rationale="Put the resource back to what the template declares; the bot only shows the commands.",
        )
    tf_address = event.metadata.get("terraform_address") or event.resource_address
    if event.drift_type is DriftType.ADDED:
        return Recommendation(
            **{**base, "estimated_effort": "hours"},
            rationale="The resource exists in the cloud but not in IaC. Reverting means deleting it "
            "by hand after checking nobody depends on it; Terraform will not delete what it "
            "does not manage, and the bot never changes the cloud.",
            steps=(
                f"Find the owner of {event.resource_type} `{event.physical_id or event.resource_address}`.",
                "Delete it with the cloud console or CLI if it is not needed.",
            ),
        )
    command = terraform_command(tf_address)
    if event.drift_type is DriftType.DELETED:
        rationale = "Recreate the resource exactly as declared in IaC."
    else:
        rationale = "Overwrite the out-of-band change with the declared configuration."
    steps = [f"Review: `{terraform_command(tf_address, verb='plan')}`", f"Apply: `{command}`"]
    if event.metadata.get("terraform_address_note"):
        steps.insert(0, str(event.metadata["terraform_address_note"]))
    return Recommendation(**base, command=command, steps=tuple(steps), rationale=rationale)


def _codify(event: DriftEvent, cause: CauseAssessment) -> Recommendation:
    security = event.is_security_critical
    tool = event.tool
    address = event.metadata.get("terraform_address") or event.resource_address
    if event.drift_type is DriftType.MOVED:
        steps = [
            f"Keep `moved {{ from = {event.previous_address} to = {address} }}` in the configuration "
            "and run `terraform apply` so the state records the new address.",
            "Remove the `moved` block once every workspace has applied it.",
        ]
        rationale = "The address changed in code; recording the move makes the drift disappear."
    elif event.drift_type is DriftType.DELETED:
        if tool is IacTool.CLOUDFORMATION:
            steps = [
                "If the deletion was intended, remove resource "
                f"`{event.metadata.get('logical_resource_id')}` from the template and update the stack."
            ]
        else:
            steps = [
                f"If the deletion was intended, delete the resource block for `{address}` and run "
                "`terraform apply` (Terraform then drops it from state)."
            ]
        rationale = "Make the IaC say the resource is gone, so the next plan does not recreate it."
    elif event.drift_type is DriftType.ADDED:
        ident = event.physical_id or "ID"
        steps = [
            f"Add a resource block for `{address}` and import it: `terraform import {shlex.quote(address)} "
            f'{shlex.quote(ident)}` (or an `import {{ to = {address}, id = "{ident}" }}` block).',
            "Run `terraform plan` until it shows no changes for it.",
        ]
        rationale = "Bring the unmanaged resource under IaC so it is reviewed like the rest."
    else:
        where = (
            f"resource `{event.metadata.get('logical_resource_id')}` ({event.resource_type}) of the template"
            if tool is IacTool.CLOUDFORMATION
            else f"the configuration of `{address}`"
        )
        lines = [_codify_line(c, tool) for c in event.changes]
        steps = [f"In {where}: {line}." for line in _limit(lines)]
        steps.append(
            "Update the stack, then re-run drift detection: it should be IN_SYNC."
            if tool is IacTool.CLOUDFORMATION
            else f"Run `{terraform_command(address, verb='plan')}`: it should show no changes."
        )
        rationale = "Make the declared configuration match what runs now, through the normal review."
    if security:
        rationale += (
            " Not advised here: a security rule fired, and codifying would make the exposure "
            "permanent; only with a security reviewer's approval."
        )
    elif cause.category is CauseCategory.EMERGENCY_FIX:
        rationale += (
            f" The change may be an emergency fix made during {', '.join(cause.related_incidents)}; "
            "if it must stay, codify it."
        )
    confidence = 0.2 if security else (0.7 if cause.category is CauseCategory.EMERGENCY_FIX else 0.5)
    if event.drift_type in (DriftType.MOVED, DriftType.ADDED) and not security:
        confidence = 0.8
    priority = DriftSeverity.LOW if security else event.severity
    return Recommendation(
        type=RecommendationType.CODIFY_IAC,
        label=RecommendationType.CODIFY_IAC.label,
        priority=priority,
        confidence=confidence,
        rationale=rationale,
        steps=tuple(steps),
        estimated_effort="hours",
    )


def _accept(event: DriftEvent) -> Recommendation:
    security = event.is_security_critical
    requires = ("reason", "expires_at") + (("security_approver",) if security else ())
    rationale = (
        "Keep the drift for now, on record: a reason and an expiry date are required; the "
        "drift stays visible and must be reverted or codified by the expiry."
    )
    if security:
        rationale += " A security rule fired, so a security approver must be named."
    return Recommendation(
        type=RecommendationType.ACCEPT_EXCEPTION,
        label=RecommendationType.ACCEPT_EXCEPTION.label,
        priority=DriftSeverity.LOW,
        confidence=0.1 if security else 0.3,
        rationale=rationale,
        requires=requires,
        steps=("Give the reason and the expiry date (and approver if asked).",),
        estimated_effort="minutes",
    )


def _escalate(event: DriftEvent) -> Recommendation:
    sev = event.severity.incident_severity
    urgent = event.severity.rank >= DriftSeverity.HIGH.rank
    rationale = (
        f"Open a {sev.label} incident linked to this drift event so it is worked with the incident "
        "SLOs" + (" (recommended: the severity is " + event.severity.value + ")." if urgent else ".")
    )
    return Recommendation(
        type=RecommendationType.ESCALATE_REVIEW,
        label=RecommendationType.ESCALATE_REVIEW.label,
        priority=event.severity,
        confidence=0.8 if urgent else 0.4,
        rationale=rationale,
        steps=(f"Opens incident severity {sev.value} with the drift summary and links.",),
        incident_severity=sev,
        estimated_effort="minutes",
    )


def _manual_review(event: DriftEvent) -> Recommendation:
    return Recommendation(
        type=RecommendationType.MANUAL_REVIEW,
        label=RecommendationType.MANUAL_REVIEW.label,
        priority=event.severity,
        confidence=0.9,
        rationale="The report did not say whether or how this resource drifted: "
        + " ".join(event.review_reasons),
        steps=(
            "Check the resource by hand against its IaC definition, then choose Revert, Codify or Accept.",
        ),
        estimated_effort="hours",
    )


def _preferred(event: DriftEvent, cause: CauseAssessment) -> RecommendationType:
    if event.needs_manual_review:
        return RecommendationType.MANUAL_REVIEW
    if event.is_security_critical:
        return RecommendationType.AUTO_REVERT
    if event.drift_type in (DriftType.MOVED, DriftType.ADDED):
        return RecommendationType.CODIFY_IAC
    if cause.category is CauseCategory.EMERGENCY_FIX:
        return RecommendationType.CODIFY_IAC
    return RecommendationType.AUTO_REVERT


def recommend(event: DriftEvent, cause: CauseAssessment) -> list[Recommendation]:
    """The DriftGuard options for this event, preferred one first, then Revert, Codify, Accept, Escalate."""
    recs: list[Recommendation] = []
    if event.needs_manual_review:
        recs.append(_manual_review(event))
    revert = _revert(event)
    if revert:
        recs.append(revert)
    recs += [_codify(event, cause), _accept(event), _escalate(event)]
    preferred = _preferred(event, cause)
    recs = [r.model_copy(update={"preferred": r.type is preferred}) for r in recs]
    recs.sort(key=lambda r: not r.preferred)
    return recs


def summarize(event: DriftEvent, cause: CauseAssessment) -> str:
    """One line: severity, what, where, how many changes, rules, cause."""
    rules = ", ".join(dict.fromkeys(h.rule_id for h in event.rule_hits)) or "none"
    review = " (manual review)" if event.needs_manual_review else ""
    moved = f" (moved from {event.previous_address})" if event.previous_address else ""
    return (
        f"{event.severity.value.upper()}: {event.drift_type.value} {event.resource_type} "
        f"{event.resource_address}{moved} in {event.environment}{review}: {len(event.changes)} change(s); "
        f"security rules: {rules}; cause: {cause.category.value}."
    )


def triage(
    event: DriftEvent,
    incidents: Sequence[IncidentWindow] = (),
    *,
    now: datetime,
    since: datetime | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> Triage:
    """Cause + recommendations + summary for one classified event."""
    cause = assess_cause(event, incidents, now=now, since=since, lookback=lookback)
    return Triage(
        cause=cause, recommendations=tuple(recommend(event, cause)), summary=summarize(event, cause)
    )
