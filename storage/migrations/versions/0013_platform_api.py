"""The platform API (issue 17): API users, keys, idempotency keys, webhook subscribers.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in by the change that needs it, or removed unused


def downgrade() -> None:
    pass
