"""Governance storage (issue 6): the hash-chain columns that migration 0004 adds to audit_events.

storage/tables.py owns audit_events; this lightweight table construct names the same table with
the two extra columns so the audit repository can write and read the chain without editing it.
"""
from __future__ import annotations

import sqlalchemy as sa

from storage import tables as t

audit_chain = sa.table(
    "audit_events",
    *(sa.column(c.name, c.type) for c in t.audit_events.columns),
    sa.column("prev_hash", sa.String(64)),
    sa.column("row_hash", sa.String(64)),
)

FORBID_FN = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only (GOV-001 7.1): % refused', TG_OP;
END;
$$ LANGUAGE plpgsql
"""
FORBID_TRIGGER = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
"""

# Issue 14: TRUNCATE is a statement, not rows: the row trigger above never sees it, and
# `TRUNCATE audit_events` emptied the trail unnoticed. One statement-level trigger refuses it.
FORBID_TRUNCATE_TRIGGER = """
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
"""

# The chain's length and head at moments in time (issue 14), outside the audit table: a trail
# cut at its end (newest rows deleted, or all of them) no longer matches its last checkpoint.
# MAC'd with AUDIT_HMAC_KEY when set, so a checkpoint cannot be forged to fit a cut trail.
# Append-only on PostgreSQL like the trail itself; export them (`audit checkpoint`) to keep a
# copy out of the database's reach.
audit_checkpoints = sa.Table(
    "audit_checkpoints", t.metadata,
    sa.Column("id", t.BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("taken_at", t.UTCDateTime(), nullable=False),
    sa.Column("row_count", sa.BigInteger(), nullable=False),
    sa.Column("head_seq", sa.BigInteger()),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("mac", sa.String(64)),
)

CHECKPOINT_TRIGGERS = (
    """CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
    """CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()""",
)
