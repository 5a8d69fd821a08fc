"""Damaged storage and catalog: flipped bits, truncated and deleted packs, index files and
manifests, a damaged catalog file. ``get`` and ``verify`` name what is damaged, no wrong byte
reaches a destination, and ``rebuild-catalog`` recovers what the storage still holds."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from tests.chaos.checks import (
    Tree,
    check_versions,
    compare,
    destination_holds_no_wrong_bytes,
    final_ids,
    one_sentence,
)
from tests.chaos.harness import Broken, Machine, Trial, hash_tree
from tests.chaos.kills import final, under

HOWS = ("flip", "truncate", "delete", "append")


def damage_file(rng: random.Random, path: Path, hows: tuple[str, ...] = HOWS) -> str:
    """Flip a bit, truncate, append or delete; returns what was done."""
    data = bytearray(path.read_bytes())
    how = rng.choice([h for h in hows if data or h in ("delete", "append")])
    if how == "flip":
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        return f"flipped a bit at byte {at} of"
    if how == "truncate":
        size = rng.randrange(len(data))
        path.write_bytes(bytes(data[:size]))
        return f"truncated to {size} bytes"
    if how == "append":
        path.write_bytes(bytes(data) + rng.randbytes(rng.randint(1, 64)))
        return "appended bytes to"
    path.unlink()
    return "deleted"


def some_versions(trial: Trial, machine: Machine) -> tuple[dict[str, Tree], dict[str, str]]:
    """2 or 3 final versions, some children of others; their trees, and each one's parent."""
    finals: dict[str, Tree] = {}
    parents: dict[str, str] = {}
    for n in range(trial.rng.randint(2, 3)):
        folder, tree = trial.tree(f"v{n}")
        parent = trial.rng.choice(["", *sorted(finals)]) if finals else ""
        version_id = final(
            machine, "damage", str(folder), *((parent,) if parent else ()), into=f"v{n}"
        )
        finals[version_id] = {**finals.get(parent, {}), **under(f"v{n}", tree)}
        parents[version_id] = parent
    return finals, parents


def storage_objects(storage: Path, kind: str) -> list[Path]:
    return sorted(p for p in (storage / kind).rglob("*") if p.is_file())


def damaged_storage(trial: Trial, kind: str, hows: tuple[str, ...] = HOWS) -> None:
    machine = trial.machine()
    finals, parents = some_versions(trial, machine)
    storage = machine.home / "storage"
    victim = trial.rng.choice(storage_objects(storage, kind))
    how = damage_file(trial.rng, victim, hows)
    trial.figures.count("objects damaged")
    names = {victim.name, victim.stem, f"{kind}/{victim.name}"}
    what = f"{victim.relative_to(storage)} ({how})"
    readable = {
        v: t for v, t in finals.items() if pulled_right_or_named(machine, v, t, names, what)
    }
    lost_with = set()
    if kind == "manifests" and not how.startswith("appended"):  # bytes after its frame: intact
        lost_with = {victim.stem} | descendants(parents, victim.stem)
        verified = machine.run("verify", "--id", victim.stem)
        if verified.code == 0 or victim.stem not in verified.err:
            raise Broken("damage not named", f"after {what}, verify says {verified.err!r}")
    fresh = machine.trial.machine(str(storage))
    rebuilt = fresh.run("rebuild-catalog")
    if rebuilt.code != 0:
        one_sentence(rebuilt)
    imported = final_ids(fresh)
    missing = sorted(readable.keys() - lost_with - imported)
    if missing:
        raise Broken("rebuild lost versions", f"after {what}, rebuild-catalog lost {missing}")
    if lost_with - imported and victim.stem not in rebuilt.out + rebuilt.err:
        raise Broken("damage not named", f"after {what}, rebuild-catalog says {rebuilt.err!r}")
    if kind == "index":  # gc rewrites every index from the packs
        machine.ok("gc", "--delete", "--keep-recent", "0")
        readable = {v: finals[v] for v in imported}
    readable = {v: t for v, t in readable.items() if v in imported}
    check_versions(fresh, readable, skip=frozenset(imported - readable.keys()))


def descendants(parents: dict[str, str], version_id: str) -> set[str]:
    found = {child for child, parent in parents.items() if parent == version_id}
    for child in set(found):
        found |= descendants(parents, child)
    return found


def pulled_right_or_named(
    machine: Machine, version_id: str, tree: Tree, names: set[str], what: str
) -> bool:
    """A pull through an empty cache either gives exactly the version, or fails naming the
    damaged object (as ``verify`` must then do too), leaving no wrong bytes behind."""
    target = machine.trial.scratch("pull") / "copy"
    pulled = machine.fresh_cache().run("get", "--id", version_id, "--copy", str(target))
    machine.trial.figures.count("pulls of damaged storage")
    if pulled.code == 0:
        compare(machine, f"the pull of {version_id} after {what}", hash_tree(target), tree)
        return True
    destination_holds_no_wrong_bytes(machine, target, tree)
    said = one_sentence(pulled)
    if not any(name in said for name in names):
        raise Broken("damage not named", f"after {what}, get says {said!r}")
    verified = machine.run("verify", "--id", version_id)
    if verified.code == 0:
        raise Broken("damage not named", f"after {what}, verify --id {version_id} passes")
    if not any(name in verified.err for name in names):
        raise Broken("damage not named", f"after {what}, verify says {verified.err!r}")
    machine.trial.figures.count("damage named by get and verify")
    return False


def damaged_catalog(trial: Trial) -> None:
    machine = trial.machine()
    finals, _ = some_versions(trial, machine)
    catalog = machine.home / "catalog.db"
    how = damage_file(trial.rng, catalog)
    trial.figures.count("catalogs damaged")
    listed = machine.run("search", "--json")
    if listed.code != 0 and str(catalog) not in one_sentence(listed):
        raise Broken("damage not named", f"after the catalog was {how}: {listed.err!r}")
    fresh = trial.machine(str(machine.home / "storage"))
    trial.recover(fresh, "rebuild-catalog")
    check_versions(fresh, finals)


DAMAGE_TRIALS: dict[str, Callable[[Trial], None]] = {
    "damaged pack": lambda trial: damaged_storage(trial, "packs"),
    "damaged index file": lambda trial: damaged_storage(trial, "index", ("flip", "truncate")),
    "deleted index file": lambda trial: damaged_storage(trial, "index", ("delete",)),
    "damaged manifest": lambda trial: damaged_storage(trial, "manifests"),
    "damaged catalog": damaged_catalog,
}
