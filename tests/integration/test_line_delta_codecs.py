"""Line deltas of both codecs in a real store: RUNS, written now, and LINES, which earlier
versions wrote. verify, a cold pull, squash and gc --repack read either; verify finds damage
in either and names the blob."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.errors import IntegrityError
from deltaset.objects import store as store_module
from deltaset.packs.codec import Codec, encode_against
from deltaset.packs.writer import pack_key
from tests.integration.test_deltas import close, codec_of, cold_copy, rewritten, store_of
from tests.unit.packs.test_codec import _reference_lines


def versions() -> list[str]:
    """A table, the same with a column added to every row, then with rows revised and added."""
    rng = random.Random(4)
    table = [f"{i},{rng.randint(0, 10**6)},some words of row {i}\n" for i in range(20_000)]
    widened = [f"{line[:-1]},{rng.randint(0, 99)}\n" for line in table]
    revised = [*widened]
    for at in range(0, len(revised), 500):
        revised[at] = f"{at},revised,{rng.randint(0, 99)}\n"
    return ["".join(table), "".join(widened), "".join(revised) + "20000,1,added,5\n"]


def closed(tmp_path: Path) -> list[Dataset]:
    made: list[Dataset] = []
    for text in versions():
        made.append(close(tmp_path, {"t.csv": text}, made[-1] if made else None))
    return made


def closed_by(tmp_path: Path, codec: Codec) -> list[Dataset]:
    """:func:`closed`, its line delta written as ``codec`` (LINES: as deltaset did before
    codec RUNS)."""
    with pytest.MonkeyPatch.context() as patch:
        if codec is Codec.LINES:
            patch.setattr(store_module, "encode_against", _as_earlier_versions_wrote)
        return closed(tmp_path)


def _as_earlier_versions_wrote(data: bytes, base: bytes, *args: int) -> tuple[Codec, bytes]:
    codec, payload = encode_against(data, base, *args)
    if codec is Codec.RUNS:
        return Codec.LINES, _reference_lines(data, base)
    return codec, payload


def damage(ds: Dataset, blob_id: str) -> None:
    """Flip one bit in the middle of ``blob_id``'s stored payload."""
    where = store_of(ds).location(blob_id)
    root = Path(ds.get_default_storage().removeprefix("file://"))
    pack = root / pack_key(where.pack_id)
    data = bytearray(pack.read_bytes())
    data[where.entry.offset + where.entry.length // 2] ^= 0x01
    pack.write_bytes(bytes(data))


@pytest.mark.parametrize("codec", [Codec.RUNS, Codec.LINES])
def test_a_store_of_either_line_codec_is_read_verified_squashed_and_repacked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: Codec
) -> None:
    made = closed_by(tmp_path, codec)
    assert codec_of(made[1], "t.csv")[0] is codec
    texts = versions()
    for ds, text in zip(made, texts, strict=True):
        assert cold_copy(tmp_path, monkeypatch, ds) == {"t.csv": text.encode()}
        Dataset.get(dataset_id=ds.id).verify_storage()
    squashed = Dataset.squash("squashed", dataset_ids=[ds.id for ds in made])
    assert cold_copy(tmp_path, monkeypatch, squashed) == {"t.csv": texts[-1].encode()}
    rewritten(made)
    for ds, text in zip(made, texts, strict=True):
        assert cold_copy(tmp_path, monkeypatch, ds) == {"t.csv": text.encode()}
        Dataset.get(dataset_id=ds.id).verify_storage()


@pytest.mark.parametrize("codec", [Codec.RUNS, Codec.LINES])
def test_verify_names_a_damaged_line_delta_of_either_codec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: Codec
) -> None:
    made = closed_by(tmp_path, codec)
    line_delta = made[1].file_entries_dict["t.csv"].hash
    assert codec_of(made[1], "t.csv")[0] is codec
    damage(made[1], line_delta)
    for ds in made[1:]:  # the line delta itself, and the version rebuilt through it
        with pytest.raises(IntegrityError, match=line_delta):
            Dataset.get(dataset_id=ds.id).verify_storage()
    Dataset.get(dataset_id=made[0].id).verify_storage()
