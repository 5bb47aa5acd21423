"""Tables of the platform API (issue 17): who may call it, and what it must remember.

API users log in with a password (bcrypt); service accounts hold scoped API keys (only a
SHA-256 of the secret is kept: keys are long random strings, shown once). A refresh-token
family is one login's chain of refresh tokens: the current one is the only one that works, and
an older one presented again revokes the whole family (a stolen token was used). Idempotency
keys make a retried POST answer what the first one did. Webhook subscribers receive incident
events through the outbox.
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.tables import JSONDoc, UTCDateTime, metadata

api_users = sa.Table(
    "api_users", metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("password_hash", sa.String(128), nullable=False),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("disabled_at", UTCDateTime()),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.JSON(), nullable=False),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime()),
)

refresh_families = sa.Table(
    "api_refresh_families", metadata,
    sa.Column("family_id", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(255), nullable=False),
    sa.Column("current_jti", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("rotated_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime()),
    sa.Column("revoked_reason", sa.String(255)),
)

idempotency_keys = sa.Table(
    "api_idempotency_keys", metadata,
    sa.Column("principal", sa.String(255), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # in_progress | done
    sa.Column("resource_id", sa.String(64)),  # what the use case made, written in its transaction
    sa.Column("status_code", sa.Integer()),
    sa.Column("response", JSONDoc),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

webhook_subscribers = sa.Table(
    "webhook_subscribers", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("url", sa.Text(), nullable=False),
    sa.Column("events", sa.JSON(), nullable=False),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("failing_since", UTCDateTime()),
    sa.Column("last_error", sa.Text()),
    sa.Column("disabled_at", UTCDateTime()),
    sa.Column("disabled_reason", sa.Text()),
)
