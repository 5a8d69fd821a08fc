from __future__ import annotations

import functools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltaset.core import version
from deltaset.errors import InvalidInputError
from tests.unit.properties import PROPERTY

numbers = st.integers(min_value=0, max_value=10**6)
semvers = st.tuples(numbers, numbers, numbers).map(lambda t: "{}.{}.{}".format(*t))


def test_parse() -> None:
    assert version.parse("1.2.3") == version.parse(" 1.2.3 ")
    parsed = version.parse("v1.2.3")
    assert parsed is not None
    assert parsed.release == (1, 2, 3)
    assert str(parsed) == "1.2.3"
    assert version.parse("2024-01-01") is None


def test_bump_starts_at_first_version() -> None:
    assert version.bump([]) == version.FIRST_VERSION == "1.0.0"
    assert version.bump(["not-a-version"]) == "1.0.0"


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (["1.0.0"], "1.0.1"),
        (["1.0.9"], "1.0.10"),
        (["1.0.0", "1.0.9", "1.0.10"], "1.0.11"),
        (["2.0.0", "1.9.99"], "2.0.1"),
        (["1.0.0", "garbage", "1.0.1"], "1.0.2"),
        (["0.0.0"], "0.0.1"),
    ],
)
def test_bump_increments_the_patch_of_the_highest(existing: list[str], expected: str) -> None:
    assert version.bump(existing) == expected


def test_highest_is_semantic_not_lexical() -> None:
    candidates = ["1.0.9", "1.0.10", "1.0.2"]
    assert max(candidates) == "1.0.9"  # what a string comparison would pick
    assert version.highest(candidates) == "1.0.10"
    assert version.highest(["9.0.0", "10.0.0"]) == "10.0.0"
    assert version.highest(["1.10.0", "1.9.5"]) == "1.10.0"


def test_highest_ignores_invalid_and_handles_none() -> None:
    assert version.highest([]) is None
    assert version.highest(["latest", "1.x"]) is None
    assert version.highest(["latest", "0.1.0"]) == "0.1.0"


@PROPERTY
@given(st.lists(semvers, min_size=1, max_size=20))
def test_highest_and_bump_agree_with_numeric_order(candidates: list[str]) -> None:
    top = version.highest(candidates)
    assert top is not None
    assert version.sort_key(top) == max(version.sort_key(c) for c in candidates)
    bumped = version.bump(candidates)
    assert bumped not in candidates
    assert all(version.sort_key(bumped) > version.sort_key(c) for c in candidates)


def test_sort_key_puts_invalid_versions_first() -> None:
    ordered = sorted(["1.0.10", "junk", "1.0.2", "0.9.0"], key=version.sort_key)
    assert ordered == ["junk", "0.9.0", "1.0.2", "1.0.10"]


@pytest.mark.parametrize("good", ["1.0.0", "v1", "1.0", "2", " 2.0.0 ", "2024-01-01", "latest"])
def test_validate_accepts_any_version_string_as_clearml(good: str) -> None:
    assert version.validate(good) == good.strip()


@pytest.mark.parametrize("bad", ["", "  ", "a/b", "1.0@x", "1\n0"])
def test_validate_refuses_only_what_breaks_a_url_or_a_line(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="is empty or holds"):
        version.validate(bad)


# ClearML's own parser, ordering and bump, compared on the same strings.
CLEARML_SAMPLES = [
    "1.0.0", "v1", "1.0", "2", "1.0.1", "0.9", "1.0rc1", "1.0rc2", "1.0a3", "1.0.post1",
    "1.0-2", "1.0.dev1", "2!0.1", "1.10", "1.9.9", "v2.0.0", "1.0b1.post2.dev3", "10",
]  # fmt: skip


def test_ordering_and_bump_are_clearmls() -> None:
    clearml_version = pytest.importorskip("clearml.utilities.version").Version

    def clearml_order(a: str, b: str) -> int:
        return (
            -1
            if clearml_version(a) < clearml_version(b)
            else int(clearml_version(a) > clearml_version(b))
        )

    expected = sorted(CLEARML_SAMPLES, key=functools.cmp_to_key(clearml_order))
    assert sorted(CLEARML_SAMPLES, key=version.sort_key) == expected
    for text in CLEARML_SAMPLES:
        assert version.bump([text]) == str(clearml_version(text).get_next_version())
        assert version.is_semantic(text) == clearml_version.is_valid_version_string(text)
    for text in ["2024-01-01", "latest", ""]:
        assert version.is_semantic(text) == clearml_version.is_valid_version_string(text)
    assert version.bump(["v1", "1.0", "2"]) == "3"
    assert version.bump(["1.0rc1"]) == "1.0rc2"


def test_bump_skips_a_number_taken() -> None:
    assert version.bump(["1.0", "v1.0", "1.1"]) == "1.2"
