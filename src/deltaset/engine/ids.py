"""Version ids as users give them: whole, or any unique start of one (as git takes)."""

from __future__ import annotations

from collections.abc import Sequence

from deltaset.catalog.base import Catalog, Query
from deltaset.core.records import ID_LENGTH, check_id_prefix
from deltaset.errors import InvalidInputError, NotFoundError

SHOWN_CANDIDATES = 5  # an ambiguous prefix names this many of the versions it matches


def resolve(catalog: Catalog, text: str) -> str:
    """The whole id of the one version whose id is ``text`` or starts with it."""
    prefix = check_id_prefix(text)
    if len(prefix) == ID_LENGTH:
        return prefix  # a whole id: the catalog is asked for it once, by whoever needs it
    found = catalog.search(Query(id_prefix=prefix))
    if not found:
        raise NotFoundError(f"No dataset version has an id starting with {prefix!r}.")
    if len(found) > 1:
        candidates = ", ".join(
            f"{r.id} ({r.project}/{r.name} {r.version})" for r in found[:SHOWN_CANDIDATES]
        )
        more = f" and {len(found) - SHOWN_CANDIDATES} more" if len(found) > SHOWN_CANDIDATES else ""
        raise InvalidInputError(
            f"The id {prefix!r} is the start of {len(found)} versions' ids: {candidates}{more}; "
            "give more of its digits."
        )
    return found[0].id


def starting_with(catalog: Catalog, text: str) -> list[str]:
    """The ids of every version whose id is ``text`` or starts with it (none for what no id
    can start with)."""
    try:
        prefix = check_id_prefix(text)
    except NotFoundError:
        return []
    if len(prefix) == ID_LENGTH:
        return [prefix]
    return [r.id for r in catalog.search(Query(id_prefix=prefix))]


def resolve_all(catalog: Catalog, texts: Sequence[str]) -> list[str]:
    return [resolve(catalog, text) for text in texts]
