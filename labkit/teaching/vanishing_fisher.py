"""Vanishing curvature under softmax CE (DLCFT Sec. 3.1, Fig. 3, App. A), the computation behind
notebook 02.

An MLP is trained on one dataset with softmax CE and, from the same start, with MSE against
alpha * onehot(y) (alpha = 15). Every few steps we record the training loss and the largest
eigenvalue of the Fisher of the loss's likelihood,

    F = 1/N sum_n J_n^T H_n J_n,   H_n = diag(p_n) - p_n p_n^T (CE)   or   I (MSE),

and the total sum_i F_ii of EWC's diagonal Fisher, which scales its penalty
0.5 lambda sum_i F_ii (theta_i - theta*_i)^2. As p_n -> onehot(y_n), CE's H_n -> 0 and both
vanish; MSE's H_n = I does not depend on the fit. The diagonal Fisher is taken three ways: the
true Fisher exactly (the expectation over the model's labels, which gives H_n), its one-label
Monte-Carlo estimate (labels sampled from the model), and at the argmax labels (labkit's EWC
default, FACIL's). Under CE, per sample, the true Fisher's logit factor is of order 1 - p_y and
the argmax-label one's of order (1 - p_y)^2 (its gradient is J^T (p - e_y)); a sampled label is
then almost always the argmax one, so the estimate follows the argmax-label Fisher, far below
the true one. Under MSE the
argmax-label gradient is the residual z - alpha onehot, which goes to 0 as the data are fit, so
that Fisher vanishes too.

ewc_run then runs EWC (with the true Fisher) through the runner on a task-IL sequence, one loss at
a time, and reads from the run's checkpoints what the penalty held after each task.
"""
from __future__ import annotations

import math

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from labkit.config import RunConfig
from labkit.curvature import diagonal_fisher, max_fisher_eigenvalue, softmax_ce_logit_hessian
from labkit.data import ArrayDataset, load_dataset
from labkit.experiment.checkpointed_run import run_with_task_states
from labkit.experiment.result import RunResult
from labkit.losses import LOSSES, ClassificationLoss
from labkit.models import build_model


def track_training(loss: str, *, dataset: str = "digits", steps: int = 600, every: int = 25, lr: float = 0.05,
                   batch_size: int = 64, fisher_samples: int = 500, power_iters: int = 30, seed: int = 0,
                   data_root: str = "data", progress: bool = False, traces: bool = True) -> pd.DataFrame:
    """Train build_model("mlp") + one head on all classes of `dataset` with the registered
    `loss` ("ce" or "mse"), SGD with momentum 0.9, and return one row per measured step (step 0,
    every `every` steps, and the last):

    step, loss (mean training loss), train_accuracy, test_accuracy, p_true (mean softmax
    probability of the true class), max_eigenvalue (lambda_max of F), and the sum of the diagonal
    Fisher at three kinds of labels: fisher_trace_true (the true Fisher, exactly),
    fisher_trace_sampled (its one-label estimate) and fisher_trace_argmax; the Fisher quantities
    over the first `fisher_samples` training images (traces=False: not the three traces, the
    costly part). progress: a tqdm bar over the steps.
    """
    data = load_dataset(dataset, data_root)
    spec = LOSSES.get(loss)
    torch.manual_seed(seed)
    model = build_model("mlp", data.input_shape)
    model.add_head(data.num_classes)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    rows = []
    for step in tqdm(range(steps + 1), desc=f"training with {loss}", unit="step", leave=False, disable=not progress):
        if step % every == 0 or step == steps:
            rows.append({"step": step, **step_figures(model, data, spec, fisher_samples, power_iters, seed, traces)})
        if step < steps:
            batch = torch.randint(0, len(data.train_y), (batch_size,), generator=gen)
            optimizer.zero_grad()
            spec.fn(model(data.train_x[batch]), data.train_y[batch]).backward()
            optimizer.step()
    return pd.DataFrame(rows).assign(loss_name=loss)


def step_figures(model: torch.nn.Module, data: ArrayDataset, spec: ClassificationLoss, fisher_samples: int,
               power_iters: int, seed: int, traces: bool = True) -> dict[str, float]:
    """The measurements of one row of track_training."""
    x, y = data.train_x[:fisher_samples], data.train_y[:fisher_samples]
    with torch.no_grad():
        train_logits, test_logits = model(data.train_x), model(data.test_x)

    def diagonal_total(labels: str) -> float:
        fisher = diagonal_fisher(model, x, y, likelihood=spec.likelihood, labels=labels, onehot_scale=spec.onehot_scale,
                                 batch_size=512, generator=torch.Generator().manual_seed(seed))
        return sum(f.sum() for f in fisher.values()).item()

    row = {
        "loss": spec.fn(train_logits, data.train_y).item(),
        "train_accuracy": (train_logits.argmax(1) == data.train_y).float().mean().item(),
        "test_accuracy": (test_logits.argmax(1) == data.test_y).float().mean().item(),
        "p_true": torch.softmax(train_logits, 1).gather(1, data.train_y[:, None]).mean().item(),
        "max_eigenvalue": max_fisher_eigenvalue(model, x, likelihood=spec.likelihood, iters=power_iters,
                                                generator=torch.Generator().manual_seed(seed)),
    }
    if traces:
        row |= {f"fisher_trace_{labels}": diagonal_total(labels) for labels in ("true", "sampled", "argmax")}
    return row


