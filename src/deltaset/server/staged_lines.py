"""A draft's staged changes as NDJSON lines: read off a request, written into an answer.

Each line is checked by one compiled validator of the same rules as :class:`ChangeModel`
(the API's documented schema) and kept as the catalog's columns: no model and no
:class:`DraftChange` is made per line, which cost more than the database's own work for a
draft of many files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import (
    IO,
    Annotated,
    Any,
    NotRequired,  # pydantic needs its TypedDict before 3.12
)

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import to_json
from typing_extensions import TypedDict

from deltaset.core import names, paths
from deltaset.errors import InvalidInputError
from deltaset.server.models import ChangeModel


class _ChangeLine(TypedDict):
    """ChangeModel's fields and rules; the fields a line leaves out take its defaults."""

    path: Annotated[str, Field(min_length=1)]
    removed: NotRequired[bool]
    size: NotRequired[Annotated[int, Field(ge=0)]]
    blob_id: NotRequired[str]
    source: NotRequired[str]
    uploaded: NotRequired[bool]
    link: NotRequired[str]
    etag: NotRequired[str]


_LINE = TypeAdapter(_ChangeLine)
_DEFAULTS = {
    name: field.default for name, field in ChangeModel.model_fields.items() if name != "path"
}


def read_changes(lines: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The changes of an NDJSON body by column name; the first bad line is refused in one
    sentence naming it."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            change = {**_DEFAULTS, **_LINE.validate_json(line)}
        except ValidationError as exc:
            raise InvalidInputError(f"Line {number} of the staged changes is invalid.") from exc
        path = names.from_text(change["path"])
        if not change["removed"]:  # a removal may name a file staged before this rule existed
            try:
                paths.check_new(path)
            except InvalidInputError as exc:
                raise InvalidInputError(f"Line {number} of the staged changes: {exc}") from exc
        # Written back as catalogs write a name: one text for each name.
        change["path"] = names.to_text(path)
        change["source"] = names.to_text(names.from_text(change["source"]))
        yield change


def write_changes(changes: Iterable[Mapping[str, Any]]) -> bytes:
    """``changes`` (by column name) as NDJSON lines, as ChangeModel writes them."""
    return b"".join([to_json(change) + b"\n" for change in changes])
