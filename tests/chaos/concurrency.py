"""Four processes at once, for a fixed number of rounds, closing, syncing, pulling, gc'ing and
deleting in one catalog and one storage; then no version lost, duplicated or half-made."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.checks import Tree, check_versions, compare, created_id, versions
from tests.chaos.harness import Broken, Machine, Outcome, Trial, hash_tree, make_tree
from tests.chaos.kills import PROJECT, change_tree

WORKERS = 4
ROUNDS = 3
CLOSED = re.compile(r"id=([0-9a-f]{32})")


@dataclass
class Shared:
    machine: Machine
    finals: dict[str, Tree] = field(default_factory=dict)
    drafts: dict[str, Tree] = field(default_factory=dict)  # closes that failed, to re-run
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, version_id: str, tree: Tree) -> None:
        with self.lock:
            self.finals[version_id] = tree


@dataclass
class Op:
    """One worker's step of a round, drawn before the round starts (so the seed fixes it)."""

    kind: str
    target: str = ""  # the version a pull or delete is about
    parent: str = ""
    folder: Path | None = None
    tree: Tree = field(default_factory=dict)


def draw_round(trial: Trial, shared: Shared, round_no: int) -> list[Op]:
    known = set(shared.finals)
    deleted: set[str] = set()
    pulled: set[str] = set()  # a version pulled this round is not deleted in it
    ops = []
    for worker in range(WORKERS):
        kind = trial.rng.choice(["close", "close", "sync", "pull", "gc", "delete"])
        free = sorted(known - deleted - (pulled if kind == "delete" else set()))
        op = Op(kind if free or kind not in ("pull", "delete") else "close")
        if op.kind in ("pull", "delete"):
            op.target = trial.rng.choice(free)
            (deleted if op.kind == "delete" else pulled).add(op.target)
        if op.kind == "close":
            op.folder, op.tree = trial.tree(f"r{round_no}w{worker}")
            op.parent = trial.rng.choice(["", *sorted(known)])
        if op.kind == "sync":
            op.folder = trial.root / f"synced-{worker}"
            if op.folder.exists():
                change_tree(trial, op.folder)
            else:
                op.folder.mkdir()
                make_tree(trial.rng, op.folder, big=False)
            op.target, op.tree = f"sync-{worker}", hash_tree(op.folder)
        ops.append(op)
    return ops


def run_op(shared: Shared, op: Op) -> Outcome | None:
    machine = shared.machine
    if op.kind == "close":
        return close(shared, op)
    if op.kind == "sync":
        done = machine.run(
            "sync", "--folder", str(op.folder), "--project", PROJECT, "--name", op.target
        )
        if done.code == 0 and (found := CLOSED.search(done.out)):
            shared.done(found[1], op.tree)
        return done
    if op.kind == "pull":
        done = machine.run("get", "--id", op.target)
        if done.code == 0:
            compare(
                machine,
                f"a concurrent pull of {op.target}",
                hash_tree(Path(done.out.strip())),
                shared.finals[op.target],
            )
        return done
    if op.kind == "gc":
        return machine.run("gc", "--delete", "--keep-recent", "0")
    done = machine.run("delete", "--id", op.target)
    if done.code == 0:
        with shared.lock:
            del shared.finals[op.target]
    return done


def close(shared: Shared, op: Op) -> Outcome:
    machine = shared.machine
    parents = ("--parents", op.parent) if op.parent else ()
    made = machine.run("create", "--project", PROJECT, "--name", "race", "--json", *parents)
    if made.code != 0:  # its parent deleted meanwhile by another process: an honest refusal
        return made
    version_id = created_id(made)
    with shared.lock:
        inherited = dict(shared.finals.get(op.parent, {}))
    tree = {**inherited, **{f"w/{p}": d for p, d in op.tree.items()}}
    added = machine.run(
        "add", "--id", version_id, "--files", str(op.folder), "--dataset-folder", "w"
    )
    if added.code != 0:
        return added
    done = machine.run("close", "--id", version_id)
    if done.code == 0:
        shared.done(version_id, tree)
    else:
        with shared.lock:
            shared.drafts[version_id] = tree
    return done


def concurrency(trial: Trial) -> None:
    shared = Shared(trial.machine())
    for round_no in range(ROUNDS):
        ops = draw_round(trial, shared, round_no)
        with ThreadPoolExecutor(WORKERS) as pool:
            outcomes = list(pool.map(lambda op: run_op(shared, op), ops))
        for op, outcome in zip(ops, outcomes, strict=True):
            trial.figures.count(f"concurrent {op.kind}s")
            if outcome is not None and outcome.code != 0:
                trial.figures.count("concurrent commands refused with one sentence")
    for version_id, tree in sorted(shared.drafts.items()):  # the user closes again
        again = shared.machine.run("close", "--id", version_id)
        if again.code == 0:
            shared.done(version_id, tree)
        elif "parent" not in again.err:  # a parent deleted meanwhile is an honest refusal
            raise Broken("re-run did not finish", again.describe())
    check_unique_numbers(shared.machine)
    check_versions(shared.machine, shared.finals)


def check_unique_numbers(machine: Machine) -> None:
    every = versions(machine, drafts=True)
    numbers = [(v["project"], v["name"], v["version"]) for v in every]
    if len(set(numbers)) != len(numbers):
        raise Broken("duplicated", f"two versions share a number: {sorted(map(str, numbers))}")
    ids = [v["id"] for v in every]
    if len(set(ids)) != len(ids):
        raise Broken("duplicated", "a version is listed twice")


CONCURRENCY_TRIALS: dict[str, Callable[[Trial], None]] = {"4 processes at once": concurrency}
