"""Trials that SIGKILL a command at a random moment (a seeded delay, or one of the failpoints of
``deltaset.faults``), run it again as a user would, and check every version."""

from __future__ import annotations

from collections.abc import Callable

from tests.chaos.checks import (
    Tree,
    check_versions,
    compare,
    created_id,
    destination_holds_no_wrong_bytes,
    one_sentence,
    versions,
)
from tests.chaos.harness import Broken, Machine, Trial, hash_tree

PROJECT = "chaos"
UPLOAD_POINTS = ["upload.after_blob", "packs.after_publish"]
CLOSE_POINTS = [
    *UPLOAD_POINTS,
    "finalize.before_lease",
    "finalize.after_check",
    "finalize.after_manifest",
    "finalize.after_record",
    "records.before_store",
]
PULL_POINTS = ["pull.after_blob", "pull.blob_staged", "pull.file_assembled"]
GC_POINTS = ["gc.after_index", "gc.after_rewrite", "gc.after_repack", "gc.before_delete"]


def draft(machine: Machine, name: str, folder: str, *parents: str, into: str = "") -> str:
    made = machine.ok(
        "create", "--project", PROJECT, "--name", name, "--json",
        *(("--parents", *parents) if parents else ()),
    )  # fmt: skip
    version_id = created_id(made)
    machine.ok("add", "--id", version_id, "--files", folder, *_into(into))
    return version_id


def _into(folder: str) -> tuple[str, ...]:
    return ("--dataset-folder", folder) if folder else ()


def final(machine: Machine, name: str, folder: str, *parents: str, into: str = "") -> str:
    version_id = draft(machine, name, folder, *parents, into=into)
    machine.ok("close", "--id", version_id)
    return version_id


def under(folder: str, tree: Tree) -> Tree:
    return {f"{folder}/{path}": digest for path, digest in tree.items()}


def upload_options(trial: Trial) -> tuple[str, ...]:
    """Sometimes one worker and packs of 1 MB: many packs published one by one."""
    return ("--max-workers", "1", "--chunk-size", "1") if trial.rng.random() < 0.5 else ()


def parent_and_child(
    trial: Trial, machine: Machine, big: bool | None = None
) -> tuple[dict[str, Tree], str, Tree]:
    """Maybe a final parent; then a draft (its child) with files of its own. Returns the finals,
    the draft's id and the tree the draft must hold once closed."""
    finals: dict[str, Tree] = {}
    parents: tuple[str, ...] = ()
    inherited: Tree = {}
    if trial.rng.random() < 0.5:
        folder, inherited = trial.tree("parent", big=False)
        parent = final(machine, "kill", str(folder))
        finals[parent], parents = inherited, (parent,)
    folder, own = trial.tree("child", big=big)
    into = "new" if parents else ""
    child = draft(machine, "kill", str(folder), *parents, into=into)
    return finals, child, {**inherited, **(under(into, own) if into else own)}


def kill_add(trial: Trial) -> None:
    machine = trial.machine()
    folder, tree = trial.tree()
    made = machine.ok("create", "--project", PROJECT, "--name", "add", "--json")
    version_id = created_id(made)
    args = ("add", "--id", version_id, "--files", str(folder))
    first = machine.killed(trial.kill_plan(["upload.after_staged_pack"], longest=0.8), *args)
    trial.rerun(machine, first)
    machine.ok("close", "--id", version_id)
    check_versions(machine, {version_id: tree})


def kill_close(
    trial: Trial, machine: Machine | None = None, points: list[str] = CLOSE_POINTS
) -> None:
    machine = machine or trial.machine()
    finals, child, tree = parent_and_child(trial, machine)
    args = ("close", "--id", child, *upload_options(trial))
    first = machine.killed(trial.kill_plan(points), *args)
    trial.rerun(machine, first)
    check_versions(machine, {**finals, child: tree})


def kill_upload(trial: Trial, machine: Machine) -> None:
    finals, child, tree = parent_and_child(trial, machine)
    args = ("upload", "--id", child, *upload_options(trial))
    first = machine.killed(trial.kill_plan(UPLOAD_POINTS), *args)
    trial.rerun(machine, first)
    machine.ok("close", "--id", child)
    check_versions(machine, {**finals, child: tree})


def kill_sync(trial: Trial) -> None:
    machine = trial.machine()
    folder, first = trial.tree("synced")
    base = ("sync", "--folder", str(folder), "--project", PROJECT, "--name", "sync")
    machine.ok(*base)
    (v1,) = [str(v["id"]) for v in versions(machine)]
    change_tree(trial, folder)
    second = hash_tree(folder)
    args = (*base, *upload_options(trial))
    killed = machine.killed(trial.kill_plan(CLOSE_POINTS), *args)
    trial.rerun(machine, killed)
    made = check_versions(machine, {v1: first}, lambda record: second)
    if len(made) != 2:
        raise Broken("duplicated", f"a killed and re-run sync made {len(made) - 1} versions")


