"""4 to 8 processes at once, for a fixed number of rounds, closing, syncing, pulling, gc'ing and
deleting in one catalog (SQLite, or PostgreSQL behind two server replicas) and one storage; then
every final version is checked, and the catalog and the storage hold exactly the versions the
workers said they made: none lost, duplicated or half-made."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests import servers
from tests.chaos.checks import Tree, check_versions, compare, created_id, versions
from tests.chaos.harness import Broken, Machine, Outcome, Trial, hash_tree, make_tree
from tests.chaos.kills import PROJECT, change_tree
from tests.chaos.remote import DeltasetServer

FEWEST, MOST = 4, 8  # worker processes at once, drawn from the seed
ROUNDS = 3
REPLICAS = 2  # server processes sharing the PostgreSQL catalog and the storage
# The version a sync closed: its output names the parents' ids first ("Parent: ... id=").
CLOSED = re.compile(r"^Closed .*: id=([0-9a-f]{32})$", re.M)
SYNC_NAMES = 3
KINDS = ["close", "close", "sync", "pull", "copy", "gc", "delete"]
COMMANDS = {  # how the figures name each kind of op
    "close": "close",
    "sync": "sync",
    "pull": "get",
    "copy": "get --copy",
    "gc": "gc --delete",
    "delete": "delete",
}


@dataclass
class Shared:
    """What the workers reported: the ids they created, the final versions they made (and
    did not delete since), and the closes that failed (the user runs those again)."""

    machines: list[Machine]  # one per worker; all on one catalog and one storage
    storage: Path  # the storage folder, to compare with the catalog at the end
    created: set[str] = field(default_factory=set)
    finals: dict[str, Tree] = field(default_factory=dict)
    drafts: dict[str, tuple[int, Tree]] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)  # what each op did, for the reports
    lock: threading.Lock = field(default_factory=threading.Lock)

    def about(self, version_id: str) -> str:
        """The ops that named ``version_id``, to say how a failed invariant came about."""
        return "; ".join(line for line in self.history if version_id in line) or "no op named it"

    def made(self, version_id: str, tree: Tree) -> None:
        with self.lock:
            if version_id in self.finals:
                raise Broken("duplicated", f"two workers were told they made {version_id}")
            self.finals[version_id] = tree


@dataclass
class Op:
    """One worker's step of a round, drawn before the round starts (so the seed fixes it)."""

    worker: int
    kind: str
    target: str = ""  # the version a pull or delete is about; the name a sync makes
    parent: str = ""
    force: bool = False  # a delete of a parent: its children keep their files
    folder: Path | None = None
    tree: Tree = field(default_factory=dict)


def draw_round(trial: Trial, shared: Shared, round_no: int) -> list[Op]:
    known = set(shared.finals)
    deleted: set[str] = set()
    pulled: set[str] = set()  # a version pulled this round is not deleted in it
    ops = []
    for worker in range(len(shared.machines)):
        kind = trial.rng.choice(KINDS)
        reading = kind in ("pull", "copy")
        free = sorted(known - deleted - (pulled if kind == "delete" else set()))
        op = Op(worker, kind if free or not (reading or kind == "delete") else "close")
        if op.kind in ("pull", "copy", "delete"):
            op.target = trial.rng.choice(free)
            op.force = op.kind == "delete" and trial.rng.random() < 0.5
            (deleted if op.kind == "delete" else pulled).add(op.target)
        if op.kind == "close":
            op.folder, op.tree = trial.tree(f"r{round_no}w{worker}", big=trial.rng.random() < 0.1)
            op.parent = trial.rng.choice(["", *sorted(known)])
        if op.kind == "sync":
            draw_sync(trial, op)
        ops.append(op)
    return ops


def draw_sync(trial: Trial, op: Op) -> None:
    """Each worker syncs its own folder, changed between its syncs, to a name it may share
    with other workers (whose syncs then race for the next version number)."""
    op.folder = trial.root / f"synced-{op.worker}"
    if op.folder.exists():
        change_tree(trial, op.folder)
    else:
        op.folder.mkdir()
        make_tree(trial.rng, op.folder, big=False)
    op.target, op.tree = f"sync-{op.worker % SYNC_NAMES}", hash_tree(op.folder)


