"""Operations (issue 16): the trace context an outbox row carries to its delivery.

The W3C ``traceparent`` of the span that queued the row (the Slack click, the webhook, the
tick), so the delivery's span links back to the request that caused it. Nullable: rows queued
before this revision, or with tracing off, have none.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("traceparent", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("traceparent")
