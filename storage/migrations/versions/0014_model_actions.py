"""Model actions (issue 18): registry versions and alias history, rollbacks, drift acceptance, snoozes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in by the change that needs it, or removed unused


def downgrade() -> None:
    pass
