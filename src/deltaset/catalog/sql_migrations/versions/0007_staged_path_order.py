"""Staged paths in code point order on PostgreSQL, the order manifests keep.

A database's collation is, as a rule, its locale's (``en_US.UTF-8`` in PostgreSQL's own
images), in which "a.txt" sorts before "B.txt" and "_x" before both: a draft's staged rows
came out of ``ORDER BY path`` in an order a close refused as out of order. The collation "C"
compares bytes, which for UTF-8 is code point order, as Python's. SQLite compares bytes
already. The primary key's index is built again in the new order.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "staged",
            "path",
            type_=sa.Text(collation="C"),
            existing_type=sa.Text,
            existing_nullable=False,
        )
