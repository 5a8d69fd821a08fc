"""Where the bytes live: one small :class:`Storage` protocol, one implementation per scheme."""

from deltaset.storage.base import IOStats, Storage
from deltaset.storage.registry import open_storage

__all__ = ["IOStats", "Storage", "open_storage"]
