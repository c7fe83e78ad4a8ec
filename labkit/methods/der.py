"""Dark Experience Replay (Buzzega et al., NeurIPS 2020): replay the logits, not the labels
(docs/METHODS.md, section 11)."""
from __future__ import annotations

import torch

from labkit.methods.base import Param, TaskContext, register
from labkit.methods.er import ER
from labkit.models.eval_mode import evaluating


@register
class DER(ER):
    """DER: task loss + alpha * MSE between replayed examples' current and stored logits.

        L = L_task(x, y) + alpha * mean || z(x_m) - z_m ||^2   over the stored entries,

    z_m the logits the model gave x_m in the training step that inserted it into the reservoir
    (its forward pass, before that step's optimiser update: Mammoth's outputs.data), z(x_m) the
    current model's. The order of a step is ER's: (a) training_loss draws the replayed batch from
    the memory as it was before the step and keeps the batch's logits, detached
    (`keep_for_memory`), (b) the runner's optimiser step, (c) after_step stores (x, y, z(x)).

    A class-IL example inserted during task u has logits only for the heads 0..u: the squared
    error is taken over those stored columns and averaged over all stored entries of the
    replayed batch. Mammoth's F.mse_loss averages over every column of its one head over all
    classes; with RunConfig.head_layout "all-classes" (that arrangement) every entry stores every
    column and the two means are the same; with labkit's per-task heads the mean runs over the
    columns that existed when the entry was stored (and those appended since).

    Class-IL with per-task heads: when task t's head is added, every stored example gets that
    head's outputs (before it is trained) as its logits for the new columns. Mammoth's single
    head stores every class's logit, the future classes' included, so DER there keeps future
    logits of old examples where they were; without this, nothing would keep a new head's
    logits low on old data and DER would forget like fine-tuning.
    """

    name = "der"
    batch_logits: tuple[torch.Tensor, torch.Tensor] | None = None  # (x, its logits) from training_loss
    params = {**ER.params, "alpha": Param(0.3, "weight alpha of the logit-matching term", ge=0,
                                          source="Mammoth models/config/der.yaml lines 1-4 (seq-cifar100, buffer "
                                                 "500: alpha 0.3)")}

    def replay_loss(self, ctx: TaskContext, n: int) -> torch.Tensor:
        return self.alpha * self.logit_replay(ctx, n)

    def logit_replay(self, ctx: TaskContext, n: int) -> torch.Tensor:
        """Mean squared error between the current and the stored logits of n remembered
        examples, over each example's stored columns only."""
        x, _, stored, width = self.buffer.sample(n)
        current = ctx.model(x)[:, : stored.shape[1]]
        mask = torch.arange(stored.shape[1], device=width.device) < width.unsqueeze(1)
        return ((current - stored) ** 2 * mask).sum() / mask.sum()

    @torch.no_grad()
    def heads_grown(self, ctx: TaskContext) -> None:
        if ctx.scenario.kind != "class-il" or len(self.buffer) == 0 or len(ctx.model.heads.sizes) <= ctx.t:
            return  # no new head this task (data-IL, task-IL, or Mammoth's one head over all classes)
        x = self.buffer.x[: len(self.buffer)]
        with evaluating(ctx.model):
            new_head = torch.cat([ctx.model.head_logits(x[i:i + 1024])[ctx.t] for i in range(0, len(x), 1024)])
        self.buffer.append_logit_columns(new_head)

    def keep_for_memory(self, x: torch.Tensor, out: list[torch.Tensor]) -> None:
        """The batch's logits over all heads so far, detached, until after_step stores them."""
        self.batch_logits = (x, torch.cat([z.detach() for z in out], dim=1))

    def after_step(self, ctx: TaskContext, x: torch.Tensor, y: torch.Tensor) -> None:
        """Offer (x, y) and the logits its training_loss saw to the reservoir."""
        seen, logits = self.batch_logits or (None, None)
        if seen is not x:
            raise RuntimeError("DER.after_step: x is not the batch its training_loss was last given")
        self.buffer.add(x, y, logits)
        self.batch_logits = None
