"""The facts "what changed?" is made of, as the repository reads them, and their wording."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.messages import escape
from domain.model_actions.changes import Change, ChangeKind
from domain.model_actions.registry import AliasMove, RegistryVersion


@dataclass(frozen=True)
class IacDriftFact:
    detected_at: datetime
    resource_address: str
    drift_type: str
    severity: str
    environment: str


@dataclass(frozen=True)
class EarlierIncidentFact:
    number: int
    title: str
    severity: str
    status: str
    created_at: datetime
    root_cause: str | None


@dataclass(frozen=True)
class AssessmentFact:
    assessed_at: datetime
    psi_composite: float
    drift_detected: bool
    evaluation_start: datetime | None
    evaluation_end: datetime | None


@dataclass
class PipelineRun:
    """A retraining run the bot triggered, and what the pipeline said about it since."""

    model: str
    requested_by: str
    requested_at: datetime
    status: str = "requested"
    incident_id: uuid.UUID | None = None
    run_id: str | None = None
    run_url: str | None = None
    detail: dict[str, Any] | None = None
    finished_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)


def alias_change(move: AliasMove) -> Change:
    if move.version is None:
        what = f"alias `{move.alias}` removed from v{move.previous}"
    elif move.previous is None:
        what = f"alias `{move.alias}` set to v{move.version}"
    else:
        what = f"alias `{move.alias}` moved v{move.previous} → v{move.version}"
    by = "" if move.moved_by.startswith("registry") else f" by {escape(move.moved_by)}"
    return Change(move.moved_at, ChangeKind.ALIAS_MOVE, f"{what}{by}")


def version_change(model: str, version: RegistryVersion) -> Change:
    source = f" from `{escape(version.source[:120])}`" if version.source else ""
    return Change(version.created_at, ChangeKind.NEW_VERSION,
                  f"new version v{version.version} of `{escape(model)}` registered{source}")


def iac_change(fact: IacDriftFact) -> Change:
    return Change(fact.detected_at, ChangeKind.IAC_DRIFT,
                  f"IaC drift ({escape(fact.severity)}, {escape(fact.drift_type)}) on "
                  f"`{escape(fact.resource_address[:150])}` in {escape(fact.environment)}")


def incident_change(fact: EarlierIncidentFact) -> Change:
    cause = (f" — root cause: {escape(fact.root_cause[:300])}" if fact.root_cause
             else " — no root cause recorded")
    return Change(fact.created_at, ChangeKind.EARLIER_INCIDENT,
                  f"earlier incident INC-{fact.number} [SEV-{fact.severity[-1:]}] "
                  f"{escape(fact.title[:120])} ({escape(fact.status)}){cause}")


def assessment_change(fact: AssessmentFact) -> Change:
    verdict = "drift detected" if fact.drift_detected else "no drift"
    return Change(fact.assessed_at, ChangeKind.DRIFT_ASSESSMENT,
                  f"drift assessment: PSI {fact.psi_composite:.2f}, {verdict}")


def all_changes(model: str, moves: Sequence[AliasMove], versions: Sequence[RegistryVersion],
                iac: Sequence[IacDriftFact], incidents: Sequence[EarlierIncidentFact],
                assessments: Sequence[AssessmentFact]) -> list[Change]:
    return ([alias_change(m) for m in moves] + [version_change(model, v) for v in versions]
            + [iac_change(f) for f in iac] + [incident_change(f) for f in incidents]
            + [assessment_change(f) for f in assessments])
