"""One module per command; each has ``register(subparsers)`` and a handler bound by it."""

from deltaset.cli.commands import (
    add,
    close,
    config,
    create,
    delete,
    get,
    list_files,
    rebuild,
    remove,
    search,
    server,
    sync,
    upload,
    verify,
)

ALL = [
    create,
    add,
    remove,
    sync,
    upload,
    close,
    list_files,
    search,
    delete,
    get,
    verify,
    rebuild,
    server,
    config,
]
