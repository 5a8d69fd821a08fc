"""What the CLI shows of a name on a terminal (see deltaset.cli.escapes)."""

from __future__ import annotations

import pytest

from deltaset.cli.escapes import escaped


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain/path.txt", "plain/path.txt"),
        ("café ☕ 日本語 👩‍💻".replace("\u200d", ""), "café ☕ 日本語 👩💻"),
        ("a b", "a b"),
        ("\x1b[31m", "\\x1b[31m"),
        ("\x00\x07\x08\x7f", "\\x00\\x07\\x08\\x7f"),
        ("line\nbreak\rtab\t", "line\\nbreak\\rtab\\t"),
        ("c1\x85\x9b", "c1\\x85\\x9b"),
        ("\u202eexe.txt\u2066", "\\u202eexe.txt\\u2066"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("sep\u2028para\u2029", "sep\\u2028para\\u2029"),
        (b"caf\xe9".decode("utf-8", "surrogateescape"), "caf\\xe9"),
    ],
)
def test_escaped_shows_what_acts_on_a_terminal_as_escapes(text: str, shown: str) -> None:
    assert escaped(text) == shown
