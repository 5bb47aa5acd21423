"""Channel lifecycle: private incidents, channel names, archiving after close (issue 19, item 8).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved for the change named above; filled by it


def downgrade() -> None:
    pass
