"""The pages as Starlette routes: a Jinja2 template each (autoescaped), strict headers, and the
sign-in of :mod:`deltaset.ui.access`. ``deltaset ui`` serves them alone; ``deltaset server``
adds them next to its API."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from deltaset.core.records import VersionRecord
from deltaset.core.sizes import human_size
from deltaset.engine.context import Context
from deltaset.engine.reading import without_read_ahead
from deltaset.errors import DeltasetError, InvalidInputError
from deltaset.ui import catalog, charts, edits, folders, indexing, lineage, reports
from deltaset.ui.access import Access, LocalAccess, TokenAccess, Viewer, set_cookie

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make a form's Origin "null"
    "Cache-Control": "no-store",
}
Handler = Callable[[Request, Context, Viewer], Response]


@cache
def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("deltaset.ui", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["size"] = human_size
    env.filters["short"] = lambda text: text[:12]
    env.globals["query"] = lambda **params: (
        "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})
    )
    return env


def render(template: str, status: int = 200, /, **context: Any) -> HTMLResponse:
    html = templates().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


class Pages:
    """The routes over one catalog, behind one kind of access."""

    def __init__(
        self, context: Callable[[], Context], access: Access, serialize: bool = False
    ) -> None:
        self._context = context
        self.access = access
        # The embedded catalog keeps one SQLite connection: one page reads it at a time.
        self._lock: AbstractContextManager[Any] = threading.Lock() if serialize else nullcontext()
        self.indexer = indexing.started(indexing.Indexer(context, self._lock))
        for name in templates().list_templates():  # compiled now, not in someone's first page
            templates().get_template(name)

    def routes(self) -> list[BaseRoute]:
        from deltaset.ui import compare, files  # they render with this module's templates

        static = StaticFiles(packages=[("deltaset.ui", "static")])
        return [
            Route("/", self._page(home), methods=["GET"]),
            Route("/dataset", self._page(dataset), methods=["GET"]),
            Route("/versions/{version_id}", self._page(version), methods=["GET"]),
            *self._edit_routes(),
            Route("/versions/{version_id}/file", self._page(files.file_page), methods=["GET"]),
            Route("/versions/{version_id}/raw", self._page(files.raw_file), methods=["GET"]),
            Route("/versions/{version_id}/archive", self._page(files.folder_archive)),
            Route("/compare", self._page(compare.compare_page), methods=["GET"]),
            Route("/sign-in", self.sign_in, methods=["GET", "POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
            Mount("/static", static, name="static"),
        ]

    def _page(self, handler: Handler) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            entered = self._enter_local(request)
            if entered is not None:
                return entered
            viewer = self.access.viewer(request)
            if viewer is None:
                return self._not_signed_in(request)
            request.state.lock = self._lock  # a streamed body reads under it too
            request.state.indexer = self.indexer
            try:
                with self._lock, without_read_ahead():  # a page looks at one file at a time
                    return handler(request, self._context(), viewer)
            except DeltasetError as exc:
                return render("error.html", exc.http_status, message=exc.message, viewer=viewer)

        return endpoint

    def _edit_routes(self) -> list[BaseRoute]:
        at = "/versions/{version_id}"
        return [
            Route(f"{at}/reports/{{name}}", self._page(report_image), methods=["GET"]),
            Route(f"{at}/delete", self._page(confirm_delete), methods=["GET"]),
            Route(f"{at}/delete", self._edit(edits.delete_version), methods=["POST"]),
            Route(f"{at}/tags", self._edit(_then_show(edits.edit_tags)), methods=["POST"]),
            Route(
                f"{at}/description", self._edit(_then_show(edits.set_description)), methods=["POST"]
            ),
            Route(f"{at}/publish", self._edit(_then_show(edits.publish)), methods=["POST"]),
        ]

    def _edit(self, action: Edit) -> Callable[[Request], Awaitable[Response]]:
        """A POST that changes a version: refused (403) without write permission, from another
        site or without this session's CSRF token; a failure shown on the version's page."""

        async def endpoint(request: Request) -> Response:
            body = b""
            async for chunk in request.stream():  # not Content-Length: a chunked body has none
                body += chunk
                if len(body) > edits.MAX_FORM:
                    return render("error.html", 413, message=edits.TOO_LARGE, viewer=None)
            form = {k: v[0] for k, v in parse_qs(body.decode(errors="replace")).items()}
            viewer = self.access.viewer(request)
            refused = edits.refusal(viewer, _same_origin(request), request, form)
            if refused is not None or viewer is None:
                return render("error.html", 403, message=refused, viewer=viewer)
            return await run_in_threadpool(self._apply, action, request, viewer, form)

        return endpoint

    def _apply(self, action: Edit, request: Request, viewer: Viewer, form: edits.Form) -> Response:
        with self._lock:
            ctx = self._context()
            try:
                record = catalog.version(ctx, request.path_params["version_id"])
            except DeltasetError as exc:
                return render("error.html", exc.http_status, message=exc.message, viewer=viewer)
            try:
                return RedirectResponse(action(ctx, record, viewer, form), 303)
            except DeltasetError as exc:
                try:
                    return version(request, ctx, viewer, failure=exc)
                except DeltasetError as again:
                    return render(
                        "error.html", again.http_status, message=again.message, viewer=viewer
                    )

    def _enter_local(self, request: Request) -> Response | None:
        """Exchange ``deltaset ui``'s one-time secret for a cookie, and drop it from the URL."""
        offered = request.query_params.get("token")
        if offered is None or not isinstance(self.access, LocalAccess):
            return None
        session = self.access.exchange(offered)
        if session is None:
            return render("error.html", 403, message=LOCAL_REFUSED, viewer=None)
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), 303)
        set_cookie(response, request, LocalAccess.COOKIE, session)
        return response

    def _not_signed_in(self, request: Request) -> Response:
        if isinstance(self.access, LocalAccess):
            return render("error.html", 403, message=LOCAL_REFUSED, viewer=None)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/sign-in?" + urlencode({"next": target}), 303)

    async def sign_in(self, request: Request) -> Response:
        if not isinstance(self.access, TokenAccess):
            return render("error.html", 404, message="This catalog has no sign-in.", viewer=None)
        target = _local_target(request.query_params.get("next", "/"))
        if request.method == "GET":
            return render("sign_in.html", next=target, viewer=None, failed=False)
        if not _same_origin(request):
            return render("error.html", 403, message=CROSS_SITE, viewer=None)
        form = parse_qs((await request.body()).decode(errors="replace"))
        token = (form.get("token") or [""])[0].strip()
        target = _local_target((form.get("next") or ["/"])[0])
        if self.access.viewer_of(token) is None:
            return render("sign_in.html", 401, next=target, viewer=None, failed=True)
        response = RedirectResponse(target, 303)
        set_cookie(response, request, TokenAccess.COOKIE, token)
        return response

    async def sign_out(self, request: Request) -> Response:
        if not _same_origin(request):
            return render("error.html", 403, message=CROSS_SITE, viewer=None)
        response = RedirectResponse(
            "/sign-in" if isinstance(self.access, TokenAccess) else "/", 303
        )
        for name in (TokenAccess.COOKIE, LocalAccess.COOKIE):
            response.delete_cookie(name, path="/")
        return response


