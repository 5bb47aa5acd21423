"""On-call and paging from Slack (issue 19, item 7).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved for the change named above; filled by it


def downgrade() -> None:
    pass