def curvature_kept(loss: str, *, seed: int = 0, **settings) -> float:
    """DLCFT's Fig. 3 as one number: lambda_max of the Fisher on the training images the network
    fits, at the end of track_training(loss, seed, **settings), as a fraction of its largest value
    along the way. Near 0: the curvature vanished as the data were fitted (softmax CE); near 1: it
    stayed (MSE, whose H_n = I does not depend on the fit)."""
    eigenvalues = track_training(loss, seed=seed, traces=False, **settings)["max_eigenvalue"]
    return float(eigenvalues.iloc[-1] / eigenvalues.max())


def compare_losses(**settings) -> pd.DataFrame:
    """track_training for "ce" and "mse" from the same initial network, rows stacked."""
    return pd.concat([track_training(loss, **settings) for loss in ("ce", "mse")], ignore_index=True)


def logit_hessian_spectrum(num_classes: int = 10, max_margin: float = 20.0, points: int = 81) -> pd.DataFrame:
    """For logits z = m * onehot(0), m from 0 to max_margin: p_true = softmax(z)_0, the CE loss
    -log p_true, lambda_max of the CE logit Hessian diag(p) - p p^T, its bound
    trace = 1 - sum_k p_k^2 <= 2 (1 - p_true), and lambda_max of MSE's logit Hessian (I: 1)."""
    margins = torch.linspace(0, max_margin, points, dtype=torch.float64)
    z = margins[:, None] * F.one_hot(torch.tensor(0), num_classes).double()
    p = torch.softmax(z, 1)
    return pd.DataFrame({
        "margin": margins.numpy(),
        "p_true": p[:, 0].numpy(),
        "ce_loss": (-torch.log(p[:, 0])).numpy(),
        "ce_max_eigenvalue": torch.linalg.eigvalsh(softmax_ce_logit_hessian(z))[:, -1].numpy(),
        "ce_trace": (1 - (p ** 2).sum(1)).numpy(),
        "mse_max_eigenvalue": 1.0,
    })


def ewc_run(loss: str, *, method: str = "ewc", lamb: float = 100.0, seed: int = 0, epochs: int = 20,
            tasks: int = 5, optimizer: str = "adam", lr: float = 1e-2, dataset: str = "digits",
            fisher_labels: str = "true", data_root: str = "data") -> tuple[RunResult, pd.DataFrame]:
    """One continual run (task-IL, `tasks` tasks of `dataset`, the mlp) of `method` ("ewc" or
    "finetune") with `loss`, and what EWC's penalty held after each task t (one row per task):

    fisher_total: sum_i F_ii of the Fisher EWC holds after task t (the true Fisher with
        fisher_labels="true"; from the second task on, EWC's merge alpha F_old + (1 - alpha) F_new);
    penalty: (lambda / 2) sum_i F_{t-1, ii} (theta_t,i - theta*_{t-1, i})^2, the penalty the
        parameters theta_t reached at the end of task t pay (NaN for the first task).

    The numbers are read from the run's checkpoint after every task (labkit.experiment.checkpointed_run);
    for "finetune" both columns are NaN.
    """
    params = dict(lamb=lamb, fisher_labels=fisher_labels) if method == "ewc" else {}
    config = RunConfig(dataset=dataset, scenario="task-il", tasks=tasks, method=method, loss=loss, epochs=epochs,
                       optimizer=optimizer, lr=lr, seed=seed, knn_k=0, data_root=data_root, method_params=params)
    states: list[dict] = []
    keep = (lambda t, task_state: states.append({"model": task_state["model"], **task_state["method"]})) \
        if method == "ewc" else (lambda t, task_state: None)
    result = run_with_task_states(config, keep)
    rows = []
    for t in range(result.tasks_done):
        row = {"task": t, "fisher_total": math.nan, "penalty": math.nan}
        if states:
            row["fisher_total"] = total(states[t]["fisher"])
            if t > 0:
                old, theta = states[t - 1], states[t]["model"]
                row["penalty"] = 0.5 * lamb * total({n: f * (theta[n] - old["anchor"][n]) ** 2
                                                     for n, f in old["fisher"].items()})
        rows.append(row)
    return result, pd.DataFrame(rows)


def total(tensors: dict[str, torch.Tensor]) -> float:
    """The sum of every entry of every tensor, in float64."""
    return sum(t.double().sum() for t in tensors.values()).item()
