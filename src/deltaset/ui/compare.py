"""The compare page: what one version changes relative to another, filtered by path and paged,
and for one chosen path its change (a unified diff, a table's rows and schema, or two images
side by side)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from deltaset.core.records import VersionRecord
from deltaset.engine import diff, preview
from deltaset.engine.context import Context
from deltaset.errors import InvalidInputError, NotFoundError, StateError
from deltaset.ui import catalog
from deltaset.ui.access import Viewer
from deltaset.ui.files import INLINE_TYPES
from deltaset.ui.indexing import Indexer
from deltaset.ui.web import _page_number, indexing_page, render

PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Detail:
    """One path's change: ``how`` is diff, table or images; ``sides`` whether the source and
    the target hold it; ``problem`` why nothing more is shown."""

    path: str
    how: str
    sides: tuple[bool, bool] = (True, True)
    text: diff.TextDiff | None = None
    table: diff.TableChange | None = None
    problem: str | None = None


def compare_page(request: Request, ctx: Context, viewer: Viewer) -> Response:
    params = request.query_params
    source_id, target_id = params.get("source", "").strip(), params.get("target", "").strip()
    if not (source_id and target_id):
        given = [catalog.version(ctx, i) for i in (source_id, target_id) if i]
        choices = _choices(ctx, *given)
        return render(
            "compare.html",
            viewer=viewer,
            source=None,
            target=None,
            choices=choices,
            source_id=source_id,
            target_id=target_id,
        )
    source, target = catalog.version(ctx, source_id), catalog.version(ctx, target_id)
    kind = params.get("kind", "")
    if kind and kind not in diff.KINDS:
        raise InvalidInputError(f"A change is added, modified or removed, not {kind!r}.")
    kinds = (kind,) if kind else diff.KINDS
    page = _page_number(request)
    indexer: Indexer | None = getattr(request.state, "indexer", None)
    if indexer is not None and not indexer.comparison_ready(ctx, source, target):
        files = source.stats.file_count + target.stats.file_count
        return indexing_page(
            request, viewer, "Compare", f"Comparing {files:,} files of the two versions…"
        )
    found = diff.change_page(
        ctx, source, target, params.get("q", ""), kinds, (page - 1) * PER_PAGE, PER_PAGE
    )
    path = params.get("path", "")
    return render(
        "compare.html",
        viewer=viewer,
        source_id=source.id,
        target_id=target.id,
        source=source,
        target=target,
        choices=_choices(ctx, source, target),
        found=found,
        page=page,
        q=params.get("q", ""),
        kind=kind,
        kinds=diff.KINDS,
        detail=_detail(ctx, source, target, path) if path else None,
    )


def _choices(ctx: Context, *records: VersionRecord) -> list[VersionRecord]:
    """The versions of the datasets compared, offered in the form."""
    seen: dict[str, VersionRecord] = {}
    for dataset in dict.fromkeys((r.project, r.name) for r in records):
        for record in catalog.versions_of(ctx, *dataset):
            seen.setdefault(record.id, record)
    return list(seen.values())


def _detail(ctx: Context, source: VersionRecord, target: VersionRecord, path: str) -> Detail:
    try:
        return detail_of(ctx, source, target, path)
    except StateError as exc:  # a draft's files are read once it is closed
        return Detail(path, "none", problem=exc.message)


def detail_of(ctx: Context, source: VersionRecord, target: VersionRecord, path: str) -> Detail:
    before, after = _info(ctx, source, path), _info(ctx, target, path)
    info = after or before
    if info is None:
        raise NotFoundError(f"Neither version has a file {path}.")
    sides = (before is not None, after is not None)
    if info.content_type in INLINE_TYPES and info.kind == "image":
        return Detail(info.path, "images", sides)
    try:
        if info.kind == "table":
            return Detail(
                info.path, "table", sides, table=diff.table_change(ctx, source, target, path)
            )
        return Detail(info.path, "diff", sides, text=diff.text_diff(ctx, source, target, path))
    except (InvalidInputError, StateError) as exc:  # no pyarrow, a broken table, a draft
        return Detail(info.path, "none", sides, problem=exc.message)


def _info(ctx: Context, record: VersionRecord, path: str) -> preview.FileInfo | None:
    try:
        return preview.file_info(ctx, record, path)
    except NotFoundError:
        return None
