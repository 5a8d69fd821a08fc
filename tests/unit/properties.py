"""Hypothesis settings and strategies shared by the property tests of ``deltaset.core``."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from deltaset.core.hashing import blob_id_of
from deltaset.core.manifest import Entry, Manifest

# The autouse ``isolation`` fixture is function-scoped; these tests never touch it between examples.
PROPERTY = settings(
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

segments = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\\:\x00"),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))

paths = st.lists(segments, min_size=1, max_size=4).map("/".join)

blob_ids = st.binary(min_size=32, max_size=32).map(bytes.hex)

sizes = st.integers(min_value=0, max_value=2**53)

stored_entries = st.builds(
    Entry, size=sizes, blob_id=blob_ids, chunks=st.lists(blob_ids, max_size=3).map(tuple)
)

_no_nul = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
external_entries = st.builds(
    Entry, size=sizes, blob_id=blob_ids, link=_no_nul.map(lambda u: "s3://b/" + u), etag=_no_nul
)

entries = st.one_of(stored_entries, external_entries)

manifests = st.dictionaries(paths, entries, max_size=25).map(Manifest)

# What releases before external files could write.
stored_manifests = st.dictionaries(paths, stored_entries, max_size=25).map(Manifest)

# Content addressing: one blob id always has one size. A small pool makes collisions likely.
_POOL = [blob_id_of(bytes([i])) for i in range(6)]
pooled_entries = st.sampled_from(_POOL).map(lambda b: Entry(int(b[:4], 16), b))
_few_paths = st.sampled_from(["a", "b", "c/d", "c/e", "f/g/h", "z.jpg"])
pooled_manifests = st.dictionaries(st.one_of(_few_paths, paths), pooled_entries, max_size=12).map(
    Manifest
)
