"""Tamper-evident audit trail (GOV-001 section 7.1): each row's hash covers its content + previous hash.

Issue 14 closes three gaps of a plain SHA-256 chain:

* **Keyed.** With ``AUDIT_HMAC_KEY`` (kept outside the database) each row's hash is an
  HMAC-SHA256, so someone with write access to the database cannot recompute a forged chain.
  Rows written before the key was set stay plain SHA-256: a *prefix* of legacy rows is
  accepted, an unkeyed row after a keyed one is not.
* **Anchored.** A chain can be cut at its end (newest rows deleted, or everything truncated)
  and still verify. A :class:`Checkpoint` (row count and head hash, MAC'd with the key) kept
  outside the chain, or the head hash a SIEM last saw in the audit log lines, lets
  :class:`ChainVerifier` tell ``truncated`` and ``tail-trimmed`` trails from intact ones.
* **Streamed.** :class:`ChainVerifier` takes rows one at a time: 300,000 rows need not be
  held in memory to be checked.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = ("id", "occurred_at", "actor", "actor_name", "action", "resource_type",
                 "resource_id", "details", "log_type")

_key: bytes | None = None
_UNSET: Any = object()


def configure_key(key: str | bytes | None) -> None:
    """Key new rows' hashes with ``AUDIT_HMAC_KEY`` (None: plain SHA-256, as before issue 14)."""
    global _key
    _key = key.encode() if isinstance(key, str) else key or None


def current_key() -> bytes | None:
    return _key


def _canon(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value) if not isinstance(value, (int, float, str, bool, type(None), dict, list)) else value


def _payload(row: Mapping[str, Any], prev_hash: str) -> bytes:
    content = {k: _canon(row.get(k)) for k in HASHED_FIELDS}
    return json.dumps({"prev": prev_hash, "row": content}, sort_keys=True, default=str,
                      separators=(",", ":")).encode()


def row_hash(row: Mapping[str, Any], prev_hash: str, key: bytes | None = _UNSET) -> str:
    """SHA-256 (or, keyed, HMAC-SHA256) over the canonical JSON of the row and the previous hash.

    seq is left out: it is only known after the insert, and order is covered by prev_hash.
    ``key`` defaults to the configured ``AUDIT_HMAC_KEY``.
    """
    key = _key if key is _UNSET else key
    payload = _payload(row, prev_hash)
    if key:
        return hmac.new(key, payload, hashlib.sha256).hexdigest()
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The chain's length and head at one moment, kept outside the audit table."""

    row_count: int
    head_hash: str
    mac: str | None = None  # HMAC of (row_count, head_hash) with the key: a forged one is seen
    source: str = "checkpoint"

    @staticmethod
    def sign(row_count: int, head_hash: str, key: bytes | None = _UNSET) -> str | None:
        key = _key if key is _UNSET else key
        if not key:
            return None
        return hmac.new(key, f"{row_count}:{head_hash}".encode(), hashlib.sha256).hexdigest()

    def authentic(self, key: bytes | None) -> bool:
        """Unkeyed checkpoints are taken as they are; keyed ones must carry the right MAC."""
        if not key or self.mac is None:
            return True
        expected = self.sign(self.row_count, self.head_hash, key) or ""
        return hmac.compare_digest(expected, self.mac)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    kind: str  # "edited" | "deleted" | "truncated" | "tail-trimmed" | "unkeyed" | "forged-checkpoint"
    detail: str


@dataclass
class ChainVerifier:
    """Feed rows in seq order, then :meth:`finish`: the first break, or None.

    A row whose content no longer matches its own hash was edited; a row whose prev_hash does
    not match the row before it follows a deleted row (seq gaps alone are normal on
    PostgreSQL). A checkpoint (row count N, head hash H) says the N-th row had hash H: fewer
    rows than N means the end was cut off (``truncated`` when none is left), another hash at
    position N means the end was cut and rewritten.
    """

    key: bytes | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    # head hashes seen elsewhere (a SIEM's last audit log line): each must still be in the chain
    expected_heads: list[str] = field(default_factory=list)
    count: int = 0
    legacy: int = 0  # plain SHA-256 rows before the first keyed one
    head: str = GENESIS
    head_seq: int | None = None
    broken: ChainBreak | None = None
    _keyed_seen: bool = False
    _due: dict[int, list[Checkpoint]] = field(default_factory=dict)
    _missing: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._missing = {h.strip().lower() for h in self.expected_heads if h.strip()}
        for cp in self.checkpoints:
            if not cp.authentic(self.key) and self.broken is None:
                self.broken = ChainBreak(0, "forged-checkpoint",
                                         f"{cp.source} ({cp.row_count} rows) has a wrong MAC")
            self._due.setdefault(cp.row_count, []).append(cp)

    def feed(self, row: Mapping[str, Any]) -> None:
        if self.broken is not None:
            return
        seq = int(row["seq"])
        prev = str(row.get("prev_hash"))
        stored = row.get("row_hash")
        if self.key and row_hash(row, prev, self.key) == stored:
            self._keyed_seen = True
        elif row_hash(row, prev, None) == stored:
            if self.key and self._keyed_seen:
                self.broken = ChainBreak(seq, "unkeyed", f"row {seq}: hashed without the key after "
                                                         "keyed rows (a recomputed chain?)")
                return
            self.legacy += 1 if self.key else 0
        else:
            self.broken = ChainBreak(seq, "edited", f"row {seq}: content does not match its hash")
            return
        if row.get("prev_hash") != self.head:
            self.broken = ChainBreak(seq, "deleted",
                                     f"row {seq}: the row before it (after {self.head_seq}) is missing")
            return
        self.count += 1
        self.head, self.head_seq = str(stored), seq
        self._missing.discard(self.head)
        for cp in self._due.get(self.count, []):
            if cp.head_hash and cp.head_hash != self.head:  # a count alone has no head
                self.broken = ChainBreak(seq, "tail-trimmed", (
                    f"{cp.source} says row {cp.row_count} had hash {cp.head_hash[:12]}…; row "
                    f"{seq} has {self.head[:12]}… (the end was cut off and rewritten)"))
                return

    def finish(self) -> ChainBreak | None:
        if self.broken is not None:
            return self.broken
        longest = max(self.checkpoints, key=lambda cp: cp.row_count, default=None)
        if longest is not None and self.count < longest.row_count:
            kind = "truncated" if self.count == 0 else "tail-trimmed"
            return ChainBreak(self.head_seq or 0, kind, (
                f"{longest.source} counted {longest.row_count} rows; only {self.count} are left"
                + ("" if self.count == 0 else f", the last intact one is seq {self.head_seq}")))
        if self._missing:
            kind = "truncated" if self.count == 0 else "tail-trimmed"
            gone = ", ".join(sorted(h[:12] + "…" for h in self._missing))
            return ChainBreak(self.head_seq or 0, kind, (
                f"head {gone} seen outside the database is not in the chain ({self.count} rows "
                "left): its end was cut off"))
        return None


def verify(rows: Iterable[Mapping[str, Any]], key: bytes | None = _UNSET,
           checkpoints: Iterable[Checkpoint] = ()) -> ChainBreak | None:
    """Return the first break in seq order, or None (see :class:`ChainVerifier`)."""
    verifier = ChainVerifier(key=_key if key is _UNSET else key, checkpoints=list(checkpoints))
    for row in rows:
        verifier.feed(row)
    return verifier.finish()
