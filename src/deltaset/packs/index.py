"""PackIndex: which pack holds each blob, loaded from the index files a storage holds.

Index files are immutable, so each one is read from storage once and then kept in a local copy
folder (when given) for the next process.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

from deltaset.errors import IntegrityError, NotFoundError
from deltaset.packs.codec import LINE_DELTAS
from deltaset.packs.format import (
    INDEX_ROW_SIZE,
    Location,
    PackEntry,
    base_pair,
    decode_index_parts,
    encode_index_rows,
    index_row,
    pairs_of,
    row_location,
)
from deltaset.packs.reader import read_pack_entries
from deltaset.packs.writer import pack_id_of
from deltaset.storage.base import Storage
from deltaset.storage.local import write_best_effort

INDEX_PREFIX = "index/"
# Index files a rewrite of the stored blobs wrote (``gc --repack``): named with the rewrite's
# generation, whose rows win over those of every lower one (an ordinary index file: 0).
REWRITE_PREFIX = "rewrite-"
TOO_DEEP = 100  # deltas rebuilding a blob one after the other: more is a damaged index
log = logging.getLogger("deltaset")


def _packs_named(rows: bytes | bytearray) -> frozenset[bytes]:
    """The raw ids of the packs index ``rows`` name."""
    size = len(rows) - len(rows) % INDEX_ROW_SIZE
    return frozenset(bytes(rows[at + 32 : at + 48]) for at in range(0, size, INDEX_ROW_SIZE))


def index_key(name: str) -> str:
    return f"{INDEX_PREFIX}{name}.idx"


def new_index_key(rank: int = 0) -> str:
    """A fresh index file's key; ``rank``: the generation of the rewrite writing it."""
    name = uuid.uuid4().hex
    return index_key(f"{REWRITE_PREFIX}{rank:08d}-{name}" if rank else name)


def rank_of(key: str) -> int:
    """The rewrite generation an index file's key names (0: an ordinary index file)."""
    name = key.removeprefix(INDEX_PREFIX)
    if not name.startswith(REWRITE_PREFIX):
        return 0
    digits = name[len(REWRITE_PREFIX) :].partition("-")[0]
    return int(digits) if digits.isdigit() else 0


