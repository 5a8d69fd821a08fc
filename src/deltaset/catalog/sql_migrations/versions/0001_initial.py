"""The first schema: versions, lineage, manifests, staged changes, chunk lists.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "versions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("parents", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("storage", sa.Text, nullable=False),
        sa.Column("stats", sa.Text, nullable=False),
        sa.UniqueConstraint("project", "name", "version", name="versions_unique_number"),
    )
    op.create_index("versions_by_name", "versions", ["project", "name"])
    op.create_table(
        "lineage",
        sa.Column(
            "child",
            sa.String(32),
            sa.ForeignKey("versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("parent", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("child", "position"),
    )
    op.create_index("lineage_by_parent", "lineage", ["parent"])
    op.create_table(
        "manifests",
        sa.Column(
            "version_id",
            sa.String(32),
            sa.ForeignKey("versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "staged",
        sa.Column(
            "version_id",
            sa.String(32),
            sa.ForeignKey("versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("blob_id", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("uploaded", sa.Boolean, nullable=False),
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("etag", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("version_id", "path"),
    )
    op.create_index("staged_by_blob", "staged", ["version_id", "blob_id"])
    op.create_table(
        "chunk_lists",
        sa.Column("blob_id", sa.String(64), primary_key=True),
        sa.Column("chunks", sa.LargeBinary, nullable=False),
    )
