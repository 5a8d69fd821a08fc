"""Line deltas of shapes the rebuild by runs does not fit, and one it fits: the CPU time of
rebuilding each (best of 5) by the ``deltaset`` on PYTHONPATH, to compare source trees:

    for src in /tmp/main/src src; do PYTHONPATH=$src python bench/line_delta_shapes.py; done
"""

from __future__ import annotations

import random
import time

from deltaset.packs.codec import _decode_lines, encode_lines


def shapes() -> dict[str, tuple[bytes, bytes]]:
    rng = random.Random(5)
    rows = [
        b'{"id": %d, "user": "user%d", "v": %f}' % (i, rng.randint(0, 99999), rng.random())
        for i in range(20_000)
    ]
    base = b"\n".join(rows) + b"\n"
    shuffled = rows[:]
    rng.shuffle(shuffled)
    other_ends = [row if at % 100 else row[:-1] + b"]" for at, row in enumerate(rows)]
    return {
        "a key added to every row": (
            b"\n".join(r[:-1] + b', "s": %d}' % i for i, r in enumerate(rows)) + b"\n",
            base,
        ),
        "tails changing line by line": (
            b"\n".join(r + b" " if i % 2 else r[:-1] + b', "s": 1}' for i, r in enumerate(rows))
            + b"\n",
            base,
        ),
        "rows shuffled": (b"\n".join(r[:-1] + b', "s": 1}' for r in shuffled) + b"\n", base),
        "every row revised": (b"\n".join(r[:20] + b"x" * 30 + r[-2:] for r in rows) + b"\n", base),
        "a row in 100 ending otherwise": (
            b"\n".join(r[:-1] + b', "s": 1 ' + r[-1:] for r in other_ends) + b"\n",
            b"\n".join(other_ends) + b"\n",
        ),
    }


def main() -> None:
    for name, (data, base) in shapes().items():
        payload = encode_lines(data, base)
        assert _decode_lines(payload, len(data), "x", base) == data
        best = float("inf")
        for _ in range(5):
            start = time.process_time()
            _decode_lines(payload, len(data), "x", base)
            best = min(best, time.process_time() - start)
        print(f"{name}: {best * 1000:.1f} ms")


if __name__ == "__main__":
    main()