def change_tree(trial: Trial, folder: object) -> None:
    from pathlib import Path

    root = Path(str(folder))
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in trial.rng.sample(files, k=max(1, len(files) // 3)):
        if trial.rng.random() < 0.5:
            path.unlink()
        else:
            path.write_bytes(trial.rng.randbytes(trial.rng.randint(1, 50_000)))
    (root / "added.bin").write_bytes(trial.rng.randbytes(trial.rng.randint(1, 100_000)))


def kill_get(trial: Trial) -> None:
    machine = trial.machine()
    folder, tree = trial.tree()
    version_id = final(machine, "get", str(folder))
    cold = machine.fresh_cache()
    args = ("get", "--id", version_id)
    first = cold.killed(trial.kill_plan(PULL_POINTS, longest=1.0), *args)
    pulled = trial.rerun(cold, first)
    from pathlib import Path

    compare(machine, "the cached folder", hash_tree(Path(pulled.out.strip())), tree)
    check_versions(machine, {version_id: tree})


def kill_get_copy(trial: Trial) -> None:
    machine = trial.machine()
    folder, tree = trial.tree()
    version_id = final(machine, "get", str(folder))
    cold = machine.fresh_cache()
    target = trial.scratch("copy") / "there"
    args = ("get", "--id", version_id, "--copy", str(target))
    done = cold.killed(trial.kill_plan(["pull.after_blob", "pull.copy_opened"], longest=1.0), *args)
    destination_holds_no_wrong_bytes(machine, target, tree)
    done = done if done.code == 0 else cold.run(*args)
    if done.code != 0 and "--overwrite" in one_sentence(done):
        trial.figures.count("re-runs told to add --overwrite")
        done = trial.recover(cold, *args, "--overwrite")
    elif done.code != 0:
        raise Broken("re-run did not finish", done.describe())
    compare(machine, "the copy", hash_tree(target), tree)
    check_versions(machine, {version_id: tree})


def kill_gc(trial: Trial) -> None:
    machine = trial.machine()
    finals: dict[str, Tree] = {}
    for n in range(3):
        folder, tree = trial.tree(f"gc{n}")
        finals[final(machine, f"gc{n}", str(folder))] = tree
    doomed = trial.rng.choice(sorted(finals))
    machine.ok("delete", "--id", doomed, *(("--force",) if trial.rng.random() < 0.5 else ()))
    del finals[doomed]
    args = (
        "gc",
        "--delete",
        "--keep-recent",
        "0",
        *(("--repack",) if trial.rng.random() < 0.5 else ()),
    )
    first = machine.killed(trial.kill_plan(GC_POINTS, longest=1.0), *args)
    trial.rerun(machine, first)
    check_versions(machine, finals)


def kill_squash(trial: Trial) -> None:
    machine = trial.machine()
    a_folder, a_tree = trial.tree("a")
    b_folder, b_tree = trial.tree("b")
    a = final(machine, "sq-a", str(a_folder))
    b = final(machine, "sq-b", str(b_folder), into="b")
    merged = {**a_tree, **under("b", b_tree)}
    args = ("squash", "--project", PROJECT, "--name", "squashed", "--ids", a, b)
    first = machine.killed(trial.kill_plan(CLOSE_POINTS, longest=0.6), *args)
    trial.rerun(machine, first)
    expected = {a: a_tree, b: under("b", b_tree)}
    check_versions(machine, expected, lambda r: merged if r["name"] == "squashed" else None)


def kill_delete(trial: Trial) -> None:
    machine = trial.machine()
    parent_folder, parent_tree = trial.tree("parent")
    parent = final(machine, "del", str(parent_folder))
    child_folder, child_own = trial.tree("child")
    child = final(machine, "del", str(child_folder), parent, into="c")
    child_tree = {**parent_tree, **under("c", child_own)}
    doomed, force = (parent, ("--force",)) if trial.rng.random() < 0.4 else (child, ())
    args = ("delete", "--id", doomed, *force)
    again = machine.killed(trial.kill_plan(["gc.before_delete"], longest=0.6), *args)
    again = again if again.code == 0 else machine.run(*args)
    gone = ("not found", "no dataset version has the id")  # the kill came after its removal
    if again.code != 0 and not any(g in one_sentence(again).lower() for g in gone):
        raise Broken("re-run did not finish", again.describe())
    trees = {parent: parent_tree, child: child_tree}
    kept = {k: v for k, v in trees.items() if k != doomed}
    check_versions(machine, kept)


KILL_TRIALS: dict[str, Callable[[Trial], None]] = {
    "kill add": kill_add,
    "kill close": kill_close,
    "kill sync": kill_sync,
    "kill get": kill_get,
    "kill get --copy": kill_get_copy,
    "kill gc --delete": kill_gc,
    "kill squash": kill_squash,
    "kill delete": kill_delete,
}
