"""The main job on the embedded default: version a folder, change it, pull both versions back.

Runs in a temporary deltaset home so it leaves nothing behind; set KEEP=1 to keep it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

DELTASET = str(Path(sys.executable).with_name("deltaset"))


def deltaset(*args: str) -> str:
    done = subprocess.run([DELTASET, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"deltaset {' '.join(args)} failed: {done.stderr.strip()}")
    print(f"$ deltaset {' '.join(args)}\n{done.stdout.rstrip()}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="deltaset-quickstart-"))
    os.environ["DELTASET_HOME"] = str(work / "home")
    data = work / "data"
    for split in ("train", "test"):
        for i in range(50):
            path = data / split / f"sample{i:03d}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x,y\n" + "".join(f"{i},{j * i}\n" for j in range(100)))
    deltaset("create", "--project", "examples", "--name", "quickstart")
    deltaset("add", "--files", str(data))
    deltaset("close")
    first = tree(data)
    (data / "train" / "sample000.csv").write_text("x,y\n0,changed\n")
    (data / "test" / "sample049.csv").unlink()
    (data / "train" / "extra.csv").write_text("x,y\n1,1\n")
    deltaset("sync", "--project", "examples", "--name", "quickstart", "--folder", str(data))
    deltaset("search", "--project", "examples")
    deltaset("list", "--project", "examples", "--name", "quickstart", "--modified")
    v1 = deltaset("get", "--project", "examples", "--name", "quickstart", "--version", "1.0.0")
    v2 = deltaset("get", "--project", "examples", "--name", "quickstart")
    assert tree(Path(v1)) == first, "version 1.0.0 came back different"
    assert tree(Path(v2)) == tree(data), "version 1.0.1 came back different"
    print(f"\nBoth versions pulled back byte-identical (home: {work / 'home'}).")
    if not os.environ.get("KEEP"):
        subprocess.run(["rm", "-rf", str(work)], check=True)


if __name__ == "__main__":
    main()
