"""Experience Replay with a reservoir memory (Chaudhry et al. 2019), as Mammoth's `er` replays it
(same reservoir, same replay batch size, insertion after the step's loss), with one difference in
the loss: labkit sums two batch means, L_task(x, y) + L_task(x_m, y_m), where Mammoth takes one
mean over the joined batch, L_task([x; x_m], [y; y_m]) = half that sum for equal sizes, so
labkit's replayed step is twice Mammoth's at the same learning rate."""
from __future__ import annotations

import torch

from labkit.methods.base import Method, Param, TaskContext, register
from labkit.methods.buffer import ReservoirBuffer


@register
class ER(Method):
    """ER: task loss + task loss of as many examples replayed from a reservoir memory.

        L = L_task(x, y) + L_task(x_m, y_m),  (x_m, y_m) drawn from the memory, |x_m| = |x|

    L_task is the context's task loss: in class-IL and data-IL over all heads so far, in task-IL
    each replayed sample within its own task's head. After the step's loss is formed the batch is
    offered to the reservoir (Mammoth's order: a batch is never replayed in its own step). Only a
    training step inserts: the runner's validation pass, under torch.no_grad, leaves the memory
    alone (its loss still includes a replayed batch, so it measures the objective trained).
    Subclasses change what is replayed (`replay_loss`) and what is stored (`remember`).
    """

    name = "er"
    # at most 100,000: more than any dataset here has training images (the memory is allocated whole)
    params = {"buffer_size": Param(500, "examples the reservoir memory holds (DLCFT: 500); 0 keeps none",
                                   ge=0, le=100_000)}

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
        if torch.is_grad_enabled():
            self.remember(x, y, out)
        return loss

    def replay_loss(self, ctx: TaskContext, n: int) -> torch.Tensor:
        """The replay term of the objective on n remembered examples."""
        return self.label_replay(ctx, n)

    def label_replay(self, ctx: TaskContext, n: int) -> torch.Tensor:
        """L_task(x_m, y_m): the task loss of n remembered examples with their labels."""
        x, y, _, _ = self.buffer.sample(n)
        return ctx.task_loss(ctx.model.head_logits(x), y)

    def remember(self, x: torch.Tensor, y: torch.Tensor, out: list[torch.Tensor]) -> None:
        self.buffer.add(x, y)

    def state_dict(self) -> dict:
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.buffer.load_state_dict(state["buffer"])
