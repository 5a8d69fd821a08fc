"""``get --part N --num-parts M``: parts mix the folders (a class is not one part), hold every
file once between them, and are the same on every pull."""

from __future__ import annotations

from tests.cli.helpers import Flow

CLASSES = {
    f"{label}/{n}.jpg": f"{label} {n}" * (n + 1) for label in ("cat", "dog") for n in range(6)
}


def test_parts_mix_the_folders_and_together_hold_the_version_once(flow: Flow) -> None:
    version = flow.version(CLASSES)
    parts = [flow.pulled("--id", version, "--part", str(k), "--num-parts", "2") for k in (0, 1)]
    assert sorted([*parts[0], *parts[1]]) == sorted(CLASSES)  # disjoint, and nothing left out
    assert {**parts[0], **parts[1]} == {k: v.encode() for k, v in CLASSES.items()}
    for part in parts:
        assert len(part) == 6
        assert {path.split("/")[0] for path in part} == {"cat", "dog"}
    copy = flow.root / "copy"
    flow.run("get", "--id", version, "--part", "1", "--num-parts", "2", "--copy", str(copy))
    assert sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*.jpg")) == sorted(parts[1])
