"""Audit rows as they commit, whatever path wrote them: SQLAlchemy engine events, kept here so
the rest of the bot needs no SQL to see them (bot/audit_log.py logs each one)."""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.model import AuditEvent

Committed = Callable[[AuditEvent, str | None, int | None], None]


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


def watch_committed_audit_events(engine: AsyncEngine, on_committed: Committed) -> None:
    """Call ``on_committed(event, chain_hash, chain_seq)`` for every audit row inserted through
    ``engine``, once its transaction commits (the bot logs each as a ``log_type: audit`` line).

    Rows are collected per connection as they are inserted and handed on when that transaction
    commits; a rollback, or a new transaction, drops them. Once per engine.
    """
    sync_engine = engine.sync_engine
    if getattr(sync_engine, "_incident_bot_audit_log", False):
        return
    sync_engine._incident_bot_audit_log = True  # type: ignore[attr-defined]

    # audit rows inserted in each connection's open transaction, handed on when it commits
    rows_of: weakref.WeakKeyDictionary[Any, list[dict[str, Any]]] = weakref.WeakKeyDictionary()

    def pending(conn: Any) -> list[dict[str, Any]]:
        return rows_of.setdefault(conn, [])

    @sa.event.listens_for(sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        rows_of.pop(conn, None)

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
        for row in rows_of.pop(conn, None) or []:
            event = _event_of(row)
            if event is not None:
                on_committed(event, row.get("row_hash"), row.get("seq"))

    @sa.event.listens_for(sync_engine, "rollback")
    def on_rollback(conn: Any) -> None:
        rows_of.pop(conn, None)
