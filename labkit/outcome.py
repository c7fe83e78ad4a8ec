"""How a run ended, and when training counts as diverged.

A run's status is one of STATUSES and lives in result.json (RunResult.status), which every view
reads: "running" (tasks still to learn, or a process killed before it could say more),
"finished" (every task learned), "stopped" (by the user: Ctrl-C, the app's Stop), "diverged"
(training blew up: see `divergence`) and "failed" (an error; RunResult.failure says which).

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
start. Both checks read the epoch's loss where the runner already reads it once per epoch, and
the first batch's once per task: no host sync per batch.
"""
from __future__ import annotations

import math

STATUSES = ("running", "finished", "stopped", "diverged", "failed")
ENDED = ("finished", "stopped", "diverged", "failed")
EXPLOSION_FACTOR = 10.0


def divergence(epoch_loss: float, first_batch_loss: float) -> str | None:
    """Why an epoch with mean training loss `epoch_loss` counts as diverged, or None."""
    if not math.isfinite(epoch_loss):
        return f"the training loss became {epoch_loss}"
    if math.isfinite(first_batch_loss) and epoch_loss > EXPLOSION_FACTOR * max(first_batch_loss, 1e-12):
        return (f"the training loss exploded to {epoch_loss:.4g}, over {EXPLOSION_FACTOR:g} x the task's "
                f"first-batch loss {first_batch_loss:.4g}")
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