def happened(round_no: int, op: Op, outcome: Outcome) -> str:
    said = (outcome.out if outcome.code == 0 else outcome.err).strip().splitlines() or [""]
    return (
        f"round {round_no} worker {op.worker} {op.kind}{' --force' * op.force} {op.target} "
        f"(parent {op.parent or '-'}) "
        f"exited {outcome.code}: {said[-1][:160]}"
    )


def reason(refused: Outcome) -> str:
    """The sentence of a refusal without what differs from one trial to the next."""
    sentence = refused.err.strip().splitlines()[-1].removeprefix("error: ")
    while (shorter := re.sub(r" ?\([^()]*\)", "", sentence)) != sentence:
        sentence = shorter  # what is in brackets names ids, holders, versions
    sentence = re.sub(r"(file|http)://[^\s;,]+", "<storage>", sentence)
    return re.sub(r"\b\d+\b", "N", re.sub(r"[0-9a-f]{32}", "<id>", sentence))[:120]


def run_op(shared: Shared, op: Op) -> Outcome:
    machine = shared.machines[op.worker]
    if op.kind == "close":
        return close(shared, op)
    if op.kind == "sync":
        done = machine.run(
            "sync", "--folder", str(op.folder), "--project", PROJECT, "--name", op.target
        )
        if done.code == 0 and (found := CLOSED.search(done.out)):
            with shared.lock:
                shared.created.add(found[1])
            shared.made(found[1], op.tree)
        return done
    if op.kind in ("pull", "copy"):
        return pull(shared, op)
    if op.kind == "gc":
        return machine.run("gc", "--delete", "--keep-recent", "0")
    done = machine.run("delete", "--id", op.target, *(("--force",) if op.force else ()))
    if done.code == 0:
        with shared.lock:
            del shared.finals[op.target]
    return done


def pull(shared: Shared, op: Op) -> Outcome:
    """``get`` (a read-only local copy) or ``get --copy``; what it gives must be the version."""
    machine = shared.machines[op.worker]
    copy = machine.trial.scratch("copy") / "data" if op.kind == "copy" else None
    done = machine.run("get", "--id", op.target, *(("--copy", str(copy)) if copy else ()))
    if done.code == 0:
        with shared.lock:
            expected = shared.finals[op.target]  # nobody deletes it this round
        found = hash_tree(copy or Path(done.out.strip()))
        compare(machine, f"a concurrent {op.kind} of {op.target}", found, expected)
    return done


def close(shared: Shared, op: Op) -> Outcome:
    machine = shared.machines[op.worker]
    parents = ("--parents", op.parent) if op.parent else ()
    made = machine.run("create", "--project", PROJECT, "--name", "race", "--json", *parents)
    if made.code != 0:  # its parent deleted meanwhile by another process: an honest refusal
        return made
    version_id = op.target = created_id(made)
    with shared.lock:
        shared.created.add(version_id)
        inherited = dict(shared.finals.get(op.parent, {}))
    tree = {**inherited, **{f"w/{p}": d for p, d in op.tree.items()}}
    added = machine.run(
        "add", "--id", version_id, "--files", str(op.folder), "--dataset-folder", "w"
    )
    if added.code != 0:
        return added
    done = machine.run("close", "--id", version_id)
    if done.code == 0:
        shared.made(version_id, tree)
    else:
        with shared.lock:
            shared.drafts[version_id] = (op.worker, tree)
    return done


@contextmanager
def sqlite_catalog(trial: Trial, count: int) -> Iterator[Shared]:
    """One machine's home: its SQLite catalog, its storage folder and its cache, used by every
    worker (processes of one user on one machine)."""
    machine = trial.machine()
    yield Shared([machine] * count, machine.home / "storage")


