"""Run as ``python -m tests.ui.make_files FOLDER``: a dataset of files to preview and compare
(an image, a table, text with markup, a sound, nested folders) in two versions; prints their
ids as JSON."""

from __future__ import annotations

import io
import json
import struct
import sys
import wave
import zlib
from pathlib import Path

from tests.ui.make_catalog import closed_version

MARKUP = "# Notes\n\n<script>alert(1)</script> and <b>bold</b> & more\n"
TABLE_ROWS = 120


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour (so a browser can decode it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\0" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def wav(seconds: float = 0.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(1)
        sound.setframerate(rate)
        sound.writeframes(bytes((i * 7) % 256 for i in range(int(seconds * rate))))
    return out.getvalue()


def table(columns: str, rows: int) -> bytes:
    lines = [columns] + [
        ",".join([str(i), f"item-{i}", str(i * 1.5)][: columns.count(",") + 1]) for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def main(folder: Path) -> None:
    first = {
        "images/red.png": png(40, 30, (220, 30, 30)),
        "table.csv": table("id,name", TABLE_ROWS),
        "notes.md": MARKUP.encode(),
        "page.html": b"<img src=x onerror=alert(1)>",
        "sounds/beep.wav": wav(),
        "data/a.txt": b"alpha\n",
        "data/deep/b.txt": b"beta\n",
    }
    g1 = closed_version(_write(folder / "g1", first), "media", "gallery", [], [])
    second = {
        "images/red.png": png(40, 30, (30, 30, 220)),
        "table.csv": table("id,name,score", TABLE_ROWS + 5),
        "notes.md": (MARKUP + "A line added in the second version.\n").encode(),
        "new.txt": b"new\n",
    }
    g2 = closed_version(
        _write(folder / "g2", second), "media", "gallery", [g1], [], remove="page.html"
    )
    print(json.dumps({"g1": g1, "g2": g2}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