class PackIndex:
    """Compact: one fixed-size row per blob in a single buffer, and a dict from the raw id to
    its row, so a million blobs cost about 200 bytes each rather than an object graph."""

    def __init__(self, storage: Storage, local_copies: Path | None = None) -> None:
        self.storage = storage
        self.local_copies = local_copies
        self._rows = bytearray()
        self._row_of: dict[bytes, int] = {}
        self._base_of: dict[bytes, bytes] = {}  # raw id of a delta -> raw ids of its bases
        # Raw id -> the rank of its row, for rows a rewrite wrote (the others: 0). A blob held
        # twice (rewritten, or copied by a repack cut short) is read from its highest-ranked
        # row, and its bases are that row's, whatever order the index files were read in: a
        # rewrite changes which blob is whose base, and mixing the two could make a loop.
        self._rank: dict[bytes, int] = {}
        # Each index file read -> the numbers of its rows in _rows; and, once asked for, the
        # packs (raw ids) they name: a gc dropping packs rewrites only the files naming them
        # (reading every one grew with the history), and a load need not work them out.
        self._loaded: dict[str, range] = {}
        self._packs_of: dict[str, frozenset[bytes]] = {}
        self._unpublished = bytearray()  # rows of complete packs no index file names yet
        self._unpublished_pairs = bytearray()
        self._lock = threading.Lock()
        self.damaged: dict[str, str] = {}  # index files that cannot be read -> why
        self.covered_packs: set[str] = set()  # packs learned from their headers (see _cover)
        self._covered = False
        self._trust_local = True  # see reread_from_storage

    def refresh(self) -> None:
        """Read the index files written since the last refresh (by any process), and forget
        what index files removed since (a gc dropping packs) said.

        A damaged index file is skipped, named in :attr:`damaged` and in a warning: the packs
        it named are learned from their own headers instead (see :meth:`_cover`), so every
        dataset of the storage stays readable until a repair rewrites it."""
        keys = sorted(k for k in self.storage.list(INDEX_PREFIX) if k.endswith(".idx"))
        listed = set(keys)
        if self._loaded.keys() - listed:
            self._forget()
        self.damaged = {k: why for k, why in self.damaged.items() if k in listed}
        found_damage = False
        for key in keys:
            if key in self._loaded or key in self.damaged:
                continue
            try:
                rows, pairs = self._rows_of(key)
            except NotFoundError:
                continue  # superseded and removed while we listed
            except IntegrityError as exc:
                self.damaged[key] = exc.message
                log.warning("%s Its packs are read from their own headers instead.", exc.message)
                found_damage = True
                continue
            self._learn(key, rows, pairs, rank_of(key))
        if self.damaged and (found_damage or not self._covered):
            self._cover()

    def reread_from_storage(self) -> None:
        """Read every index file again from the storage, not from this machine's copies: a
        copy can be intact while the stored file is damaged, which only the storage's own
        bytes show (verify and gc, which must judge the storage, read it so)."""
        self._trust_local = False
        self._forget()
        self.damaged = {}
        self.refresh()

    def cover_unnamed(self) -> bool:
        """Learn, once per process, the packs no index file names (an index file deleted, or an
        upload interrupted before its index); returns whether any was found."""
        if self._covered:
            return False
        before = set(self.covered_packs)
        self._cover()
        found = sorted(self.covered_packs - before)
        if found:
            log.warning(
                "%d packs of %s are named by no index file (first: packs/%s); their blobs are "
                "read from their own headers, and 'deltaset gc --delete' indexes them again.",
                len(found),
                self.storage.url,
                found[0],
            )
        return bool(found)

    def _rows_of(self, key: str) -> tuple[bytes, bytes]:
        """The rows and base pairs of index file ``key``, from the local copy when intact."""
        name = f"The pack index {key} in {self.storage.url}"
        local = self.local_copies / key.rsplit("/", 1)[-1] if self.local_copies else None
        if local is not None and self._trust_local and local.is_file():
            try:
                return decode_index_parts(local.read_bytes(), name)
            except IntegrityError:
                local.unlink(missing_ok=True)  # a damaged copy: read the storage's again
        data = self.storage.get_bytes(key)
        parts = decode_index_parts(data, name)
        if local is not None:
            write_best_effort(local, data)  # a local copy is an optimisation only
        return parts

    def _cover(self) -> None:
        """Learn, from its own header, each complete pack no readable index file names: those
        a damaged index file named (and any an interrupted upload left unnamed)."""
        named = self.pack_ids()
        for key in self.storage.list("packs/"):
            pack_id = pack_id_of(key)
            if pack_id is None or pack_id in named:
                continue
            try:
                entries = read_pack_entries(self.storage, pack_id)
            except (IntegrityError, NotFoundError):
                continue  # incomplete, or gone: holds nothing to read
            # A blob known already is read from where the index files say: a pack a rewrite
            # left unnamed holds other encodings of blobs whose current ones it may not mix with.
            entries = [e for e in entries if bytes.fromhex(e.blob_id) not in self._row_of]
            rows = b"".join(index_row(pack_id, entry) for entry in entries)
            self._learn("", rows, b"".join(base_pair(entry) for entry in entries))
            self.covered_packs.add(pack_id)
        self._covered = True

    def _forget(self) -> None:
        """Start again from the index files alone (and the packs this process just wrote)."""
        with self._lock:
            self._rows = bytearray()
            self._row_of = {}
            self._base_of = {}
            self._rank = {}
            self._loaded = {}
            self._packs_of = {}
            unpublished = bytes(self._unpublished)
            unpublished_pairs = bytes(self._unpublished_pairs)
        self.covered_packs = set()
        self._covered = False
        self._learn("", unpublished, unpublished_pairs)

    def _learn(
        self, key: str, rows: bytes | bytearray, pairs: bytes | bytearray = b"", rank: int = 0
    ) -> None:
        data = bytes(rows)
        starts = range(0, len(data) - len(data) % INDEX_ROW_SIZE, INDEX_ROW_SIZE)
        # Comprehensions, not a loop: every process with a pull or an upload loads each row.
        ids = [data[at : at + 32] for at in starts]
        bases = pairs_of(pairs) if pairs else {}
        with self._lock:
            first = len(self._rows) // INDEX_ROW_SIZE
            self._rows += data
            numbered = zip(ids, range(first, first + len(ids)), strict=True)
            if self._row_of.keys().isdisjoint(ids):  # the usual case, and the fast one
                self._row_of.update(numbered)
                learned: Iterable[bytes] = ids
            else:
                rows_of = dict(numbered)
                self._keep_highest(rows_of, bases, self._row_of.keys() & rows_of.keys(), rank)
                self._row_of.update(rows_of)
                learned = rows_of
            self._base_of.update(bases)
            if rank:
                self._rank.update(dict.fromkeys(learned, rank))
            if key:
                self._loaded[key] = range(first, first + len(ids))

    def _keep_highest(
        self, rows_of: dict[bytes, int], bases: dict[bytes, bytes], held: set[bytes], rank: int
    ) -> None:
        """Of the blobs of ``rows_of`` already held, drop from it (and ``bases``) those whose
        row known now ranks higher; for the others, forget the bases of the row they replace."""
        for raw in held:
            if self._rank.get(raw, 0) > rank:
                del rows_of[raw]
                bases.pop(raw, None)
            elif raw not in bases:
                self._base_of.pop(raw, None)

    def publish(self, locations: Iterable[Location], rank: int = 0) -> str:
        """Write an index file for newly written packs, then make their blobs findable."""
        listed = list(locations)
        rows = b"".join(index_row(loc.pack_id, loc.entry) for loc in listed)
        pairs = b"".join(base_pair(loc.entry) for loc in listed)
        return self.publish_rows(rows, pairs=pairs, rank=rank)

    def publish_rows(
        self,
        rows: bytes | bytearray,
        learned: bool = False,
        pairs: bytes | bytearray = b"",
        rank: int = 0,
    ) -> str:
        """:meth:`publish` for rows already encoded by :func:`index_row` and the ``pairs``
        naming the bases of their deltas (already known to this index when ``learned``);
        ``rank``: the generation of the rewrite writing them (see :func:`rank_of`)."""
        key = new_index_key(rank)
        self.storage.put_bytes(key, encode_index_rows(rows, pairs, ranked=bool(rank)))
        if learned:
            with self._lock:
                self._loaded[key] = range(0)  # learned as unpublished rows, see learn_unpublished
                self._packs_of[key] = _packs_named(rows)
                self._unpublished = bytearray()  # what the session learned is named now
                self._unpublished_pairs = bytearray()
        else:
            self._learn(key, rows, pairs, rank)
        return key

    def learn_unpublished(self, rows: bytes, pairs: bytes = b"") -> None:
        """Know the blobs of a complete pack that no stored index names yet: this process may
        read them, and the index file naming them follows (or :meth:`BlobStore.recover` writes
        one after an interruption)."""
        with self._lock:
            self._unpublished += rows
            self._unpublished_pairs += pairs
        self._learn("", rows, pairs)

    def get(self, blob_id: str) -> Location | None:
        raw = bytes.fromhex(blob_id)
        row = self._row_of.get(raw)
        return None if row is None else self._located(row_location(self._rows, row))

    def _located(self, loc: Location) -> Location:
        """``loc`` with the base of its blob, when it is a delta."""
        if not self._base_of:
            return loc
        base = self._base_of.get(bytes.fromhex(loc.entry.blob_id))
        if base is None:
            return loc
        e = loc.entry
        return Location(
            loc.pack_id, PackEntry(e.blob_id, e.codec, e.offset, e.length, e.raw_length, base.hex())
        )

    def has_deltas(self) -> bool:
        return bool(self._base_of)

    def rewritten(self, blob_id: str) -> bool:
        """Whether the row ``blob_id`` is read from was written by a rewrite (see rank_of)."""
        return bytes.fromhex(blob_id) in self._rank

    def base_of(self, blob_id: str) -> str | None:
        """The base of ``blob_id`` when it is stored as a delta (the hex of its base ids joined,
        see :func:`~deltaset.packs.format.base_ids`)."""
        base = self._base_of.get(bytes.fromhex(blob_id))
        return None if base is None else base.hex()

    def _bases(self, raw_id: bytes) -> list[bytes]:
        joined = self._base_of.get(raw_id, b"")
        return [joined[at : at + 32] for at in range(0, len(joined), 32)]

    def bases_known(self, raw_id: bytes) -> bool:
        """Whether every blob the blob of raw id ``raw_id`` is rebuilt from is known too."""
        return all(base in self._row_of for base in self.base_chain(raw_id))

    def base_chain(self, raw_id: bytes) -> list[bytes]:
        """The raw ids of the blobs the blob of raw id ``raw_id`` is rebuilt from (its bases,
        theirs, and so on), each once."""
        found: dict[bytes, None] = {}
        todo = self._bases(raw_id)
        while todo:
            base = todo.pop()
            if base not in found:
                found[base] = None
                todo += self._bases(base)
        return list(found)

    def restart_point(self, raw_id: bytes, max_depth: int, big: float) -> bytes:
        """The newest blob, following the first bases of ``raw_id`` (itself included), that is
        stored whole or is a delta less than ``max_depth`` deep storing at least ``big`` of its
        raw size: where the content last changed much."""
        current = raw_id
        for _ in range(TOO_DEEP):  # more steps: a loop, which is damage
            bases = self._bases(current)
            if not bases or (self._big(current, big) and self.depth_of(current.hex()) < max_depth):
                break
            current = bases[0]
        return current

    def line_deltas_of(self, blob_id: str) -> int:
        """How many line deltas rebuilding ``blob_id`` takes (on the path of its bases holding
        most): each costs a read many times what a zstd delta does."""
        return self._line_deltas(bytes.fromhex(blob_id), {})

    def _line_deltas(self, raw_id: bytes, known: dict[bytes, int], level: int = 0) -> int:
        if raw_id not in self._base_of:
            return 0
        if level >= TOO_DEEP:
            return TOO_DEEP
        if raw_id not in known:
            known[raw_id] = TOO_DEEP  # until worked out: a loop (damage)
            most = max(self._line_deltas(base, known, level + 1) for base in self._bases(raw_id))
            known[raw_id] = min(TOO_DEEP, most + self._is_line_delta(raw_id))
        return known[raw_id]

    def deltas(self) -> list[tuple[str, list[str]]]:
        """Every blob stored as a delta, with its bases."""
        with self._lock:
            found = list(self._base_of.items())
        return [(raw.hex(), [base.hex() for base in self._bases(raw)]) for raw, _ in found]

    def is_line_delta(self, blob_id: str) -> bool:
        return self._is_line_delta(bytes.fromhex(blob_id))

    def _is_line_delta(self, raw_id: bytes) -> bool:
        row = self._row_of.get(raw_id)
        return row is not None and row_location(self._rows, row).entry.codec in LINE_DELTAS

    def below_line_deltas(self, raw_id: bytes) -> bytes:
        """The newest blob, following the first bases of ``raw_id`` (itself included), that is
        rebuilt without any line delta."""
        current = raw_id
        for _ in range(TOO_DEEP):  # more steps: a loop, which is damage
            bases = self._bases(current)
            if not bases or not self._line_deltas(current, {}):
                break
            current = bases[0]
        return current

    def _big(self, raw_id: bytes, share: float) -> bool:
        row = self._row_of.get(raw_id)
        if row is None:
            return False
        entry = row_location(self._rows, row).entry
        # A line delta is made only where rows were rewritten (a sample shows it) or a zstd
        # delta stored much: rows moved all over.
        return entry.codec in LINE_DELTAS or entry.length >= share * entry.raw_length

    def depth_of(self, blob_id: str) -> int:
        """How many deltas rebuilding ``blob_id`` takes, one after the other (0: stored whole;
        a delta against two bases: one more than the deeper)."""
        return self._depth(bytes.fromhex(blob_id), {})

    def _depth(self, raw_id: bytes, known: dict[bytes, int], level: int = 0) -> int:
        if raw_id not in self._base_of:
            return 0
        if level >= TOO_DEEP:
            return TOO_DEEP
        if raw_id not in known:
            known[raw_id] = TOO_DEEP  # until worked out: a loop (damage) is too deep to read
            deepest = max(self._depth(base, known, level + 1) for base in self._bases(raw_id))
            known[raw_id] = min(TOO_DEEP, 1 + deepest)
        return known[raw_id]

    def pack_of_raw(self, raw_id: bytes) -> str | None:
        """The pack holding the blob whose id is the 32 raw bytes ``raw_id``, if known."""
        row = self._row_of.get(raw_id)
        if row is None:
            return None
        at = row * INDEX_ROW_SIZE
        return self._rows[at + 32 : at + 48].hex()

    def has_raw(self, raw_id: bytes) -> bool:
        """``in`` for an id given as its 32 raw bytes (no hex to decode)."""
        return raw_id in self._row_of

    def __contains__(self, blob_id: object) -> bool:
        return isinstance(blob_id, str) and bytes.fromhex(blob_id) in self._row_of

    def __len__(self) -> int:
        return len(self._row_of)

    def locations(self) -> list[Location]:
        with self._lock:
            found = [row_location(self._rows, row) for row in self._row_of.values()]
        return [self._located(loc) for loc in found]

    def all_locations(self) -> list[Location]:
        """Every row learned, a blob held by two packs (an interrupted repack, two machines
        uploading one content) once per pack: what decides whether a pack may go."""
        with self._lock:
            count = len(self._rows) // INDEX_ROW_SIZE
            found = [row_location(self._rows, row) for row in range(count)]
        return [self._located(loc) for loc in found]

    def pack_ids(self) -> set[str]:
        """The packs the learned rows name (worked out when asked: few callers need it)."""
        with self._lock:
            rows = bytes(self._rows)
        return {pack.hex() for pack in _packs_named(rows)}

    def index_keys(self) -> set[str]:
        return set(self._loaded)

    def keys_naming(self, pack_ids: Iterable[str]) -> list[str]:
        """The index files read that name any of ``pack_ids``, sorted."""
        wanted = {bytes.fromhex(p) for p in pack_ids}
        with self._lock:
            for key, rows in self._loaded.items():
                if key not in self._packs_of:
                    part = self._rows[rows.start * INDEX_ROW_SIZE : rows.stop * INDEX_ROW_SIZE]
                    self._packs_of[key] = _packs_named(part)
            return sorted(k for k in self._loaded if not self._packs_of[k].isdisjoint(wanted))

    def rows_where(self, packs: Iterable[str] = (), blobs: Iterable[str] = ()) -> list[Location]:
        """The rows learned (as :meth:`all_locations` gives them) naming one of ``packs`` or
        holding one of ``blobs``: told by their bytes alone, so a repack of a few packs does
        not decode every row of a long history."""
        pack_raw = {bytes.fromhex(p) for p in packs}
        blob_raw = {bytes.fromhex(b) for b in blobs}
        with self._lock:
            rows = bytes(self._rows)
        found = [
            at // INDEX_ROW_SIZE
            for at in range(0, len(rows) - len(rows) % INDEX_ROW_SIZE, INDEX_ROW_SIZE)
            if rows[at + 32 : at + 48] in pack_raw or rows[at : at + 32] in blob_raw
        ]
        return [self._located(row_location(rows, row)) for row in found]

    def next_rank(self) -> int:
        """The generation a new rewrite of the stored blobs takes: above every one known."""
        return 1 + max((rank_of(k) for k in self._loaded), default=0)

    def holds_current(self, loc: Location) -> bool:
        """Whether ``loc`` is a copy of its blob readers may use: not one a rewrite's row
        outranks (copies no rewrite ever wrote are alike, whichever was read last)."""
        raw = bytes.fromhex(loc.entry.blob_id)
        return not self._rank.get(raw) or self.pack_of_raw(raw) == loc.pack_id