LOCAL_REFUSED = (
    "This page needs the link 'deltaset ui' printed, opened once in this browser; "
    "run 'deltaset ui' again for a new one."
)
CROSS_SITE = "A form of another site cannot sign in or out here."


def _local_target(target: str) -> str:
    """``target`` if it is a path of this site, else the home page (no open redirect)."""
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlparse(origin).netloc == request.headers.get("host")


# -- pages ------------------------------------------------------------------------------------


def _page_number(request: Request) -> int:
    text = request.query_params.get("page", "1")
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"The page {text!r} is not a page number (1 or more).")
    return int(text)


def home(request: Request, ctx: Context, viewer: Viewer) -> Response:
    params = request.query_params
    text, tag, project = params.get("q", ""), params.get("tag", ""), params.get("project", "")
    by, order = params.get("sort", "changed"), params.get("order", "desc")
    rows = catalog.datasets(ctx)
    shown = catalog.sorted_rows(catalog.filtered(rows, text, tag, project), by, order == "desc")
    return render(
        "home.html",
        viewer=viewer,
        rows=shown,
        total=len(rows),
        projects=catalog.project_tree(r.project for r in rows),
        tags=sorted({t for r in rows for t in r.tags}),
        q=text,
        tag=tag,
        project=project,
        sort=by,
        order=order,
        sorts=catalog.SORTS,
    )


def dataset(request: Request, ctx: Context, viewer: Viewer) -> Response:
    project = request.query_params.get("project", "")
    name = request.query_params.get("name", "")
    versions = catalog.versions_of(ctx, project, name)
    graph, left_out = catalog.lineage_of(ctx, versions)
    records: dict[str, VersionRecord | None] = {r.id: r for r in versions}
    records.update(catalog.records_of(ctx, (v for v in graph if v not in records)))
    oldest_first = [r for r in reversed(versions) if r.state.is_final]
    chart = {
        "labels": [r.version or r.id[:8] for r in oldest_first],
        "files": [r.stats.file_count for r in oldest_first],
        "bytes": [r.stats.total_size for r in oldest_first],
    }
    return render(
        "dataset.html",
        viewer=viewer,
        project=project,
        name=name,
        versions=versions,
        latest=catalog.latest_of(versions),
        graph=lineage.layout(graph),
        left_out=left_out,
        lineage_shown=catalog.LINEAGE_SHOWN,
        records=records,
        node=(lineage.NODE_W, lineage.NODE_H),
        chart=json.dumps(chart),
        chart_rows=oldest_first,
    )


