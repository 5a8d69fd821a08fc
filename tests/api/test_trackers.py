"""Runs of experiment trackers: a read under an MLflow or W&B run is a use of that run, and
the tracker's own run names the version (real MLflow on a local store, real wandb offline)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from deltaset import Dataset
from deltaset.engine.context import default_context
from tests.api.test_uses import final_version
from tests.backends import EMBEDDED_ONLY

pytestmark = EMBEDDED_ONLY  # the trackers' side does not depend on where the catalog is


# MLflow's store uses SQLAlchemy features SQLAlchemy 2.1 deprecates: not deltaset's to fix.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_mlflow_run_gets_the_use_and_an_input_dataset(tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    ds = final_version(tmp_path)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("pets-classifier")
    with mlflow.start_run(experiment_id=experiment, run_name="baseline") as run:
        Dataset.get(dataset_id=ds.id, alias="train").get_local_copy()
    [use] = default_context().catalog.uses(ds.id)
    assert (use.run_kind, use.run_id, use.run_name) == ("mlflow", run.info.run_id, "baseline")
    assert use.experiment == experiment
    [logged] = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset.digest == ds.id
    assert logged.dataset.source_type == "deltaset"
    assert f'"version_id": "{ds.id}"' in logged.dataset.source
    assert "deltaset://vision/pets@1.0.0" in logged.dataset.source
    assert [(t.key, t.value) for t in logged.tags] == [("mlflow.data.context", "train")]


def test_a_wandb_run_gets_the_use_and_the_version_in_its_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # wandb makes temporary folders when imported and leaves their removal to the process's
    # exit, which a pytest-xdist worker slow to exit never reaches: here they are this test's.
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    wandb = pytest.importorskip("wandb")
    for name, value in {
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path),
        "WANDB_SILENT": "true",
        "TMPDIR": str(temp),
    }.items():
        monkeypatch.setenv(name, value)
    ds = final_version(tmp_path)
    run = wandb.init(project="pets", name="sweep-3")
    try:
        Dataset.get(dataset_id=ds.id, alias="train").get_local_copy()
        # What the run will sync to W&B (offline, it is kept in the run's own log file).
        assert run.config["deltaset/train"]["id"] == ds.id
        assert run.config["deltaset/train"]["url"] == "deltaset://vision/pets@1.0.0"
    finally:
        run.finish()
    [use] = default_context().catalog.uses(ds.id)
    assert (use.run_kind, use.run_id, use.run_name, use.experiment) == (
        "wandb",
        run.id,
        "sweep-3",
        "pets",
    )


def test_no_tracker_is_imported_to_look_for_its_run(tmp_path: Path) -> None:
    ds = final_version(tmp_path)
    script = (
        "import sys\nfrom deltaset import Dataset\n"
        f"Dataset.get(dataset_id={ds.id!r}).get_local_copy()\n"
        "print(sorted({'mlflow', 'wandb', 'clearml'} & set(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=os.environ, check=True
    )
    assert done.stdout.strip() == "[]"
    assert len(default_context().catalog.uses(ds.id)) == 1  # and the use was recorded


def test_a_clearml_task_gets_the_use_and_the_version_under_datasets(tmp_path: Path) -> None:
    # Its Task.init hangs in pytest's process (repository detection), so the task runs in a
    # process of its own, offline.
    ds = final_version(tmp_path)
    script = textwrap.dedent(f"""
        import os
        from clearml import Task
        from deltaset import Dataset
        Task.set_offline(True)
        task = Task.init(project_name="pets", task_name="baseline", auto_connect_frameworks=False,
                         auto_resource_monitoring=False, auto_connect_streams=False)
        Dataset.get(dataset_id={ds.id!r}, alias="train").get_local_copy()
        print(task.get_parameters()["Datasets/train"], task.id, flush=True)
        os._exit(0)  # Task.close would wait for a server it cannot reach
    """)
    # Reports in-process: the run would otherwise wait for ClearML's reporter process (another
    # 30 seconds), which holds the output pipe open.
    (tmp_path / "clearml.conf").write_text(
        "sdk { development { report_use_subprocess: false, detect_with_pip_freeze: false } }"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        cwd=tmp_path,  # outside any repository
        # ClearML keeps its offline session in HOME and leaves a lock file in the temporary
        # folder, both this test's.
        env={**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    recorded, task_id = done.stdout.split()[-2:]
    assert recorded == ds.id  # where ClearML's own Dataset.get(alias="train") puts it
    [use] = default_context().catalog.uses(ds.id)
    assert (use.run_kind, use.run_id, use.run_name, use.experiment, use.alias) == (
        "clearml",
        task_id,
        "baseline",
        "pets",
        "train",
    )
