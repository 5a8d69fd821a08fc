"""One module per command; each has ``register(subparsers)`` and a handler bound by it.

Modules are imported when a command needs them: a command builds only its own parser, and
importing every command's module (and what each imports) would cost every start-up.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# The module of each command, in the order help lists them.
BY_NAME = {
    "create": "create",
    "add": "add",
    "remove": "remove",
    "sync": "sync",
    "watch": "watch",
    "upload": "upload",
    "close": "close",
    "list": "list_files",
    "search": "search",
    "show": "show",
    "delete": "delete",
    "get": "get",
    "verify": "verify",
    "compare": "compare",
    "squash": "squash",
    "lineage": "lineage",
    "usage": "usage",
    "publish": "publish",
    "set-description": "set_description",
    "tag": "tag",
    "rename": "rename",
    "move": "rename",
    "metadata": "metadata",
    "rebuild-catalog": "rebuild",
    "refresh": "refresh",
    "push": "transfer",
    "pull": "transfer",
    "import-offline": "offline",
    "import-clearml": "import_clearml",
    "server": "server",
    "ui": "ui",
    "config": "config",
    "cache": "cache",
    "gc": "gc",
}


def module_of(command: str) -> ModuleType:
    """The module that registers ``command``."""
    return importlib.import_module(f"{__name__}.{BY_NAME[command]}")


def every_module() -> list[ModuleType]:
    """The module of every command, each once, in help order."""
    names = dict.fromkeys(BY_NAME.values())  # one module may register several commands
    return [importlib.import_module(f"{__name__}.{name}") for name in names]
