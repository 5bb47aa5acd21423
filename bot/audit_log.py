"""The audit trail's log side: every committed audit event as one JSON line (log_type=audit)."""

from __future__ import annotations

from collections import OrderedDict

import structlog

from domain.model import AuditEvent
from storage.audit_watch import watch_committed_audit_events
from storage.db import Engine

log = structlog.get_logger("audit")

# Ids of events already logged: the service's after_commit and the engine listener
# (storage/audit_watch.py) may both
# see one event; it is logged once. Bounded: ids are only ever seen twice in quick succession.
_LOGGED: OrderedDict[str, None] = OrderedDict()
_LOGGED_MAX = 10_000


def log_audit(event: AuditEvent, chain_hash: str | None = None,
              chain_seq: int | None = None) -> None:
    """One ``log_type: audit`` line. ``chain_hash`` (and ``chain_seq``) is the audit chain's head
    after this row (issue 14): the SIEM keeps it outside the database, so a trail cut at its
    end is caught by ``incident-bot audit verify --expect-head HASH``."""
    key = str(event.id)
    if key in _LOGGED:
        return
    _LOGGED[key] = None
    while len(_LOGGED) > _LOGGED_MAX:
        _LOGGED.popitem(last=False)
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
        **({"chain_hash": chain_hash} if chain_hash else {}),
        **({"chain_seq": chain_seq} if chain_seq is not None else {}),
    )


def install_audit_log(engine: Engine) -> None:
    """Log every audit row inserted through ``engine`` once its transaction commits.

    GOV-001 7.1 routes audit events to the SIEM by their ``log_type: audit`` line, so the line
    must not depend on which code path wrote the row (the incident service logs its own after
    commit; feature modules, the scheduler and the CLI write rows through their own units of
    work); ``log_audit`` logs each event once.
    """
    watch_committed_audit_events(engine, log_audit)
