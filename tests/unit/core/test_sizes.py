"""One size format everywhere: binary units with IEC names, as deltaset reads sizes."""

from __future__ import annotations

import pytest

from deltaset.core.sizes import human_size


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1_000_000, "976.6 KiB"),
        (104_000_000, "99.2 MiB"),  # what the progress bar showed as 104.0 MB
        (1024**2 - 1, "1.0 MiB"),  # never "1024.0 KiB"
        (5 * 1024**4, "5.0 TiB"),
        (3 * 1024**5, "3.0 PiB"),
    ],
)
def test_sizes_are_shown_in_binary_units_with_their_iec_names(size: int, shown: str) -> None:
    assert human_size(size) == shown
