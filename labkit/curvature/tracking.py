"""How much curvature a network has left after task t: the figures of the app's DLCFT
"curvature collapse" chart (docs/PAPERS.md, section 3, claim (a); notebook 02).

Measured twice after task t, each on a seeded subsample x_1..x_N (N <= `samples`) of training
images: of the task just learned (task t: the data the network has just fitted, where DLCFT's
claim lives, and what EWC would protect that task with) and of all tasks seen so far (0..t, the
forgotten ones included). With z_n the logits the run's loss reads for x_n (class-IL: all heads
so far, concatenated; data-IL: the one head; task-IL: the head of x_n's own task) and theta the
parameters that require grad:

    F = 1/N sum_n J_n^T H_n J_n,   J_n = d z_n / d theta               (Fisher = GGN)
    max_eigenvalue = lambda_max(F)                         (power iteration, curvature.spectrum)
    diagonal_total = sum_i 1/N sum_n (d/d theta_i  -log p(yhat_n | z_n))^2,  yhat_n = argmax z_n
                     (EWC's diagonal Fisher at its default labels, "argmax"; curvature.fisher)

with H_n = diag(p_n) - p_n p_n^T, p_n = softmax(z_n) (categorical) or H_n = I (Gaussian). Under
softmax CE, H_n -> 0 as p_n -> one-hot, so both shrink towards 0 on data the model fits (DLCFT
Sec. 3.1), while data it has forgotten (high loss) keeps curvature; under MSE F = 1/N sum J^T J
whatever the fit, so lambda_max does not vanish.

The likelihood is the run's loss's (labkit.losses): ce -> categorical, mse -> Gaussian around the
logits (target onehot_scale * e_y). A loss that is no negative log-likelihood (sparsemax,
entmax15, spherical, taylor, ova_bce, which EWC refuses) is measured with the categorical
likelihood of softmax over the same logits: the curvature a softmax reading of that network has,
not its own loss's. Each entry names the likelihood it used.

A stored entry: max_eigenvalue, diagonal_total, images (all tasks seen), newest_max_eigenvalue,
newest_diagonal_total, newest_images (the task just learned; absent from runs stored before it
was measured), seconds (both measurements), likelihood.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from labkit.curvature.fisher import diagonal_fisher
from labkit.curvature.spectrum import max_fisher_eigenvalue
from labkit.data.types import Scenario
from labkit.losses import LOSSES, ClassificationLoss
from labkit.models.eval_mode import evaluating
from labkit.models.net import IncrementalNet
from labkit.registry import check_number

# per-sample gradients held at once by the diagonal Fisher: batch x parameters floats, at most this many
PER_SAMPLE_FLOATS = 2**25
UNREAD_MARGIN = 1e4  # how far below a row's logits the columns its loss does not read are put
NEWEST = "newest_"  # the prefix of an entry's figures on the task just learned


def tracking_likelihood(loss: ClassificationLoss) -> str:
    """The loss's own likelihood, or "categorical" for a loss that is not a negative log-likelihood."""
    return loss.likelihood or "categorical"