@contextmanager
def postgres_catalog(trial: Trial, count: int) -> Iterator[Shared]:
    """Server replicas on one PostgreSQL database and one storage folder; each worker is a
    machine of its own (its own home and cache) talking to one of them."""
    db = trial.services.postgres_database()
    storage = trial.scratch("storage")
    with ExitStack() as stack:
        replicas = []
        for _ in range(REPLICAS):
            replica = DeltasetServer(
                trial.scratch("server"), servers.free_port(), db=db, storage=str(storage)
            )
            replica.start()
            stack.callback(replica.stop)
            replicas.append(replica)
        machines = [
            trial.machine(DELTASET_API_URL=replicas[worker % REPLICAS].url)
            for worker in range(count)
        ]
        yield Shared(machines, storage)


def concurrency(
    trial: Trial, catalog: Callable[[Trial, int], AbstractContextManager[Shared]]
) -> None:
    count = trial.rng.randint(FEWEST, MOST)
    trial.figures.count(f"concurrency trials with {count} processes at once")
    with catalog(trial, count) as shared:
        for round_no in range(ROUNDS):
            ops = draw_round(trial, shared, round_no)
            with ThreadPoolExecutor(count) as pool:
                outcomes = list(pool.map(lambda op: run_op(shared, op), ops))
            for op, outcome in zip(ops, outcomes, strict=True):
                shared.history.append(happened(round_no, op, outcome))
                command = COMMANDS[op.kind] + (" --force" if op.force else "")
                trial.figures.count(f"concurrent {command}: run")
                if outcome.code != 0:
                    trial.figures.count(f"concurrent {command}: refused: {reason(outcome)}")
        close_again(shared)
        check_catalog(shared)
        check_versions(shared.machines[0], shared.finals)
        check_storage(shared)


def close_again(shared: Shared) -> None:
    """The user runs each failed close again, on the machine it failed on."""
    for version_id, (worker, tree) in sorted(shared.drafts.items()):
        again = shared.machines[worker].run("close", "--id", version_id)
        if again.code == 0:
            shared.made(version_id, tree)
        elif "parent" not in again.err:  # a parent deleted meanwhile is an honest refusal
            raise Broken("re-run did not finish", again.describe())


def check_catalog(shared: Shared) -> None:
    """Every version of the catalog, drafts too, is one a worker created, listed once, with a
    number of its own; every version a worker made final is final (``check_versions``)."""
    every = versions(shared.machines[0], drafts=True)
    ids = [str(v["id"]) for v in every]
    if len(set(ids)) != len(ids):
        raise Broken("duplicated", "a version is listed twice")
    numbers = [(v["project"], v["name"], v["version"]) for v in every]
    if len(set(numbers)) != len(numbers):
        raise Broken("duplicated", f"two versions share a number: {sorted(map(str, numbers))}")
    phantoms = sorted(set(ids) - shared.created)
    if phantoms:
        raise Broken("unexpected version", f"versions no worker created: {phantoms}")
    states = {str(v["id"]): v.get("state") for v in every}
    for version_id in sorted(shared.finals):
        if states.get(version_id) != "final":
            raise Broken(
                "lost" if version_id not in states else "half-made",
                f"{version_id}, made final, is {states.get(version_id) or 'gone'} in the "
                f"catalog; {shared.about(version_id)}",
            )


def check_storage(shared: Shared) -> None:
    """The storage holds the record and manifest of each final version, and of no other."""
    for folder, suffix in (("versions", ".json"), ("manifests", ".zst")):
        stored = {p.name.removesuffix(suffix) for p in (shared.storage / folder).glob("*" + suffix)}
        if stored != set(shared.finals):
            raise Broken(
                "half-made",
                f"{folder}/ of the storage holds {sorted(stored - set(shared.finals))} beyond the "
                f"final versions and lacks {sorted(set(shared.finals) - stored)}",
            )


def on_sqlite(trial: Trial) -> None:
    concurrency(trial, sqlite_catalog)


def on_postgres(trial: Trial) -> None:
    concurrency(trial, postgres_catalog)


CONCURRENCY_TRIALS: dict[str, Callable[[Trial], None]] = {
    "4 to 8 processes at once, SQLite catalog": on_sqlite,
    "4 to 8 processes at once, PostgreSQL catalog": on_postgres,
}
