"""--log tensorboard: a run's scalars in <run folder>/tensorboard, read back with TensorBoard's own
event reader, equal what result.json holds; a diverged run says so in its log; a log without a
run folder, or a logger that does not exist, is refused before anything is written."""
from __future__ import annotations

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from labkit import ConfigError, RunConfig, RunDir, run
from labkit.cli.main import main
from labkit.experiment import metrics

CONFIG = RunConfig(dataset="digits", scenario="task-il", tasks=2, epochs=2, device="cpu", knn_k=0,
                   track_curvature=True, log="tensorboard")


def read_log(run_dir: RunDir) -> EventAccumulator:
    events = EventAccumulator(str(run_dir.path / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    return events.Reload()


def scalars(events: EventAccumulator, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in events.Scalars(tag)}


def test_a_two_task_run_logs_what_its_result_holds(tmp_path):
    run_dir = RunDir.create(CONFIG.to_dict(), tmp_path)
    result = run(CONFIG, run_dir=run_dir)
    stored = run_dir.result()
    events = read_log(run_dir)

    losses = [loss for task in stored.epoch_losses for loss in task]
    assert scalars(events, "train/loss") == pytest.approx({i + 1: v for i, v in enumerate(losses)}, rel=1e-6)
    for kind in metrics.KINDS:
        matrix = stored.matrix(kind)
        for u in range(2):
            assert scalars(events, f"accuracy_{kind}/task_{u + 1}") == pytest.approx(
                {t + 1: matrix[t, u] for t in range(u, 2)}, rel=1e-6)
        summary = stored.summary(kind)
        assert scalars(events, f"average_accuracy/{kind}") == pytest.approx(
            {t + 1: v for t, v in enumerate(summary["average_accuracy"])}, rel=1e-6)
        assert scalars(events, f"average_forgetting/{kind}") == pytest.approx(
            {2: summary["average_forgetting"][1]}, rel=1e-6, abs=1e-9)
    for name in ("max_eigenvalue", "diagonal_total"):
        assert scalars(events, f"curvature/{name}") == pytest.approx(
            {t + 1: stored.curvature[t][name] for t in range(2)}, rel=1e-6)
    for k in range(2):
        assert scalars(events, f"heads/logit_mean/head_{k + 1}") == pytest.approx(
            {t + 1: stored.head_stats[t]["logit_mean"][k] for t in range(k, 2)}, rel=1e-6)
    assert scalars(events, "run/finished") == {2: 1.0}
    assert result.status == "finished"


def test_a_diverged_run_says_so_in_its_log(tmp_path):
    config = CONFIG.replace(loss="spherical", optimizer="adam", lr=1000.0, track_curvature=False, epochs=1)
    run_dir = RunDir.create(config.to_dict(), tmp_path)
    result = run(config, run_dir=run_dir)
    assert result.status == "diverged"
    events = read_log(run_dir)
    assert scalars(events, "run/finished") == {1: 0.0}
    status = events.Tensors("run/status/text_summary")[-1].tensor_proto.string_val[0].decode()
    assert status.startswith("diverged in task 1") and "weights blew up" in status


def test_logging_changes_nothing_about_the_run(tmp_path):
    plain = run(CONFIG.replace(log=""))
    logged = run(CONFIG, run_dir=RunDir.create(CONFIG.to_dict(), tmp_path))
    assert np.array_equal(plain.matrix("taw"), logged.matrix("taw"), equal_nan=True)
    assert plain.epoch_losses == logged.epoch_losses


def test_a_log_needs_a_run_folder_and_a_known_logger(tmp_path):
    with pytest.raises(ConfigError, match="log") as refused:
        run(CONFIG)
    assert refused.value.field == "log"
    with pytest.raises(ConfigError) as refused:
        CONFIG.replace(log="wandb").validate()
    assert refused.value.field == "log" and "tensorboard" in str(refused.value)


def test_the_command_line_logs_with_log_tensorboard(tmp_path, capsys):
    argv = ["--runs-dir", str(tmp_path), "run", "--dataset", "digits", "--tasks", "2", "--epochs", "1",
            "--device", "cpu", "--knn-k", "0", "--log", "tensorboard"]
    assert main(argv) == 0
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert sorted(read_log(RunDir(folder)).Tags()["scalars"])[:1] == ["accuracy_tag/task_1"]
