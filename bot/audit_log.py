"""The audit trail's log side: every committed audit event as one JSON line (log_type=audit)."""

from __future__ import annotations

import uuid
import weakref
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.model import AuditEvent

log = structlog.get_logger("audit")

# Ids of events already logged: the service's after_commit and the engine listener below may both
# see one event; it is logged once. Bounded: ids are only ever seen twice in quick succession.
_LOGGED: OrderedDict[str, None] = OrderedDict()
_LOGGED_MAX = 10_000
# Audit rows inserted in each connection's open transaction, logged when it commits.
_PENDING: weakref.WeakKeyDictionary[Any, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


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


def _event_of(row: dict[str, Any]) -> AuditEvent | None:
    try:
        return AuditEvent(occurred_at=row["occurred_at"], actor=row["actor"],
                          actor_name=row["actor_name"], action=row["action"],
                          resource_type=row["resource_type"], resource_id=row["resource_id"],
                          details=row.get("details") or {},
                          id=row["id"] if isinstance(row.get("id"), uuid.UUID) else uuid.UUID(str(row["id"])))
    except (KeyError, ValueError, TypeError):
        return None


def _chain_pending(pending: list[dict[str, Any]], updates: list[dict[str, Any]]) -> None:
    """Give the rows inserted without their hash (SQLite) the hashes set right after, in order."""
    unchained = [row for row in pending if not row.get("row_hash")]
    for row, update in zip(unchained[-len(updates):] if updates else [], updates, strict=False):
        if "b_hash" in update:
            row["row_hash"], row["seq"] = update["b_hash"], update.get("b_seq")


def install_audit_log(engine: AsyncEngine) -> None:
    """Log every audit row inserted through ``engine`` once its transaction commits.

    GOV-001 7.1 routes audit events to the SIEM by their ``log_type: audit`` line, so the line
    must not depend on which code path wrote the row (the incident service logs its own after
    commit; feature modules, the scheduler and the CLI write rows through their own units of
    work). Rows are collected per connection as they are inserted and logged when that
    transaction commits; a rollback, or a new transaction, drops them unlogged.
    """
    sync_engine = engine.sync_engine
    if getattr(sync_engine, "_incident_bot_audit_log", False):
        return
    sync_engine._incident_bot_audit_log = True  # type: ignore[attr-defined]

    def pending(conn: Any) -> list[dict[str, Any]]:
        return _PENDING.setdefault(conn, [])

    @sa.event.listens_for(sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        _PENDING.pop(conn, None)

    @sa.event.listens_for(sync_engine, "after_execute")
    def on_execute(conn: Any, clause: Any, multiparams: Any, params: Any,
                   execution_options: Any, result: Any) -> None:
        table = getattr(clause, "table", None)
        if getattr(table, "name", None) != "audit_events":
            return
        rows = multiparams if isinstance(multiparams, list | tuple) and multiparams else [params]
        if isinstance(clause, sa.Update):  # SQLite chains the rows just inserted: their hashes
            _chain_pending(pending(conn), [r for r in rows if isinstance(r, dict)])
            return
        if not isinstance(clause, sa.Insert):
            return
        for row in rows:
            if isinstance(row, dict):
                pending(conn).append(row)
        values = getattr(clause, "_values", None)  # insert().values(...) rather than parameters
        if not any(isinstance(r, dict) and r for r in rows) and values:
            pending(conn).append({k.key if hasattr(k, "key") else str(k): getattr(v, "value", v)
                                  for k, v in values.items()})

    @sa.event.listens_for(sync_engine, "commit")
    def on_commit(conn: Any) -> None:
        for row in _PENDING.pop(conn, None) or []:
            event = _event_of(row)
            if event is not None:
                log_audit(event, row.get("row_hash"), row.get("seq"))

    @sa.event.listens_for(sync_engine, "rollback")
    def on_rollback(conn: Any) -> None:
        _PENDING.pop(conn, None)
