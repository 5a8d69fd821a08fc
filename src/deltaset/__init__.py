"""deltaset: dataset version control for machine learning."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deltaset.api.dataset import Dataset
    from deltaset.api.migration import import_clearml
    from deltaset.api.runs import run
    from deltaset.api.sharing import pull, push, refresh
    from deltaset.api.storage_manager import StorageManager
    from deltaset.errors import DeltasetError

__all__ = [
    "Dataset",
    "DeltasetError",
    "StorageManager",
    "__version__",
    "import_clearml",
    "pull",
    "push",
    "refresh",
    "run",
]
__version__ = "0.1.0"

# Imported when first asked for: a process that needs a few modules only (the second process
# of a large add, say) does not pay for the whole API's imports (a third of a second).
_HOMES = {
    "Dataset": "deltaset.api.dataset",
    "DeltasetError": "deltaset.errors",
    "StorageManager": "deltaset.api.storage_manager",
    "import_clearml": "deltaset.api.migration",
    "pull": "deltaset.api.sharing",
    "push": "deltaset.api.sharing",
    "refresh": "deltaset.api.sharing",
    "run": "deltaset.api.runs",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'deltaset' has no attribute {name!r}")
    found = getattr(import_module(home), name)
    globals()[name] = found
    return found


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
