"""Operations (issue 16): the trace context an outbox row carries to its delivery.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in by the change that needs it, or removed unused


def downgrade() -> None:
    pass
