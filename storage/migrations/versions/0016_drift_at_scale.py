"""Drift at scale (issue 20): per-feature drift test settings.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in by the change that needs it, or removed unused


def downgrade() -> None:
    pass
