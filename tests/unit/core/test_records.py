from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltaset.core.records import RECORD_FORMAT, State, Stats, VersionRecord
from tests.unit.properties import PROPERTY

counts = st.integers(min_value=0, max_value=2**53)
texts = st.text(max_size=20)

records = st.builds(
    VersionRecord,
    id=st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
    project=texts,
    name=texts,
    version=st.from_regex(r"\A[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z"),
    state=st.sampled_from(State),
    parents=st.lists(texts, max_size=3).map(tuple),
    tags=st.lists(texts, max_size=3).map(tuple),
    description=texts,
    created=texts,
    user=texts,
    storage=texts,
    stats=st.builds(Stats, counts, counts, counts, counts, counts, counts),
)


def _record(**changes: object) -> VersionRecord:
    base = VersionRecord(
        id="a" * 32,
        project="proj/sub",
        name="images",
        version="1.0.3",
        state=State.FINAL,
        parents=("p1", "p2"),
        tags=("train", "v2"),
        description="cats",
        created="2024-01-01T00:00:00+00:00",
        user="ana",
        storage="file:///data/storage",
        stats=Stats(file_count=3, total_size=30, added=1, modified=1, removed=1, stored_bytes=9),
    )
    return base.evolve(**changes)


def test_to_dict_is_plain_json_with_a_format() -> None:
    doc = _record().to_dict()
    assert doc["format"] == RECORD_FORMAT
    assert doc["state"] == "final"
    assert doc["parents"] == ["p1", "p2"]
    assert doc["tags"] == ["train", "v2"]
    assert doc["stats"]["stored_bytes"] == 9
    assert json.loads(json.dumps(doc)) == doc


@PROPERTY
@given(records)
def test_round_trip_through_json(record: VersionRecord) -> None:
    doc = json.loads(json.dumps(record.to_dict()))
    back = VersionRecord.from_dict(doc)
    assert back == record
    assert isinstance(back.state, State)
    assert isinstance(back.parents, tuple)
    assert isinstance(back.tags, tuple)


def test_from_dict_without_stats_uses_zero_stats() -> None:
    doc = _record().to_dict()
    del doc["stats"]
    assert VersionRecord.from_dict(doc).stats == Stats()


def test_from_dict_refuses_an_unknown_state() -> None:
    doc = _record().to_dict()
    doc["state"] = "archived-ish"
    with pytest.raises(ValueError, match="archived-ish"):
        VersionRecord.from_dict(doc)


def test_evolve_returns_a_changed_copy() -> None:
    record = _record(state=State.DRAFT)
    final = record.evolve(state=State.FINAL)
    assert record.state is State.DRAFT
    assert final.state is State.FINAL
    assert final.evolve(state=State.DRAFT) == record


@pytest.mark.parametrize(
    ("state", "is_final"),
    [(State.DRAFT, False), (State.FINAL, True), (State.PUBLISHED, True)],
)
def test_state_is_final(state: State, is_final: bool) -> None:
    assert state.is_final is is_final
