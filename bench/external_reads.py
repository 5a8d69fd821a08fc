"""A cold pull of external files in a bucket: many small objects added by reference
(``add --links``), then pulled into an empty cache, with each given source tree in turn (the
rounds interleaved), on moto's S3 and on Azurite, both on 127.0.0.1. Prints the wall time of
each pull, and the median of each source tree.

    .venv/bin/python bench/external_reads.py --objects 2000 --rounds 3 --src OLD/src src
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "src")]

from tests import servers  # noqa: E402

from deltaset.storage import open_storage  # noqa: E402


def deltaset(src: Path, env: dict[str, str], *args: str) -> str:
    run_env = {**env, "PYTHONPATH": str(src.resolve())}
    run_env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [sys.executable, "-m", "deltaset", *args]
    return subprocess.run(command, env=run_env, check=True, capture_output=True, text=True).stdout


def bucket_env(scheme: str, server: servers.Server) -> tuple[str, dict[str, str]]:
    env = dict(os.environ)
    if scheme == "s3":
        env.update(
            AWS_ENDPOINT_URL=server.endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        )
        return f"s3://{servers.new_bucket(server.endpoint)}/raw", env
    env["AZURE_STORAGE_CONNECTION_STRING"] = servers.azure_connection_string(server.endpoint)
    return f"azure://{servers.new_container(server.endpoint)}/raw", env


def measure(scheme: str, server: servers.Server, args: argparse.Namespace, work: Path) -> None:
    url, env = bucket_env(scheme, server)
    os.environ.update(env)
    raw = open_storage(url)
    for i in range(args.objects):
        raw.put_bytes(f"f{i:05d}.bin", os.urandom(args.size))
    env["DELTASET_HOME"] = str(work / f"home-{scheme}")
    first = args.src[0]
    deltaset(first, env, "create", "--project", "bench", "--name", "links", "--quiet")
    deltaset(first, env, "add", "--links", url, "--quiet")
    deltaset(first, env, "close", "--quiet")
    times: dict[Path, list[float]] = {src: [] for src in args.src}
    for round_ in range(args.rounds):
        for src in args.src:
            cache = tempfile.mkdtemp(dir=work)
            start = time.perf_counter()
            deltaset(
                src, {**env, "DELTASET_CACHE_DIR": cache}, "get", "--project", "bench",
                "--name", "links", "--quiet",
            )  # fmt: skip
            times[src].append(time.perf_counter() - start)
            print(f"{scheme} round {round_ + 1} {src}: {times[src][-1]:.2f} s", flush=True)
    for src, found in times.items():
        print(f"{scheme} {src}: median {statistics.median(found):.2f} s of {found}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", nargs="+", type=Path, default=[REPO / "src"])
    parser.add_argument("--schemes", nargs="+", default=["s3", "azure"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="external-reads-") as folder:
        for scheme in args.schemes:
            server = servers.start_moto() if scheme == "s3" else servers.start_azurite()
            try:
                measure(scheme, server, args, Path(folder))
            finally:
                server.stop()


if __name__ == "__main__":
    main()
