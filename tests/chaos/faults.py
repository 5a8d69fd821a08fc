"""Storage behind a network that fails 10% of the requests (refused, cut mid-reply, slow):
every upload and pull ends with the right bytes, or says one sentence and resumes on re-run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests import servers
from tests.chaos.checks import (
    Tree,
    check_versions,
    compare,
    created_id,
    destination_holds_no_wrong_bytes,
)
from tests.chaos.harness import Machine, Trial, hash_tree
from tests.chaos.kills import PROJECT
from tests.chaos.remote import deltaset_server
from tests.faulty_proxy import Faults, FaultyProxy

SHARE = 0.10  # of the requests, split between the three kinds of fault
ATTEMPTS = 4  # runs of a command a user would try before giving up


@contextmanager
def faulty(trial: Trial, upstream: str, prefix: str = "") -> Iterator[FaultyProxy]:
    third = SHARE / 3
    faults = Faults(
        fail_share=third,
        cut_share=third,
        slow_share=third,
        slow_s=trial.rng.choice([0.2, 1.0]),
        seed=trial.rng.randrange(1 << 30),
        status=trial.rng.choice([500, 502, 503]),
        only=("", prefix),
    )
    proxy = FaultyProxy(upstream, faults)
    try:
        yield proxy
    finally:
        proxy.stop()
        trial.figures.count(
            "faults injected",
            faults.counts["failed"] + faults.counts["cut"] + faults.counts["slow"],
        )
        trial.figures.count("requests through the faulty network", sum(faults.counts.values()))


def uploads_and_pulls(trial: Trial, through: Machine, direct: Machine) -> None:
    """Two versions (the second a child) uploaded and pulled through ``through``; then checked
    by ``direct``, which reaches the storage without faults."""
    finals: dict[str, Tree] = {}
    parents: tuple[str, ...] = ()
    for n in range(2):
        folder, tree = trial.tree(f"v{n}")
        made = trial.recover(
            through, "create", "--project", PROJECT, "--name", "faulty", "--json",
            *(("--parents", *parents) if parents else ()), attempts=ATTEMPTS,
        )  # fmt: skip
        version_id = created_id(made)
        add = ("add", "--id", version_id, "--files", str(folder), "--dataset-folder", f"v{n}")
        trial.recover(through, *add, attempts=ATTEMPTS)
        trial.recover(through, "close", "--id", version_id, attempts=ATTEMPTS)
        finals[version_id] = {
            **(finals[parents[0]] if parents else {}),
            **{f"v{n}/{p}": d for p, d in tree.items()},
        }
        parents = (version_id,)
    for version_id, tree in finals.items():
        cold = through.fresh_cache()
        target = trial.scratch("pulled") / "copy"
        args = ("get", "--id", version_id, "--copy", str(target), "--overwrite")
        for _ in range(ATTEMPTS):
            done = cold.run(*args)
            if done.code == 0:
                break
            trial.figures.count("pulls that failed with one sentence")
            destination_holds_no_wrong_bytes(through, target, tree)
        else:
            trial.figures.count("re-runs that did not finish")
        compare(through, f"a pull of {version_id} through faults", hash_tree(target), tree)
    check_versions(direct, finals)


def faults_s3(trial: Trial) -> None:
    endpoint = trial.services.s3()
    bucket = servers.new_bucket(endpoint)
    keys = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with faulty(trial, endpoint) as proxy:
        through = trial.machine(f"s3://{bucket}/datasets", AWS_ENDPOINT_URL=proxy.endpoint, **keys)
        direct = through.with_env(AWS_ENDPOINT_URL=endpoint)
        uploads_and_pulls(trial, through, direct)


def faults_server(trial: Trial, prefix: str = "/api/v1/objects") -> None:
    """Faults on the server's storage requests (``prefix``), or on every request."""
    with deltaset_server(trial) as server, faulty(trial, server.url, prefix) as proxy:
        through = trial.machine(DELTASET_API_URL=proxy.endpoint)
        uploads_and_pulls(trial, through, through.with_env(DELTASET_API_URL=server.url))


def faults_server_everywhere(trial: Trial) -> None:
    faults_server(trial, prefix="")


FAULT_TRIALS: dict[str, Callable[[Trial], None]] = {
    "faulty network to S3": faults_s3,
    "faulty network to a server's storage": faults_server,
    "faulty network to a server, catalog too": faults_server_everywhere,
}
