"""The facts "what changed?" is made of, as the repository reads them; their wording is the
:class:`~domain.model_actions.texts.ModelActionTexts` port's."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.model_actions.changes import Change, ChangeKind
from domain.model_actions.registry import AliasMove, RegistryVersion

if TYPE_CHECKING:  # texts.py words these facts, so it imports this module
    from domain.model_actions.texts import ModelActionTexts


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


def all_changes(texts: ModelActionTexts, model: str, moves: Sequence[AliasMove],
                versions: Sequence[RegistryVersion], iac: Sequence[IacDriftFact],
                incidents: Sequence[EarlierIncidentFact],
                assessments: Sequence[AssessmentFact]) -> list[Change]:
    """Every fact as a :class:`Change`, worded by ``texts``."""
    return ([Change(m.moved_at, ChangeKind.ALIAS_MOVE, texts.alias_change(m)) for m in moves]
            + [Change(v.created_at, ChangeKind.NEW_VERSION, texts.version_change(model, v))
               for v in versions]
            + [Change(f.detected_at, ChangeKind.IAC_DRIFT, texts.iac_change(f)) for f in iac]
            + [Change(f.created_at, ChangeKind.EARLIER_INCIDENT, texts.incident_change(f))
               for f in incidents]
            + [Change(f.assessed_at, ChangeKind.DRIFT_ASSESSMENT, texts.assessment_change(f))
               for f in assessments])
