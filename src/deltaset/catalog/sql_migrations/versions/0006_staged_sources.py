"""No index of staged rows by content: a lookup of a draft's sources, made when asked.

The index made every row a draft staged, and every row its close dropped, pay an insert and a
delete at a random place; its one reader, ``staged_sources`` (an upload reading files from
where they were staged), now fills ``staged_sources`` once per draft instead (see
``SqlCatalog.staged_sources``).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.drop_index("staged_by_blob", table_name="staged")
    # Made again from ``staged`` whenever it is empty, so nothing is lost when PostgreSQL
    # empties an unlogged table after a crash, and filling it writes no log. No foreign key:
    # checking one took a third of the filling; the catalog deletes the rows with the draft's.
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "staged_sources",
        sa.Column("version_id", sa.String(32), nullable=False),
        sa.Column("blob_id", sa.String(64), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("version_id", "blob_id"),
        prefixes=unlogged,
    )
