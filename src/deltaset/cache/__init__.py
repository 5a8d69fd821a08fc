"""This machine's copy of bytes: a content-addressed blob cache and read-only version trees."""

from deltaset.cache.blobs import BlobCache
from deltaset.cache.hashes import HashCache

__all__ = ["BlobCache", "HashCache"]
