"""Tamper-evident audit trail (GOV-001 section 7.1): each row's hash covers its content + previous hash."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = ("id", "occurred_at", "actor", "actor_name", "action", "resource_type",
                 "resource_id", "details", "log_type")


def _canon(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value) if not isinstance(value, (int, float, str, bool, type(None), dict, list)) else value


def row_hash(row: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 over the canonical JSON of the row's content and the previous row's hash.

    seq is left out: it is only known after the insert, and order is covered by prev_hash.
    """
    content = {k: _canon(row.get(k)) for k in HASHED_FIELDS}
    payload = json.dumps({"prev": prev_hash, "row": content}, sort_keys=True, default=str,
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    kind: str  # "edited" | "deleted"
    detail: str


def verify(rows: Iterable[Mapping[str, Any]]) -> ChainBreak | None:
    """Return the first break in seq order, or None.

    A row whose content no longer matches its own hash was edited; a row whose prev_hash does not
    match the row before it follows a deleted row (seq gaps alone are normal on PostgreSQL).
    """
    prev, prev_seq = GENESIS, None
    for row in rows:
        seq = int(row["seq"])
        if row_hash(row, str(row.get("prev_hash"))) != row.get("row_hash"):
            return ChainBreak(seq, "edited", f"row {seq}: content does not match its hash")
        if row.get("prev_hash") != prev:
            return ChainBreak(seq, "deleted", f"row {seq}: the row before it (after {prev_seq}) is missing")
        prev, prev_seq = row["row_hash"], seq
    return None
