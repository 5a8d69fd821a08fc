"""Blobs over a Storage: each blob stored once under its BLAKE3 id, compressed when it pays.

Blobs are loose objects today; packs and content-defined chunks slot in behind :class:`BlobStore`.
"""

from deltaset.objects.store import BlobStore

__all__ = ["BlobStore"]
