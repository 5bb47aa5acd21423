"""Governance policy GOV-001 as pure code: roles, PII scrubbing, audit hash chain, postmortems."""
