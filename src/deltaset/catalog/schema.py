"""The tables of the shared catalog (the server's), as SQLAlchemy Core metadata.

The same shape as the embedded catalog's tables, on any database SQLAlchemy speaks (SQLite,
PostgreSQL). The tables themselves are created and changed only by the Alembic migrations in
``sql_migrations/versions``; this module describes them for queries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

versions = Table(
    "versions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("version", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("parents", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created", String(40), nullable=False),
    Column("user", Text, nullable=False),
    Column("storage", Text, nullable=False),
    Column("stats", Text, nullable=False),
    UniqueConstraint("project", "name", "version", name="versions_unique_number"),
    Index("versions_by_name", "project", "name"),
)

lineage = Table(
    "lineage",
    metadata,
    Column("child", String(32), ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("parent", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    PrimaryKeyConstraint("child", "position"),
    Index("lineage_by_parent", "parent"),
)

manifests = Table(
    "manifests",
    metadata,
    Column(
        "version_id", String(32), ForeignKey("versions.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("data", LargeBinary, nullable=False),
)

staged = Table(
    "staged",
    metadata,
    Column("version_id", String(32), ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    # In code point order on PostgreSQL too, whatever the database's locale (migration 0007).
    Column("path", Text().with_variant(Text(collation="C"), "postgresql"), nullable=False),
    Column("removed", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("blob_id", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("uploaded", Boolean, nullable=False, default=False),
    Column("link", Text, nullable=False, default=""),
    Column("etag", Text, nullable=False, default=""),
    PrimaryKeyConstraint("version_id", "path"),
)

# The local file of each blob a draft staged, filled from ``staged`` when an upload first asks
# and emptied whenever the draft's staged rows change (see SqlCatalog.staged_sources): ``staged``
# itself keeps no index by content, which every staged and every dropped row would pay for.
# Unlogged on PostgreSQL, and without a foreign key (see migration 0006).
staged_sources = Table(
    "staged_sources",
    metadata,
    Column("version_id", String(32), nullable=False),
    Column("blob_id", String(64), nullable=False),
    Column("source", Text, nullable=False),
    PrimaryKeyConstraint("version_id", "blob_id"),
)

chunk_lists = Table(
    "chunk_lists",
    metadata,
    Column("blob_id", String(64), primary_key=True),
    Column("chunks", LargeBinary, nullable=False),
)

metadata_values = Table(
    "metadata",
    metadata,
    Column("version_id", String(32), ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("version_id", "name"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", Text, nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("read_only", Boolean, nullable=False),
    # May delete and replace what final versions are made of (packs, indexes): gc's token.
    Column("admin", Boolean, nullable=False, server_default=false()),
    Column("created", String(40), nullable=False),
)

uses = Table(
    "uses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_id", String(32), ForeignKey("versions.id", ondelete="CASCADE"), nullable=False),
    Column("alias", Text, nullable=False),
    Column("used", String(40), nullable=False),
    Column("user", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("command", Text, nullable=False),
    Column("git_commit", String(64), nullable=False),
    Column("git_dirty", Boolean, nullable=True),
    Column("run_kind", String(16), nullable=False),
    Column("run_id", Text, nullable=False),
    Column("run_name", Text, nullable=False),
    Column("experiment", Text, nullable=False),
    Index("uses_by_version", "version_id"),
    Index("uses_by_run_id", "run_id"),
    Index("uses_by_run_name", "run_name"),
)
