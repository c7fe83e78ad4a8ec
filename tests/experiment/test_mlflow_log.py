"""log "mlflow" (the optional extra): runs read back through MLflow's own client equal what
result.json holds; a sweep is one experiment; a diverged run is FAILED with the reason. MLflow is
not in requirements.txt, so the test installs the extra (`mlflow==3.18.0`, pyproject.toml) into a
virtual environment of its own that reuses the shared environment's packages (a .pth file), and
runs the kit there; where MLflow is absent, log "mlflow" is refused naming the extra."""
from __future__ import annotations

import importlib.util
import json
import os
import site
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

from labkit import ConfigError, RunConfig
from labkit.experiment.result import RunResult

ROOT = Path(__file__).resolve().parents[2]
PIN = "mlflow==3.18.0"

SCRIPT = textwrap.dedent('''
    import json, sys
    from pathlib import Path
    from mlflow import MlflowClient
    from labkit import RunConfig, RunDir, run
    from labkit.experiment.mlflow_log import tracking_uri
    from labkit.sweep.execute import run_sweep
    from labkit.sweep.grid import grid_cells

    runs = Path(sys.argv[1])
    base = RunConfig(dataset="digits", scenario="task-il", tasks=2, epochs=2, device="cpu", knn_k=0, log="mlflow")
    run_sweep("the-sweep", grid_cells(base, {"method": ["finetune", "lwf"]}), runs, workers=0, progress=False)
    diverging = base.replace(loss="spherical", optimizer="adam", lr=1000.0, epochs=1)
    run(diverging, run_dir=RunDir.create(diverging.to_dict(), runs))
    client = MlflowClient(tracking_uri(runs))
    out = {}
    for experiment in client.search_experiments():
        for r in client.search_runs([experiment.experiment_id]):
            out[r.data.tags["labkit.run_id"]] = {
                "experiment": experiment.name, "status": r.info.status, "tags": r.data.tags, "params": r.data.params,
                "metrics": {k: [[m.step, m.value] for m in client.get_metric_history(r.info.run_id, k)]
                            for k in r.data.metrics}}
    print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def with_mlflow(tmp_path_factory) -> Path:
    """The python of a venv holding the mlflow extra beside the shared environment's packages."""
    where = tmp_path_factory.mktemp("mlflow-venv")
    venv.create(where, with_pip=False)
    (packages,) = (where / "lib").glob("python*/site-packages")
    (packages / "shared-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = where / "bin" / "python"
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", PIN],
                               capture_output=True, text=True, timeout=600)
    if installed.returncode:
        pytest.fail(f"the mlflow extra does not install beside the pins:\n{installed.stderr[-3000:]}")
    return python


def test_runs_read_back_through_mlflow_equal_their_results(with_mlflow, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(with_mlflow), "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    logged = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(logged) == 3
    for run_id, entry in logged.items():
        result = RunResult.from_dict(json.loads((tmp_path / run_id / "result.json").read_text()))
        history = {k: dict((step, v) for step, v in values) for k, values in entry["metrics"].items()}
        assert entry["params"]["method"] == result.config["method"] and entry["params"]["log"] == "mlflow"
        if result.status == "diverged":
            assert entry["experiment"] == "labkit" and entry["status"] == "FAILED"
            assert entry["tags"]["labkit.status"].startswith("diverged in task 1")
            continue
        assert entry["experiment"] == "the-sweep" and entry["status"] == "FINISHED"
        assert entry["tags"]["labkit.status"] == "finished"
        losses = [loss for task in result.epoch_losses for loss in task]
        assert history["train/loss"] == pytest.approx({i + 1: v for i, v in enumerate(losses)}, rel=1e-9)
        for kind in ("taw", "tag"):
            matrix = result.matrix(kind)
            assert history[f"accuracy_{kind}/task_1"] == pytest.approx({1: matrix[0, 0], 2: matrix[1, 0]})
            assert history[f"average_forgetting/{kind}"] == pytest.approx(
                {2: result.summary(kind)["average_forgetting"][1]}, abs=1e-12)
            assert history[f"final/average_accuracy_{kind}"] == pytest.approx(
                {2: result.summary(kind)["final_average_accuracy"]})


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is not None, reason="mlflow is installed here")
def test_without_the_extra_log_mlflow_is_refused_naming_it():
    with pytest.raises(ConfigError) as refused:
        RunConfig(log="mlflow").validate()
    assert refused.value.field == "log" and ".[mlflow]" in str(refused.value)


@pytest.mark.parametrize("log", ["tensorboard,tensorboard", "tensorboard,", "wandb", "TensorBoard", 3])
def test_a_log_list_names_each_logger_once(log):
    with pytest.raises(ConfigError, match="each once") as refused:
        RunConfig(log=log).validate()
    assert refused.value.field == "log"
