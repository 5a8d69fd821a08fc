"""The runs a process works under: an explicit one (``DELTASET_RUN``, ``deltaset.run``) and
those of the experiment trackers it uses (MLflow, Weights & Biases, ClearML).

A tracker is asked only if the process imported it already: deltaset never imports MLflow
just to learn there is no run. Each tracker is also told which version its run read, so its
own UI shows the data next to the metrics.
"""

from __future__ import annotations

import contextvars
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RUN_ENV = "DELTASET_RUN"

# The run ``deltaset.run("name")`` opened in this thread or task, if any.
explicit_run: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "deltaset_run", default=None
)


@dataclass(frozen=True, slots=True)
class Run:
    kind: str  # deltaset, mlflow, wandb or clearml
    id: str
    name: str
    experiment: str = ""


@dataclass(frozen=True, slots=True)
class VersionRead:
    """What a tracker is told about a read: the version and how the reader named it."""

    version_id: str
    alias: str
    url: str  # deltaset://PROJECT/NAME@VERSION
    project: str
    name: str
    version: str


def active_runs() -> list[Run]:
    """Every run this process works under now, the explicit one first."""
    found = []
    name = explicit_run.get() or os.environ.get(RUN_ENV)
    if name:
        found.append(Run("deltaset", name, name))
    for module, detect in _DETECTORS.items():
        if module in sys.modules:
            run = detect(sys.modules[module])
            if run is not None:
                found.append(run)
    return found


def tell(run: Run, read: VersionRead) -> None:
    """Record ``read`` on the tracker's own run (a no-op for an explicit run)."""
    teller = _TELLERS.get(run.kind)
    if teller is not None:
        teller(sys.modules[run.kind], read)


# -- MLflow -------------------------------------------------------------------------------------


def _mlflow_run(mlflow: Any) -> Run | None:
    active = mlflow.active_run()
    if active is None:
        return None
    info = active.info
    return Run("mlflow", info.run_id, info.run_name or "", str(info.experiment_id))


def _tell_mlflow(mlflow: Any, read: VersionRead) -> None:
    """An input dataset on the run, as MLflow's own dataset tracking logs one: its source
    names the ``deltaset://`` URL and the version id, its digest is the version id."""
    from mlflow.data.meta_dataset import MetaDataset

    source = _mlflow_source(read)
    # MLflow marks "profile" abstract without enforcing it (no ABCMeta); its docs build these.
    dataset = MetaDataset(source, name=read.name, digest=read.version_id)  # type: ignore[abstract]
    mlflow.log_input(dataset, context=read.alias)


def _mlflow_source(read: VersionRead) -> Any:
    from mlflow.data.dataset_source import DatasetSource

    class DeltasetSource(DatasetSource):
        def __init__(self, url: str, version_id: str) -> None:
            self.url, self.version_id = url, version_id

        @staticmethod
        def _get_source_type() -> str:
            return "deltaset"

        def load(self, **_: Any) -> str:
            return self.url

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return isinstance(raw_source, str) and raw_source.startswith("deltaset://")

        @classmethod
        def _resolve(cls, raw_source: Any) -> DeltasetSource:
            return cls(str(raw_source), "")

        def to_dict(self) -> dict[str, str]:
            return {"url": self.url, "version_id": self.version_id}

        @classmethod
        def from_dict(cls, source_dict: dict[str, str]) -> DeltasetSource:
            return cls(source_dict["url"], source_dict.get("version_id", ""))

    return DeltasetSource(read.url, read.version_id)


# -- Weights & Biases ---------------------------------------------------------------------------


def _wandb_run(wandb: Any) -> Run | None:
    run = getattr(wandb, "run", None)
    if run is None:
        return None
    return Run("wandb", str(run.id), str(run.name or ""), str(run.path).rsplit("/", 1)[0])


def _tell_wandb(wandb: Any, read: VersionRead) -> None:
    entry = {"id": read.version_id, "url": read.url, "version": read.version}
    wandb.run.config.update({f"deltaset/{read.alias}": entry}, allow_val_change=True)


# -- ClearML ------------------------------------------------------------------------------------


def _clearml_run(clearml: Any) -> Run | None:
    task = clearml.Task.current_task()
    if task is None:
        return None
    return Run("clearml", str(task.id), str(task.name or ""), str(task.get_project_name() or ""))


def _tell_clearml(clearml: Any, read: VersionRead) -> None:
    """The version id under the task's "Datasets" section, keyed by the alias: what
    ClearML's own ``Dataset.get(alias=...)`` records."""
    clearml.Task.current_task().set_parameter(f"Datasets/{read.alias}", read.version_id)


_DETECTORS: dict[str, Callable[[Any], Run | None]] = {
    "mlflow": _mlflow_run,
    "wandb": _wandb_run,
    "clearml": _clearml_run,
}
_TELLERS: dict[str, Callable[[Any, VersionRead], None]] = {
    "mlflow": _tell_mlflow,
    "wandb": _tell_wandb,
    "clearml": _tell_clearml,
}
