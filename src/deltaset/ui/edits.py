"""The edits a person with write permission makes on a version's page: tags, description,
publication and deletion, through the same engine calls as the CLI and API.

Every edit is a POST with a per-session CSRF token (an HMAC of the session's cookie under this
process's key) on top of the Origin check and the SameSite cookie."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode

from starlette.requests import Request

from deltaset.catalog.base import Query
from deltaset.core.records import VersionRecord
from deltaset.engine import delete, records
from deltaset.engine.context import Context
from deltaset.errors import AccessError, InvalidInputError
from deltaset.ui.access import LocalAccess, TokenAccess, Viewer

_KEY = secrets.token_bytes(32)
CSRF_FIELD = "csrf"
MAX_DESCRIPTION = 10_000
MAX_TAG = 128
MAX_FORM = 64 << 10  # bytes of an edit form: a description with room to spare
TOO_LARGE = f"An edit form is at most {MAX_FORM >> 10} KB."

NOT_SIGNED_IN = "Sign in to change versions."
CROSS_SITE = "A form of another site cannot change versions here."
READ_ONLY = "A read-only token cannot change versions; sign in with a read-write token."
STALE_FORM = "This form has expired or comes from another site; reload the page and try again."

Form = dict[str, str]


def csrf_token(request: Request) -> str:
    """The token every edit form of this session carries."""
    session = "\n".join(
        request.cookies.get(c, "") for c in (LocalAccess.COOKIE, TokenAccess.COOKIE)
    )
    return hmac.new(_KEY, session.encode(), hashlib.sha256).hexdigest()


def refusal(viewer: Viewer | None, same_origin: bool, request: Request, form: Form) -> str | None:
    """Why this edit request is refused (each a 403), or None."""
    if viewer is None:
        return NOT_SIGNED_IN
    if not same_origin:
        return CROSS_SITE
    if not viewer.can_write:
        return READ_ONLY
    if not hmac.compare_digest(form.get(CSRF_FIELD, ""), csrf_token(request)):
        return STALE_FORM
    return None


def require_write(viewer: Viewer) -> None:
    if not viewer.can_write:
        raise AccessError(READ_ONLY, 403)


def edit_tags(ctx: Context, record: VersionRecord, form: Form) -> None:
    remove = form.get("remove", "")
    add = [t.strip() for t in form.get("add", "").split(",") if t.strip()]
    if not add and not remove:
        raise InvalidInputError("Type a tag to add (several separated by commas).")
    long = [t for t in add if len(t) > MAX_TAG]
    if long:
        raise InvalidInputError(f"A tag is at most {MAX_TAG} characters long.")
    records.edit_tags(ctx, record, add=add, remove=[remove] if remove else [])


def set_description(ctx: Context, record: VersionRecord, form: Form) -> None:
    text = form.get("description", "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInputError(f"A description is at most {MAX_DESCRIPTION} characters long.")
    records.set_description(ctx, record, text)


def publish(ctx: Context, record: VersionRecord, form: Form) -> None:
    records.publish(ctx, record)


def delete_version(ctx: Context, record: VersionRecord, viewer: Viewer, form: Form) -> str:
    """Delete ``record`` as confirmed on its own page; returns the page to show next."""
    if form.get("confirm") != "yes":
        raise InvalidInputError("Confirm the deletion on its own page first.")
    if record.state.is_final and not viewer.deletes_final:
        raise AccessError(
            f"Only an admin token may delete the final version {record.id} "
            "('deltaset server token create --admin').",
            403,
        )
    delete.delete(ctx, record, force=form.get("force") == "yes")
    query = Query(project=record.project, name=record.name, recursive_project=False)
    return record_list_url(record) if ctx.catalog.search(query) else "/"


def record_list_url(record: VersionRecord) -> str:
    return "/dataset?" + urlencode({"project": record.project, "name": record.name})
