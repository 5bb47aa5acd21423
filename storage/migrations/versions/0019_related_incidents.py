"""Related and duplicate incidents (issue 19, item 9).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved for the change named above; filled by it


def downgrade() -> None:
    pass
