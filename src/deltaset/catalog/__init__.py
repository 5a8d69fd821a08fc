"""Where dataset version records live and are searched: one protocol, embedded SQLite for now."""

from deltaset.catalog.base import Catalog, DraftChange, Query
from deltaset.catalog.sqlite import SqliteCatalog

__all__ = ["Catalog", "DraftChange", "Query", "SqliteCatalog"]
