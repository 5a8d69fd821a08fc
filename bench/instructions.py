"""Instructions executed by the v2 sync of a corpus: a deterministic figure on a noisy machine.

Wall-clock times on a shared 2-core machine vary by a third from one run to the next, more than
most single optimisations gain. The number of instructions a command executes (counted by
valgrind's cachegrind, kernel time excluded) varies by well under 1%, so it tells whether a
change made the v2 sync cheaper. It complements `run.py`, it does not replace it: the targets
are wall-clock ratios.

    .venv/bin/python bench/instructions.py --corpus /tmp/deltaset-bench/corpus-scale1-seed7/small \\
        --src src /tmp/other-checkout/src

prepares v1 once (create, add, close with the first --src, then `rsync` of v2 over the folder as
`run.py` does), then runs `deltaset sync --parents v1` of every --src from the same saved home.
Needs valgrind and rsync.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")
COUNT = re.compile(r"I\s+refs:\s+([\d,]+)")


def deltaset(src: Path, home: Path, *args: str, prefix: tuple[str, ...] = ()) -> str:
    env = {**os.environ, "DELTASET_HOME": str(home), "PYTHONPATH": str(src)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled once, not on every counted run
    command = [*prefix, sys.executable, "-m", "deltaset", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return done.stdout + done.stderr


def prepare(corpus: Path, src: Path, where: Path) -> str:
    """v1 closed from the corpus's v1, then the folder turned into v2; returns v1's id."""
    shutil.copytree(corpus / "v1", where / "work", symlinks=True)
    home = where / "home"
    created = json.loads(deltaset(src, home, "create", "--project", "p", "--name", "n", "--json"))
    deltaset(src, home, "add", "--files", str(where / "work"), "--quiet")
    deltaset(src, home, "close", "--quiet")
    rsync = ["rsync", "-a", "--delete", "--checksum", f"{corpus / 'v2'}/", f"{where / 'work'}/"]
    subprocess.run(rsync, check=True)
    shutil.copytree(home, where / "saved")
    return str(created["id"])


def count(src: Path, where: Path, v1: str) -> int:
    """Instructions of one v2 sync by ``src``, from the saved home."""
    home = where / "home"
    sync = ["sync", "--folder", str(where / "work"), "--parents", v1, "--project", "p"]
    sync += ["--name", "n", "--quiet"]
    for prefix in ((), VALGRIND):  # the first run compiles the modules' bytecode
        shutil.rmtree(home)
        shutil.copytree(where / "saved", home)
        out = deltaset(src, home, *sync, prefix=prefix)
    found = COUNT.search(out)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count: {out[-500:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder holding v1/ and v2/")
    parser.add_argument("--src", type=Path, nargs="+", default=[ROOT / "src"])
    args = parser.parse_args()
    if not shutil.which("valgrind") or not shutil.which("rsync"):
        raise SystemExit("bench/instructions.py needs valgrind and rsync.")
    with tempfile.TemporaryDirectory(prefix="deltaset-instructions-") as tmp:
        v1 = prepare(args.corpus, args.src[0].resolve(), Path(tmp))
        first = None
        for src in args.src:
            counted = count(src.resolve(), Path(tmp), v1)
            first = first or counted
            print(f"{src}: {counted:,} instructions ({counted / first:.3f}x the first)")


if __name__ == "__main__":
    main()
