"""Experience Replay with a reservoir memory (Chaudhry et al. 2019), as Mammoth's `er` replays it
(same reservoir, same replay batch size, same order of a step: the replay batch drawn, the
optimiser step, then the batch inserted), with one difference in the loss: labkit sums two
batch means, L_task(x, y) + L_task(x_m, y_m), where Mammoth takes one mean over the joined batch,
L_task([x; x_m], [y; y_m]) = half that sum for equal sizes, so labkit's replayed step is twice
Mammoth's at the same learning rate. Protocol and parameters: docs/METHODS.md, section 10."""
from __future__ import annotations

import torch

from labkit.methods.base import Method, Param, TaskContext, register
from labkit.methods.buffer import ReservoirBuffer


@register
class ER(Method):
    """ER: task loss + task loss of as many examples replayed from a reservoir memory.

        L = L_task(x, y) + L_task(x_m, y_m),  (x_m, y_m) drawn from the memory, |x_m| = |x|

    L_task is the context's task loss: in class-IL and data-IL over all heads so far, in task-IL
    each replayed sample within its own task's head. The order of a step (labkit.methods.base):
    (a) training_loss draws (x_m, y_m) from the memory as it was before the step, (b) the runner's
    optimiser step, (c) after_step offers (x, y) to the reservoir: a batch is never replayed in
    its own step (Mammoth's order). The runner's validation pass calls training_loss only, so it
    leaves the memory alone (its loss still includes a replayed batch: it measures the objective
    trained). Subclasses change what is replayed (`replay_loss`) and what is stored
    (`keep_for_memory`, `after_step`).
    """

    name = "er"
    # at most 100,000: more than any dataset here has training images (the memory is allocated whole)
    params = {"buffer_size": Param(500, "examples the reservoir memory holds (DLCFT: 500); 0 keeps none",
                                   ge=0, le=100_000,
                                   source="DLCFT paper Sec. 4.1 (a buffer of 500 samples for every method that uses "
                                          "one, reservoir sampling) and Table 2's buffer-500 rows")}

    def __init__(self, **params):
        super().__init__(**params)
        self.buffer = ReservoirBuffer(self.buffer_size)

    def before_task(self, ctx: TaskContext) -> None:
        self.buffer.to(ctx.device)

    def training_loss(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = ctx.model.head_logits(x)
        loss = ctx.task_loss(out, y)
        if len(self.buffer):
            loss = loss + self.replay_loss(ctx, len(y))
        self.keep_for_memory(x, out)
        return loss

    def keep_for_memory(self, x: torch.Tensor, out: list[torch.Tensor]) -> None:
        """Keep what after_step stores of this batch's forward pass besides (x, y): nothing here."""

    def after_step(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> None:
        """Offer the batch just trained on to the reservoir."""
        self.buffer.add(x, y)

    def replay_loss(self, ctx: TaskContext, n: int) -> torch.Tensor:
        """The replay term of the objective on n remembered examples."""
        return self.label_replay(ctx, n)

    def label_replay(self, ctx: TaskContext, n: int) -> torch.Tensor:
        """L_task(x_m, y_m): the task loss of n remembered examples with their labels."""
        x, y, _, _ = self.buffer.sample(n)
        return ctx.task_loss(ctx.model.head_logits(x), y)

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.buffer.load_state_dict(state["buffer"])
