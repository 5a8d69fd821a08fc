"""deltaset: dataset version control for machine learning."""

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
