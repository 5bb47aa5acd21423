"""Incidents and actors for the renderer tests of ``bot/slack_ui/``: plain values, no store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from domain.model import Actor, Incident, Severity, Status, TriggerSource

T0 = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
BOB = Actor("U0BOB", "bob")


def incident(number: int = 1, **kwargs: object) -> Incident:
    """INC-``number``, an open SEV-2 declared at ``T0`` unless ``kwargs`` say otherwise."""
    values: dict[str, object] = dict(
        number=number, title="Null predictions", severity=Severity.P2, status=Status.OPEN,
        model_id=uuid.uuid4(), trigger_source=TriggerSource.MANUAL, created_by="U0ALICE",
        created_at=T0, updated_at=T0)
    values.update(kwargs)
    return Incident(**values)  # type: ignore[arg-type]
