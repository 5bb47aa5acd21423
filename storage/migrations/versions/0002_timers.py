"""SLO clocks: fired timers and per-incident wake-up times (issue 3).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in when the feature lands


def downgrade() -> None:
    pass
