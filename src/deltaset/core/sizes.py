"""Sizes as people read them, in one unit system everywhere: binary (IEC) units, as the sizes
deltaset reads (``--chunk-size`` in MB, a cache limit of ``20GB``) are counted in powers of 1024."""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: float) -> str:
    """``size`` bytes as ``"512 B"``, ``"99.2 MiB"``: whole bytes, else one decimal."""
    if size < 1024:
        return f"{size:.0f} B"
    for unit in UNITS[1:]:
        size /= 1024
        if round(size, 1) < 1024 or unit == UNITS[-1]:  # never "1024.0 KiB"
            break
    return f"{size:.1f} {unit}"
