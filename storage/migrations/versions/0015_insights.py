"""Insights (issue 21): tracker tickets on action items, digests sent.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in by the change that needs it, or removed unused


def downgrade() -> None:
    pass