def task_images(scenario: Scenario, tasks: range, samples: int,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """min(samples, n) of the n training images of `tasks` (e.g. range(t + 1): every task seen;
    range(t, t + 1): task t alone), and their labels, drawn uniformly without replacement by
    `generator` (a CPU one: torch's global RNG is not touched); grouped by task."""
    chosen_tasks = scenario.tasks[tasks.start: tasks.stop]
    ends = torch.tensor([len(task.train_y) for task in chosen_tasks]).cumsum(0)
    chosen = torch.randperm(int(ends[-1]), generator=generator)[:samples]
    owner = torch.searchsorted(ends, chosen, right=True)
    picks = [(task, (chosen[owner == u] - (ends[u] - len(task.train_y))).to(task.train_y.device))
             for u, task in enumerate(chosen_tasks)]
    return torch.cat([task.train_x[i] for task, i in picks]), torch.cat([task.train_y[i] for task, i in picks])


def read_columns(scenario: Scenario, y: torch.Tensor, width: int) -> torch.Tensor:
    """(N, width) bool: which of the concatenated logits the loss reads for each sample; in
    task-IL the columns of the sample's own task (class c belongs to the task whose offset
    range holds it), else all of them."""
    if scenario.kind != "task-il":
        return torch.ones(len(y), width, dtype=torch.bool, device=y.device)
    offsets = scenario.offsets(y.device)

    def task_of(labels: torch.Tensor) -> torch.Tensor:
        return torch.searchsorted(offsets, labels, right=True) - 1

    return task_of(y)[:, None] == task_of(torch.arange(width, device=y.device))[None, :]


class LossLogits(nn.Module):
    """n -> z_n for indices n into the images x: the model's logits, with the columns the loss
    does not read for image n set (detached) to UNREAD_MARGIN below that row's smallest logit.
    Those columns carry no curvature under either likelihood: their Jacobian is zero, softmax
    gives them probability 0 (exp(-1e4) underflows), argmax never picks them."""

    def __init__(self, model: nn.Module, x: torch.Tensor, read: torch.Tensor):
        super().__init__()
        self.model, self.x, self.read = model, x, read

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        z = self.model(self.x[index])
        unread = z.detach().amin(-1, keepdim=True) - UNREAD_MARGIN
        return torch.where(self.read[index], z, unread)


def fisher_figures(model: IncrementalNet, scenario: Scenario, x: torch.Tensor, y: torch.Tensor,
                   loss: ClassificationLoss, iterations: int, generator: torch.Generator) -> dict:
    """{"max_eigenvalue": lambda_max(F), "diagonal_total": sum_i F_ii (argmax labels), "images": N}
    of the Fisher on the images x (labels y), under the loss's tracking likelihood (module
    docstring); the power iteration's start vector from `generator`."""
    likelihood = tracking_likelihood(loss)
    net = LossLogits(model, x, read_columns(scenario, y, sum(model.heads.sizes)))
    index = torch.arange(len(x), device=x.device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    eigenvalue = max_fisher_eigenvalue(net, index, likelihood=likelihood, iters=iterations, generator=generator)
    fisher = diagonal_fisher(net, index, y, likelihood=likelihood, labels="argmax", onehot_scale=loss.onehot_scale,
                             batch_size=max(1, PER_SAMPLE_FLOATS // max(trainable, 1)))
    return {"max_eigenvalue": float(eigenvalue), "diagonal_total": float(sum(f.sum() for f in fisher.values())),
            "images": len(x)}


def curvature_after_task(model: IncrementalNet, scenario: Scenario, t: int, loss_name: str, *, samples: int = 256,
                         iterations: int = 20, generator: torch.Generator) -> dict:
    """The stored entry after task t (module docstring): the Fisher's figures on all tasks seen
    so far, then (NEWEST + name) on task t alone; after task 0 the two sets are the same images,
    measured once. `iterations` power iterations at most, on `samples` images at most per set,
    drawn (with the power iterations' start vectors) from `generator`. The model is left as it
    was: parameters, every module's train/eval flag, .grad; torch's global RNG is not drawn from."""
    started = time.perf_counter()
    check_number("t", t, integer=True, ge=0, le=len(scenario.tasks) - 1)
    check_number("samples", samples, integer=True, ge=1)
    check_number("iterations", iterations, integer=True, ge=1)
    loss = LOSSES.get(loss_name)
    with evaluating(model):
        seen = fisher_figures(model, scenario, *task_images(scenario, range(t + 1), samples, generator),
                              loss, iterations, generator)
        newest = seen if t == 0 else fisher_figures(
            model, scenario, *task_images(scenario, range(t, t + 1), samples, generator), loss, iterations, generator)
    return {**seen, **{NEWEST + name: value for name, value in newest.items()},
            "seconds": time.perf_counter() - started, "likelihood": tracking_likelihood(loss)}


def curvature_series(entries: list[dict], figure: str) -> dict[str, list[float | None]]:
    """{"newest": the figure ("max_eigenvalue" or "diagonal_total") on the task just learned after
    each task, None in entries stored before it was measured; "seen": on all tasks seen}."""
    return {"newest": [entry.get(NEWEST + figure) for entry in entries],
            "seen": [entry[figure] for entry in entries]}
