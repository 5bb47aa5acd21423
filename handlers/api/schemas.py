"""Request and response bodies of the platform API (pydantic v2), named after seed 002 and
shaped by the data dictionary (seed 000): these models are also what /openapi.json publishes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.model import ModelStage, Severity, Status, TimelineEventType, TriggerSource

# Identifiers and short fields: no control characters (PostgreSQL refuses NULs; free text such
# as titles and notes is cleaned by the use cases' text boundary instead)
Plain = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenRequest(Strict):
    grant_type: Literal["password"] = "password"
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(Strict):
    refresh_token: str = Field(min_length=1, max_length=4096)


class LogoutRequest(Strict):
    refresh_token: str | None = Field(default=None, max_length=4096,
                                      description="also revoke this login's refresh tokens")


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_expires_in: int


class LogoutResponse(BaseModel):
    revoked: list[str] = Field(description="jti of the revoked tokens")


class IncidentCreate(Strict):
    title: str = Field(min_length=1, max_length=500)
    severity: Severity
    model: Plain | None = Field(default=None, max_length=255, description="model name")
    model_id: uuid.UUID | None = None
    description: str | None = Field(default=None, max_length=20000)
    labels: list[str] = Field(default_factory=list, max_length=50)


class IncidentResponse(BaseModel):
    """The data dictionary's ``incidents`` columns, plus the number people say (INC-N)."""

    id: uuid.UUID
    number: int
    key: str = Field(description="INC-<number>")
    title: str
    severity: Severity
    status: Status
    model_id: uuid.UUID
    model: str | None
    description: str | None
    trigger_source: TriggerSource
    labels: list[str]
    assigned_to: str | None
    runbook_url: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_by: str
    slack_channel_id: str | None = None


class TimelineEventResponse(BaseModel):
    """The data dictionary's ``incident_timeline`` columns."""

    id: uuid.UUID
    incident_id: uuid.UUID
    event_type: TimelineEventType
    body: str
    author: str
    author_name: str | None
    occurred_at: datetime
    created_at: datetime


class IncidentDetail(IncidentResponse):
    timeline: list[TimelineEventResponse]
    allowed_verbs: list[str] = Field(description="status verbs PATCH accepts now")


class IncidentPage(BaseModel):
    items: list[IncidentResponse]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null: last")


class IncidentPatch(Strict):
    status: Literal["ack", "mitigate", "resolve", "reopen", "close"] | None = Field(
        default=None, description="a status verb (the state machine decides where it leads)")
    reason: str | None = Field(default=None, max_length=3000)
    severity: Severity | None = None
    commander: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,}$",
                                  description="Slack user id of the Incident Commander")


class PatchResult(BaseModel):
    incident: IncidentResponse
    messages: list[str]


class NoteCreate(Strict):
    body: str = Field(min_length=1, max_length=3000)
    occurred_at: datetime | None = None


class NoteResponse(BaseModel):
    incident_id: uuid.UUID
    message: str


class ModelCreate(Strict):
    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: Plain = Field(min_length=1, max_length=50)
    stage: ModelStage = ModelStage.PRODUCTION
    team: Plain = Field(min_length=1, max_length=255)
    feature_store_ref: Plain | None = Field(default=None, max_length=2000)
    model_card_url: Plain | None = Field(default=None, max_length=2000)
    labels: list[Annotated[Plain, Field(max_length=64)]] | None = Field(default=None,
                                                                        max_length=50)


class ModelResponse(BaseModel):
    """The data dictionary's ``models`` columns."""

    id: uuid.UUID
    name: str
    version: str
    stage: ModelStage
    team: str
    feature_store_ref: str | None
    model_card_url: str | None
    registered_at: datetime
    promoted_at: datetime | None
    labels: list[str]


class ModelList(BaseModel):
    items: list[ModelResponse]


class DriftAssessmentCreate(Strict):
    """An assessment computed elsewhere (the data dictionary's ``drift_assessments``)."""

    model: Plain | None = Field(default=None, max_length=255)
    model_id: uuid.UUID | None = None
    assessed_at: datetime
    psi_composite: float = Field(ge=0)
    ks_p_value: float = Field(ge=0, le=1)
    drift_detected: bool | None = Field(default=None,
                                        description="omitted: decided by the thresholds")
    feature_scores: dict[Annotated[Plain, Field(max_length=255)], float] = Field(
        default_factory=dict, max_length=10000)
    reference_window_start: datetime
    reference_window_end: datetime
    evaluation_window_start: datetime
    evaluation_window_end: datetime


class DriftAssessmentResult(BaseModel):
    drift_detected: bool
    severity: Severity | None
    incident: IncidentResponse | None
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    allowed_verbs: list[str] | None = None
    errors: list[dict[str, Any]] | None = None
