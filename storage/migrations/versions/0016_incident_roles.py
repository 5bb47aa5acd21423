"""Incident roles beyond the commander and update-reminder snoozes (issue 19, items 1 and 6).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved for the change named above; filled by it


def downgrade() -> None:
    pass
