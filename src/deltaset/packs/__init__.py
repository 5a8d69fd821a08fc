"""Packs: many blobs in one storage object, each compressed on its own, found by an index.

A pack parses without any index (its header sits at its end, as in restic), so indexes and the
catalog can always be rebuilt from the packs themselves.
"""
