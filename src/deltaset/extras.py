"""The optional parts of deltaset (``pip install 'deltaset[EXTRA]'``), and the one sentence that
says which to install when a module of one is missing."""

from __future__ import annotations

from deltaset.errors import InvalidInputError

# What each extra brings, as the subject of "... needs the X extra".
EXTRAS = {
    "server": "The deltaset server (and its SQL catalog)",
    "ui": "The web UI",
    "s3": "s3:// storage",
    "azure": "azure:// storage",
    "gcs": "gs:// storage",
    "tables": "A table as metadata",
    "fsspec": "Reading deltaset:// URLs through fsspec",
}

# The extra a missing top-level module (or module prefix) belongs to.
_EXTRA_OF = {
    "fastapi": "server",
    "fastapi_offline": "server",
    "starlette": "server",
    "pydantic": "server",
    "uvicorn": "server",
    "sqlalchemy": "server",
    "alembic": "server",
    "psycopg": "server",
    "jinja2": "ui",
    "markupsafe": "ui",
    "grandalf": "ui",
    "google.cloud": "gcs",
    "google.api_core": "gcs",
    "google.auth": "gcs",
    "pandas": "tables",
    "pyarrow": "tables",
    "fsspec": "fsspec",
}


def needs(extra: str, missing: str | None = None) -> InvalidInputError:
    """The error saying that ``extra`` is needed (``missing``: the module found missing)."""
    why = f" ({missing} is not installed)" if missing else ""
    return InvalidInputError(
        f"{EXTRAS[extra]} needs the {extra!r} extra{why}: pip install 'deltaset[{extra}]'."
    )


def missing_extra(exc: ImportError) -> InvalidInputError | None:
    """The error of :func:`needs` if ``exc`` is a module of an extra not installed, else None."""
    name = exc.name or ""
    for prefix, extra in _EXTRA_OF.items():
        if name == prefix or name.startswith(prefix + "."):
            return needs(extra, name.split(".")[0] if "." not in prefix else name)
    return None