def version(
    request: Request, ctx: Context, viewer: Viewer, failure: DeltasetError | None = None
) -> Response:
    record = catalog.version(ctx, request.path_params["version_id"])
    if not version_ready(request, ctx, record):
        return indexing_page(
            request,
            viewer,
            f"{record.name} {record.version or record.id[:12]}",
            f"Indexing {record.stats.file_count:,} files of this version for browsing…",
        )
    folder = request.query_params.get("folder", "")
    listing = catalog.folder(ctx, record, folder, _page_number(request))
    items, summary = catalog.metadata_of(ctx, record)
    uses, use_count = catalog.uses_of(ctx, record)
    return render(
        "version.html",
        failure.http_status if failure else 200,
        uses=uses,
        use_count=use_count,
        failure=failure.message if failure else "",
        csrf=edits.csrf_token(request),
        charts=charts.summary_charts(_summary_rows(summary) or {}),
        reports=reports.reports_of(ctx, record),
        viewer=viewer,
        record=record,
        parents=catalog.records_of(ctx, record.parents),
        changes=catalog.changes(ctx, record),
        listing=listing,
        crumbs=folders.breadcrumbs(listing.folder),
        metadata=items,
        summary=_summary_rows(summary),
    )


def version_ready(request: Request, ctx: Context, record: VersionRecord) -> bool:
    """Whether the version's page can be made now (else its indexes are being built)."""
    indexer: indexing.Indexer | None = getattr(request.state, "indexer", None)
    return indexer is None or indexer.version_ready(ctx, record)


def indexing_page(request: Request, viewer: Viewer, title: str, message: str) -> Response:
    """A page that says what is being prepared and reloads itself until it is ready."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(
        "indexing.html", viewer=viewer, title=title, message=message, refresh=2, here=here
    )


def _summary_rows(summary: Any) -> dict[str, list[tuple[str, int, int]]] | None:
    """The content summary's groups as (key, files, bytes) rows, if it has the known shape."""
    if not isinstance(summary, dict):
        return None
    found = {}
    for group in ("by_extension", "by_folder"):
        counts = summary.get(group)
        if isinstance(counts, dict):
            found[group] = [
                (str(k), int(v.get("files", 0)), int(v.get("bytes", 0)))
                for k, v in counts.items()
                if isinstance(v, dict)
            ]
    return found or None


def confirm_delete(request: Request, ctx: Context, viewer: Viewer) -> Response:
    edits.require_write(viewer)
    record = catalog.version(ctx, request.path_params["version_id"])
    children = ctx.catalog.children(record.id)
    return render(
        "delete.html",
        viewer=viewer,
        record=record,
        children=children,
        csrf=edits.csrf_token(request),
    )


def report_image(request: Request, ctx: Context, viewer: Viewer) -> Response:
    record = catalog.version(ctx, request.path_params["version_id"])
    data, content_type = reports.image(ctx, record, request.path_params["name"])
    return Response(data, media_type=content_type, headers=SECURITY_HEADERS)


Edit = Callable[[Context, VersionRecord, Viewer, edits.Form], str]


def _then_show(change: Callable[[Context, VersionRecord, edits.Form], None]) -> Edit:
    """``change``, then back to the version's page."""

    def action(ctx: Context, record: VersionRecord, viewer: Viewer, form: edits.Form) -> str:
        change(ctx, record, form)
        return f"/versions/{record.id}"

    return action


# -- the application of ``deltaset ui`` ---------------------------------------------------------


def local_app(context: Callable[[], Context]) -> tuple[Starlette, LocalAccess]:
    """The UI of this machine's catalog, and the access whose secret opens it."""
    access = LocalAccess()
    pages = Pages(context, access, serialize=True)
    app = Starlette(routes=pages.routes())
    app.state.indexer = pages.indexer
    return app, access


def token_routes(
    context: Callable[[], Context], check: Callable[[str], Viewer | None], auth: bool
) -> list[BaseRoute]:
    """The UI's routes for a server: ``check(token)`` is None for an unknown token, else what
    its holder may do."""
    return Pages(context, TokenAccess(check, auth)).routes()
