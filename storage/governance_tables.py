"""Governance storage (issue 6): the hash-chain columns that migration 0004 adds to audit_events.

storage/tables.py owns audit_events; this lightweight table construct names the same table with
the two extra columns so the audit repository can write and read the chain without editing it.
"""
from __future__ import annotations

import sqlalchemy as sa

from storage import tables as t

AUDIT_CHAIN_LOCK = 4242006  # pg_advisory_xact_lock key serialising audit appends

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
