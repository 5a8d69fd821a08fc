"""The invariants every trial ends on: each final version passes ``verify`` and pulls, through
an empty cache, byte for byte what it was made of; none is lost or appears from nowhere."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.chaos.harness import Broken, Machine, Outcome, hash_tree

Tree = dict[str, str]
# For a final version the trial did not see being made (a killed command may have finished its
# work): the tree it must hold, or None if it should not exist.
Unknown = Callable[[dict[str, object]], Tree | None]


def versions(machine: Machine, drafts: bool = False) -> list[dict[str, object]]:
    args = ("search", "--json", *(("--not-only-completed",) if drafts else ()))
    found = json.loads(machine.ok(*args).out)
    assert isinstance(found, list)
    return found


def final_ids(machine: Machine) -> set[str]:
    return {str(v["id"]) for v in versions(machine)}


def check_pull(machine: Machine, version_id: str, expected: Tree) -> None:
    """``get --copy`` through an empty cache gives exactly ``expected``."""
    target = machine.trial.scratch("pull") / "copy"
    pulled = machine.fresh_cache().run("get", "--id", version_id, "--copy", str(target))
    machine.trial.figures.count("pulls checked")
    if pulled.code != 0:
        machine.trial.figures.count("final versions unreadable")
        raise Broken("unreadable", f"the final version {version_id}: {pulled.describe()}")
    compare(machine, f"the pull of {version_id}", hash_tree(target), expected)


def compare(machine: Machine, what: str, found: Tree, expected: Tree) -> None:
    if found == expected:
        return
    wrong = sorted(p for p in found.keys() & expected.keys() if found[p] != expected[p])
    if wrong:
        machine.trial.figures.count("wrong bytes served")
    missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    raise Broken(
        "wrong bytes" if wrong else "wrong files",
        f"{what}: wrong bytes in {wrong[:5]}, missing {missing[:5]}, extra {extra[:5]}",
    )


def check_verify(machine: Machine, version_id: str) -> None:
    done = machine.run("verify", "--id", version_id)
    if done.code != 0:
        machine.trial.figures.count("final versions unreadable")
        raise Broken("unreadable", f"the final version {version_id} fails verify: {done.err}")


def check_versions(
    machine: Machine,
    expected: Mapping[str, Tree],
    unknown: Unknown = lambda _: None,
    skip: frozenset[str] = frozenset(),
) -> set[str]:
    """Every final version verifies and pulls right; ``expected`` ones all exist, others only
    if ``unknown`` says what they hold. Returns the final ids."""
    found = {str(v["id"]): v for v in versions(machine)}
    lost = sorted(expected.keys() - found.keys())
    if lost:
        machine.trial.figures.count("final versions lost", len(lost))
        raise Broken("lost", f"the final versions {lost} are gone")
    for version_id, record in sorted(found.items()):
        if version_id in skip:
            continue
        tree = expected.get(version_id) or unknown(record)
        if tree is None:
            raise Broken("unexpected version", f"a final version nobody made: {record}")
        check_verify(machine, version_id)
        check_pull(machine, version_id, tree)
        machine.trial.figures.count("final versions checked")
    return set(found)


def one_sentence(done: Outcome) -> str:
    """The error line of a failed command (its absence is already a Broken in ``run``)."""
    if done.code == 0:
        raise Broken("no error", f"{done.describe()} (expected a refusal)")
    return done.err.strip().splitlines()[-1]


def created_id(done: Outcome) -> str:
    return str(json.loads(done.out)["id"])


def destination_holds_no_wrong_bytes(machine: Machine, target: Path, expected: Tree) -> None:
    """Whatever a failed or killed pull left in ``target``, no file under its final name holds
    bytes other than the version's."""
    if not target.exists():
        return
    found = hash_tree(target)
    wrong = sorted(p for p in found if p in expected and found[p] != expected[p])
    if wrong:
        machine.trial.figures.count("wrong bytes served")
        raise Broken("wrong bytes", f"{target} holds wrong bytes in {wrong[:5]}")
