"""Admin tokens: the only ones that may delete or replace what final versions are made of.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("tokens") as table:  # SQLite alters a table by copying it
        table.add_column(sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()))
