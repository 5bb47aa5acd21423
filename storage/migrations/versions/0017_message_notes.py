"""Notes from Slack messages: key marks, edits and deletions (issue 19, items 3 and 4).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved for the change named above; filled by it


def downgrade() -> None:
    pass
