"""The audit trail's log side: every committed audit event as one JSON line (log_type=audit)."""

from __future__ import annotations

import structlog

from domain.model import AuditEvent

log = structlog.get_logger("audit")


def log_audit(event: AuditEvent) -> None:
    log.info(
        event.action,
        log_type="audit",
        audit_id=str(event.id),
        occurred_at=event.occurred_at.isoformat(),
        actor=event.actor,
        actor_name=event.actor_name,
        action=event.action,
        resource_type=event.resource_type,
        resource_id=event.resource_id,
        details=event.details,
    )
