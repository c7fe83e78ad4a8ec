"""labkit.teaching.vanishing_fisher: the Fisher totals and penalties ewc_run reads from a run's
checkpoints are EWC's own, as a task-by-task run through the runner's pieces sees them; track_training
records the Fisher trace at three kinds of labels."""
import math

import pytest
from helpers import Stepper

from labkit import RunConfig
from labkit.experiment.runner import train_task
from labkit.teaching.vanishing_fisher import ewc_run, total, track_training

SETTINGS = dict(lamb=100.0, seed=0, epochs=1, tasks=3, optimizer="adam", lr=1e-2)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_ewc_run_reads_ewcs_fisher_and_penalty(loss):
    result, table = ewc_run(loss, **SETTINGS)
    assert result.finished and list(table.task) == [0, 1, 2]
    config = RunConfig(scenario="task-il", tasks=3, method="ewc", loss=loss, epochs=1, optimizer="adam", lr=1e-2,
                       knn_k=0, device="cpu", method_params=dict(lamb=100.0, fisher_labels="true"))
    stepper = Stepper(config)
    fisher_totals, penalties = [], [math.nan]
    for t in range(3):
        ctx = stepper.begin()
        train_task(config, stepper.method, ctx, lambda event: None)
        if t > 0:
            penalties.append(stepper.method.penalty(stepper.model).item())
        stepper.method.after_task(ctx)
        fisher_totals.append(total(stepper.method.fisher))
    assert table.fisher_total.tolist() == pytest.approx(fisher_totals, rel=1e-4)
    assert table.penalty.tolist() == pytest.approx(penalties, rel=1e-4, nan_ok=True)
    assert (table.penalty[1:] > 0).all()


def test_finetune_run_has_no_penalty_columns():
    result, table = ewc_run("ce", method="finetune", **SETTINGS)
    assert result.finished and table[["fisher_total", "penalty"]].isna().all().all()


def test_track_training_traces_three_fishers():
    rows = track_training("ce", steps=20, every=10, fisher_samples=32, power_iters=10)
    assert list(rows.step) == [0, 10, 20]
    # the trace of the true Fisher bounds its largest eigenvalue (power iteration: from below)
    assert (rows.fisher_trace_true >= rows.max_eigenvalue * (1 - 1e-6)).all()
    assert (rows[["fisher_trace_true", "fisher_trace_sampled", "fisher_trace_argmax"]] > 0).all().all()
