"""Uses: which process, under which run, read which version.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "uses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "version_id",
            sa.String(32),
            sa.ForeignKey("versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("alias", sa.Text, nullable=False),
        sa.Column("used", sa.String(40), nullable=False),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("git_commit", sa.String(64), nullable=False),
        sa.Column("git_dirty", sa.Boolean, nullable=True),
        sa.Column("run_kind", sa.String(16), nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("run_name", sa.Text, nullable=False),
        sa.Column("experiment", sa.Text, nullable=False),
    )
    op.create_index("uses_by_version", "uses", ["version_id"])
    op.create_index("uses_by_run_id", "uses", ["run_id"])
    op.create_index("uses_by_run_name", "uses", ["run_name"])
