"""The attacks of the red-team pass (issue 14) as trials with random variations, so that each
stays fixed: damaged cache files, copies into deltaset's own folders, a parent deleted while a
child closes elsewhere, planted leases, hostile names, FIFOs. (Damaged index files and
manifests are the trials of ``damage``.)"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tests.chaos.checks import Tree, check_versions, compare, created_id, one_sentence
from tests.chaos.harness import Broken, Machine, Trial, hash_tree
from tests.chaos.kills import draft, final, under


def _write_keeping_mtime(path: Path, data: bytes) -> None:
    before = path.stat()
    os.chmod(path, 0o644)
    path.write_bytes(data)
    os.chmod(path, before.st_mode & 0o777)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def damaged_cache_file(trial: Trial) -> None:
    machine = trial.machine()
    folder, tree = trial.tree(big=trial.rng.random() < 0.3)
    version_id = final(machine, "cache", str(folder))
    cached = Path(machine.ok("get", "--id", version_id).out.strip())
    files = sorted(p for p in cached.rglob("*") if p.is_file() and p.stat().st_size)
    victim = trial.rng.choice(files)
    data = bytearray(victim.read_bytes())
    if trial.rng.random() < 0.5:
        data[trial.rng.randrange(len(data))] ^= 1 << trial.rng.randrange(8)
    else:
        data += trial.rng.randbytes(trial.rng.randint(1, 16))
    _write_keeping_mtime(victim, bytes(data))
    trial.figures.count("cache files damaged")
    how = trial.rng.choice(["get", "get --copy", "get --files"])
    if how == "get":
        found = hash_tree(Path(machine.ok("get", "--id", version_id).out.strip()))
        compare(machine, "a get after a cache file was damaged", found, tree)
    elif how == "get --copy":
        target = trial.scratch("copy") / "c"
        machine.ok("get", "--id", version_id, "--copy", str(target))
        compare(machine, "a get --copy after a cache file was damaged", hash_tree(target), tree)
    else:
        rel = victim.relative_to(cached).as_posix()
        got = Path(machine.ok("get", "--id", version_id, "--files", rel).out.strip())
        compare(
            machine,
            "a get --files after a cache file was damaged",
            hash_tree(got),
            {rel: tree[rel]},
        )
    check_versions(machine, {version_id: tree})


def copy_into_own_folders(trial: Trial) -> None:
    machine = trial.machine()
    folder, tree = trial.tree()
    version_id = final(machine, "own", str(folder))
    machine.ok("get", "--id", version_id)  # fills the cache
    home = machine.home
    target = trial.rng.choice([home, home / "storage", home / "cache", home / "storage" / "packs"])
    refused = machine.run("get", "--id", version_id, "--copy", str(target), "--overwrite")
    trial.figures.count("copies into deltaset's own folders tried")
    one_sentence(refused)
    check_versions(machine, {version_id: tree})


def delete_parent_while_child_closes(trial: Trial) -> None:
    """Two machines, one storage: a delete of P on one while a child of P closes on the other;
    whichever wins, no final version misses a byte."""
    here = trial.machine()
    parent_folder, parent_tree = trial.tree("parent", big=False)
    parent = final(here, "race", str(parent_folder))
    storage = str(here.home / "storage")
    other = trial.machine(storage)
    other.ok("rebuild-catalog")
    child_folder, own = trial.tree("child")
    child = draft(other, "race", str(child_folder), parent, into="new")
    pause = trial.rng.choice(
        ["finalize.before_lease", "finalize.after_check", "finalize.after_manifest"]
    )
    wait = round(trial.rng.uniform(0.0, 1.5), 3)
    force = ("--force",) if trial.rng.random() < 0.5 else ()
    with other.popen("close", "--id", child, env={"DELTASET_PAUSE": f"{pause}:2"}) as closing:
        time.sleep(wait)
        deleted = here.run("delete", "--id", parent, *force)
        _, err = closing.communicate(timeout=120)
    if closing.returncode != 0 and (
        "Traceback" in err or not err.strip().splitlines()[-1].startswith("error: ")
    ):
        raise Broken("traceback", f"the close said {err!r}")
    trial.figures.count("deletes that won the race" if deleted.code == 0 else "deletes refused")
    expected: dict[str, Tree] = {}
    if deleted.code != 0:
        expected[parent] = parent_tree
    if closing.returncode == 0:
        expected[child] = {**parent_tree, **under("new", own)}
    third = trial.machine(storage)
    third.ok("rebuild-catalog")
    check_versions(third, expected)


def planted_lease(trial: Trial) -> None:
    machine = trial.machine()
    folder, tree = trial.tree(big=False)
    version_id = draft(machine, "lease", str(folder))
    locks = machine.home / "storage" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    name = trial.rng.choice(["gc", "close"]) + f"-{trial.rng.randrange(1 << 32):x}.json"
    # Not b"": an empty gc lease is what a gc on a full disk writes, and closes wait for it.
    body = trial.rng.choice([b"{}", b"\xff not json", b"[]", b'{"kind": "gc"}', b"null", b"0"])
    (locks / name).write_bytes(body)
    trial.figures.count("leases planted")
    start = time.monotonic()
    machine.ok("close", "--id", version_id)
    trial.figures.recovered(time.monotonic() - start, f"{trial.label}: close past a planted lease")
    check_versions(machine, {version_id: tree})


HOSTILE = ["..\\..\\x.txt", "C:\\evil.txt", "a\\..\\..\\b.txt", "\\\\server\\share.txt", "..\\x"]


def hostile_names(trial: Trial) -> None:
    """A file whose legal Linux name is a Windows escape: refused at add with one sentence, or
    skipped with a warning naming it, and a version that pulls back every other file."""
    machine = trial.machine()
    folder, _ = trial.tree(big=False)
    name = trial.rng.choice(HOSTILE)
    (folder / name).write_bytes(trial.rng.randbytes(100))
    made = draft_or_refusal(trial, machine, str(folder))
    if made is None:
        return
    version_id, warnings = made
    skipped = name in warnings  # a name a pull would refuse is skipped, by name, at add
    closed = machine.run("close", "--id", version_id)
    if closed.code != 0:
        one_sentence(closed)
        return
    kept = hash_tree(folder)
    if skipped:
        del kept[name]
    check_versions(machine, {version_id: kept})


def draft_or_refusal(trial: Trial, machine: Machine, folder: str) -> tuple[str, str] | None:
    """The draft holding ``folder`` and what its add warned, or None if the add refused it."""
    version_id = created_id(
        machine.ok("create", "--project", "chaos", "--name", "hostile", "--json")
    )
    added = machine.run("add", "--id", version_id, "--files", folder)
    if added.code != 0:
        one_sentence(added)
        trial.figures.count("hostile names refused at add")
        return None
    trial.figures.count("hostile names skipped at add")
    return version_id, added.err


def fifo_in_add(trial: Trial) -> None:
    machine = trial.machine()
    folder, tree = trial.tree(big=False)
    fifo = folder / trial.rng.choice(["pipe", "d0/pipe", "zz-fifo"])
    fifo.parent.mkdir(exist_ok=True)
    os.mkfifo(fifo)
    trial.figures.count("FIFOs added")
    version_id = created_id_of(machine)
    explicit = trial.rng.random() < 0.5
    args = ("add", "--id", version_id, "--files", str(fifo) if explicit else str(folder))
    added = machine.run(*args, timeout=15)  # a hang is a Broken "hang"
    if explicit:
        if added.code != 0:
            one_sentence(added)
        machine.ok("add", "--id", version_id, "--files", str(folder))
    elif added.code != 0:
        raise Broken("command failed", added.describe())
    machine.ok("close", "--id", version_id)
    check_versions(machine, {version_id: tree})


def created_id_of(machine: Machine) -> str:
    return created_id(machine.ok("create", "--project", "chaos", "--name", "fifo", "--json"))


def _hostile_arguments(trial: Trial, version_id: str) -> list[tuple[str, ...]]:
    rng = trial.rng
    depth = rng.randint(10_000, 60_000)
    return [
        (
            "metadata",
            "set",
            "--id",
            version_id,
            "--key",
            "m",
            "--value",
            rng.choice(["NaN", "Infinity", "-Infinity", '{"a": NaN}', "[1, Infinity]"]),
        ),
        (
            "metadata",
            "set",
            "--id",
            version_id,
            "--key",
            "deep",
            "--value",
            "[" * depth + "]" * depth,
        ),
        ("get", "--id", "f" * rng.randint(33, 100_000)),
        ("search", "--project", "chaos\udcff" + "\udce9" * rng.randint(1, 4)),
        ("create", "--project", "p", "--name", "n\udcfe"),
    ]


def hostile_arguments(trial: Trial) -> None:
    """Arguments the red-team pass found ending in 'internal error': NaN and infinities as
    JSON, metadata nested tens of thousands deep, a huge id, bytes that are not UTF-8. Each
    gets one sentence, and the version is untouched."""
    machine = trial.machine()
    folder, tree = trial.tree(big=False)
    version_id = final(machine, "arguments", str(folder))
    args = trial.rng.choice(_hostile_arguments(trial, version_id))
    refused = machine.run(*args)
    trial.figures.count("hostile arguments tried")
    if refused.code == 0:
        raise Broken("accepted", f"deltaset {' '.join(args)[:200]} exited 0")
    said = one_sentence(refused)
    if len(said) > 400:
        raise Broken("echoed whole", f"the refusal is {len(said)} characters long")
    check_versions(machine, {version_id: tree})


ATTACK_TRIALS: dict[str, Callable[[Trial], None]] = {
    "damaged cache file": damaged_cache_file,
    "get --copy into deltaset's own folders": copy_into_own_folders,
    "parent deleted while a child closes elsewhere": delete_parent_while_child_closes,
    "planted lease": planted_lease,
    "Windows-escape file names": hostile_names,
    "FIFO in add": fifo_in_add,
    "hostile arguments": hostile_arguments,
}
