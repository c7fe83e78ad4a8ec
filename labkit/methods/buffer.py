"""A fixed-size replay memory filled by reservoir sampling (Vitter's algorithm R), as ER, DER,
DER++ and DLCFT use it (Mammoth's buffer; docs/METHODS.md, section 10). They draw from it
(`sample`) in training_loss and offer the batch to it (`add`) in after_step, after the optimiser
step (labkit.methods.base).

Algorithm R over a stream: the n-th example seen (n = 1, 2, ...) goes to slot n - 1 while
n <= capacity; after that it is kept with probability capacity / n, replacing a uniformly chosen
slot: draw j uniform in {0, ..., n - 1} and overwrite slot j when j < capacity. Every example of
the stream is then in the memory with the same probability capacity / n.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class ReservoirBuffer:
    """Up to `capacity` examples (x, y) and, optionally, the logits a model gave them when they
    were inserted, kept on the device of the data added.

    Logits: class-IL heads grow over tasks, so examples of later tasks come with wider logits.
    The memory keeps them zero-padded to the widest seen so far, with each item's own `width`
    (the columns 0 .. width - 1 are the stored ones). Either every call of `add` passes logits
    or none does. All randomness comes from torch's global generator, so a run seeded as the
    runner seeds it fills and samples the memory identically every time.
    """

    def __init__(self, capacity: int):
        if capacity < 0:
            raise ValueError(f"capacity={capacity} is not valid: use 0 (keep nothing) or more")
        self.capacity = capacity
        self.seen = 0  # examples of the stream so far, kept or not
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.logits: torch.Tensor | None = None
        self.width: torch.Tensor | None = None

    def __len__(self) -> int:
        return min(self.seen, self.capacity)

    def slots(self, batch: int, device: torch.device) -> torch.Tensor:
        """Algorithm R's slot for each of the next `batch` examples of the stream; capacity
        (out of range) for one that is not kept."""
        n = self.seen + torch.arange(1, batch + 1, device=device, dtype=torch.float64)
        drawn = (torch.rand(batch, device=device, dtype=torch.float64) * n).floor()
        slot = torch.where(n <= self.capacity, n - 1, drawn).long()
        return slot.clamp(max=self.capacity)

    def add(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None = None) -> None:
        """Offer a batch to the reservoir, its examples in order as one stream."""
        if self.x is None:
            self.allocate(x, y, logits)
        slot = self.slots(len(x), x.device)
        # when two examples of the batch draw the same slot, the later one wins, as in the stream
        winner = torch.full((self.capacity + 1,), -1, dtype=torch.long, device=x.device)
        winner.scatter_reduce_(0, slot, torch.arange(len(x), device=x.device), "amax")
        # every slot rewritten, with its old content where no example won it: no data-dependent
        # shapes, so no host sync on a GPU
        kept, src = winner[: self.capacity] >= 0, winner[: self.capacity].clamp(min=0)
        self.x = torch.where(kept.view(-1, *[1] * (x.dim() - 1)), x[src].detach(), self.x)
        self.y = torch.where(kept, y[src], self.y)
        if logits is not None:
            self.store_logits(kept, logits[src].detach())
        self.seen += len(x)

    def allocate(self, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor | None) -> None:
        self.x = x.new_zeros((self.capacity, *x.shape[1:]))
        self.y = y.new_zeros(self.capacity)
        if logits is not None:
            self.logits = logits.new_zeros((self.capacity, logits.shape[1]))
            self.width = torch.zeros(self.capacity, dtype=torch.long, device=x.device)

    def store_logits(self, kept: torch.Tensor, logits: torch.Tensor) -> None:
        """Write logits (one row per slot) into the slots marked `kept`, first widening the memory
        (zero columns) if they are wider."""
        extra = logits.shape[1] - self.logits.shape[1]
        if extra > 0:
            self.logits = F.pad(self.logits, (0, extra))
        padded = F.pad(logits, (0, self.logits.shape[1] - logits.shape[1]))
        self.logits = torch.where(kept[:, None], padded, self.logits)
        self.width = torch.where(kept, logits.shape[1], self.width)

    def append_logit_columns(self, values: torch.Tensor) -> None:
        """Give every stored item the logit columns `values[i]` right after its own stored ones
        (for a head added since the items were stored; their widths must all be equal)."""
        n = len(self)
        if n == 0:
            return
        start = int(self.width[:n].min())
        if int(self.width[:n].max()) != start:
            raise ValueError("stored items have different widths: extend them head by head")
        end = start + values.shape[1]
        if end > self.logits.shape[1]:
            self.logits = F.pad(self.logits, (0, end - self.logits.shape[1]))
        self.logits[:n, start:end] = values.detach()
        self.width[:n] = end

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """min(n, len) distinct stored items drawn uniformly: (x, y, logits, width); logits
        (zero-padded) and width are None when the memory keeps no logits."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = torch.randperm(len(self), device=self.y.device)[:n]
        if self.logits is None:
            return self.x[idx], self.y[idx], None, None
        return self.x[idx], self.y[idx], self.logits[idx], self.width[idx]

    def to(self, device: torch.device | str) -> "ReservoirBuffer":
        """Move the stored tensors to `device` (a checkpoint is loaded onto the CPU)."""
        for name in ("x", "y", "logits", "width"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(device))
        return self

    def state_dict(self) -> dict:
        return {"seen": self.seen, "x": self.x, "y": self.y, "logits": self.logits, "width": self.width}

    def load_state_dict(self, state: dict) -> None:
        self.seen = state["seen"]
        self.x, self.y, self.logits, self.width = state["x"], state["y"], state["logits"], state["width"]
