"""How a run ended, and when training counts as diverged.

A run's status is one of STATUSES and lives in result.json (RunResult.status), which every view
reads: "running" (tasks still to learn, or a process killed before it could say more),
"finished" (every task learned), "stopped" (by the user: Ctrl-C, the app's Stop), "diverged"
(training blew up: see `divergence` and `weight_divergence`) and "failed" (an error;
RunResult.failure says which).

Divergence is an outcome, not a success. Training of task t diverged at epoch e when that
epoch's mean training loss L_e is

    not finite (NaN or inf: the weights are gone), or
    L_e > EXPLOSION_FACTOR * L_ref,  L_ref = max(loss of the task's first batch, before any step;
                                                 mean loss of the run's first epoch)

(the loss exploded without overflowing: e.g. MSE against 15 x one-hot at a step size that
suits CE, epoch losses of 1e3 to 1e6). A well-behaved run's loss falls below its first batch's
within an epoch; ten times above it is never learning. The run's first epoch loss sets the
scale for tasks that start near zero loss (a data-IL task on classes already learned, whose
regulariser then adds a penalty that starts at 0): their losses are not held to that tiny
start. Both checks read the epoch's loss and the first batch's, kept on the device, in the
runner's one read per epoch: no host sync per batch.

A bounded loss (spherical, sparsemax's) cannot explode, so the weights are watched too: at the
end of every epoch (and so before the method's after_task reads the model), with
||theta||_2 the norm over all the model's parameters (frozen ones included: DLCFT's theta_0)
that exist when the task's training starts (so a head grown for the task counts from its
start), training diverged when

    ||theta_e|| is not finite (a NaN or inf weight; a last step can leave them so after a
                 finite epoch loss), or
    ||theta_e|| > WEIGHT_FACTOR * ||theta_start||   (the weights blew up).

WEIGHT_FACTOR is 1000, far from both sides: runs at the command line's defaults on digits (every
method family, the three scenarios, every loss, mlp/cnn/resnet32 backbones) end every epoch
within 1.6 x their task's start norm (the largest, 1.56: finetune with the Taylor loss; DLCFT
1.11, LUCIR 1.14, EWC 1.27), while the spherical loss at lr 1000 grows them 1.1e5 x in its
first epoch. The norm is one reduction on the device per epoch, read with the epoch's loss.
"""
from __future__ import annotations

import math

import torch

STATUSES = ("running", "finished", "stopped", "diverged", "failed")
ENDED = ("finished", "stopped", "diverged", "failed")
EXPLOSION_FACTOR = 10.0
WEIGHT_FACTOR = 1000.0


def divergence(epoch_loss: float, first_batch_loss: float) -> str | None:
    """Why an epoch with mean training loss `epoch_loss` counts as diverged, or None."""
    if not math.isfinite(epoch_loss):
        return f"the training loss became {epoch_loss}"
    if math.isfinite(first_batch_loss) and epoch_loss > EXPLOSION_FACTOR * max(first_batch_loss, 1e-12):
        return (f"the training loss exploded to {epoch_loss:.4g}, over {EXPLOSION_FACTOR:g} x the task's "
                f"first-batch loss {first_batch_loss:.4g}")
    return None


@torch.no_grad()
def parameter_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """||theta||_2 = sqrt(sum_p ||p||_2^2) over `params`, in float64, on their device (no host sync)."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p, dtype=torch.float64) for p in params]))


def weight_divergence(norm: float, start_norm: float) -> str | None:
    """Why parameters of norm `norm` at an epoch's end count as diverged, given their norm
    `start_norm` as the task's training started, or None: not finite, or over WEIGHT_FACTOR x
    the start (see the module's docstring)."""
    if not math.isfinite(norm):
        return f"the weights became non-finite (parameter norm {norm})"
    if norm > WEIGHT_FACTOR * start_norm:
        return (f"the weights blew up: the parameter norm grew to {norm:.4g}, over {WEIGHT_FACTOR:g} x its "
                f"{start_norm:.4g} at the start of the task")
    return None


class Diverged(RuntimeError):
    """Training diverged: `reason` (from `divergence`) at `epoch` (0-based) of `task` (0-based);
    `last_finite_loss` is the last finite epoch loss of the run (None if there was none)."""

    def __init__(self, task: int, epoch: int, reason: str, last_finite_loss: float | None):
        self.task, self.epoch, self.reason, self.last_finite_loss = task, epoch, reason, last_finite_loss
        last = "none" if last_finite_loss is None else f"{last_finite_loss:.4g}"
        super().__init__(f"diverged in task {task + 1}, epoch {epoch + 1}: {reason} (last finite loss {last})")

    def to_dict(self) -> dict:
        return {"kind": "diverged", "task": self.task, "epoch": self.epoch, "reason": self.reason,
                "last_finite_loss": self.last_finite_loss, "message": str(self)}


def status_text(result) -> str:
    """How a run (a RunResult) stands, in words, in every view and log: "finished", "diverged in task 2, epoch 3: ...", "stopped",
    "failed: ...", or "(unfinished)" for a run still going or killed."""
    failure = result.failure or {}
    if result.status == "diverged":
        return failure.get("message", "diverged")
    if result.status == "failed":
        return f"failed: {failure.get('message', 'an error')}"
    if result.status in ("finished", "stopped"):
        return result.status
    return "(unfinished)"
